// Package limitreq implements the limit-req plugin: a request rate per key
// with a burst, as nginx's limit_req and APISIX's limit-req do (a leaky
// bucket). Requests over the rate but within the burst are delayed until
// they conform, or let through at once with nodelay; requests over the
// burst are rejected.
//
// The bucket is GCRA (the generic cell rate algorithm): one timestamp per
// key, the "theoretical arrival time", which is all a leaky bucket needs and
// makes each decision one small atomic script in Redis.
package limitreq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit"
)

const name = "limit-req"

// Kind is the limit-req plugin.
var Kind = plugin.Define(name, plugin.Limit, defaults, New)

// Config is the limit-req plugin's configuration.
type Config struct {
	// Rate is the sustained rate in requests per second (0.5 is one every
	// two seconds). Required.
	Rate float64 `json:"rate"`
	// Burst is how many requests over the rate are accepted (delayed, or
	// not with NoDelay) before requests are rejected. Default 0.
	Burst float64 `json:"burst"`
	// NoDelay lets requests within the burst through at once instead of
	// delaying them to the rate. Default false.
	NoDelay bool `json:"nodelay"`

	// Key selects the bucket a request goes to: one part or a list of
	// parts (ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME, cookie:NAME).
	// Default ip.
	Key limit.Key `json:"key"`
	// Policy is local (default: this process) or redis (every gateway).
	Policy string `json:"policy"`
	// OnRedisError is what happens when Redis fails: allow (default), deny
	// (503) or local (an in-process limiter with the same params).
	OnRedisError string `json:"on_redis_error"`
	// RejectedCode is the status of a rejected request. Default 429.
	RejectedCode int `json:"rejected_code"`
	// RejectedMsg is the message a rejected client sees. Default "too many
	// requests".
	RejectedMsg string `json:"rejected_msg"`
}

func (c *Config) common() limit.Common {
	return limit.Common{Key: c.Key, Policy: c.Policy, OnRedisError: c.OnRedisError, RejectedCode: c.RejectedCode, RejectedMsg: c.RejectedMsg}
}

func defaults() *Config {
	d := limit.DefaultCommon()
	return &Config{
		Key:          d.Key,
		Policy:       d.Policy,
		OnRedisError: d.OnRedisError,
		RejectedCode: d.RejectedCode,
		RejectedMsg:  d.RejectedMsg,
	}
}

// maxRate is a request per microsecond, the resolution of the bucket.
const maxRate = 1_000_000

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if !(c.Rate > 0 && c.Rate <= maxRate) {
		errs = append(errs, fmt.Errorf("rate: must be more than 0 and at most %d requests per second, got %v", maxRate, c.Rate))
	}
	if !(c.Burst >= 0 && c.Burst <= maxRate) {
		errs = append(errs, fmt.Errorf("burst: must be from 0 to %d, got %v", maxRate, c.Burst))
	}
	cm := c.common()
	errs = append(errs, cm.Validate()...)
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	return build(env, c, limit.Options{}, limit.Sleep)
}

func build(env plugin.Env, c *Config, o limit.Options, sleep func(context.Context, time.Duration) error) (plugin.Middleware, error) {
	spec, err := limit.ParseKey(c.Key)
	if err != nil {
		return nil, err
	}
	cm := c.common()
	b, err := limit.NewBackend(env, name, &cm, o)
	if err != nil {
		return nil, err
	}
	g := limit.NewGCRA(c.Rate, c.Burst)
	prefix := limit.Scope(env.Route, "", "") + ":"
	policy := policyOf(c.Rate)
	nodelay := c.NoDelay
	status, msg := c.RejectedCode, c.RejectedMsg
	allowed, rejected, delayed, fallback := env.Decision("allowed"), env.Decision("rejected"), env.Decision("delayed"), env.Decision("fallback")
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			res, err := b.GCRA(r.Context(), spec.Build(prefix, r), g)
			if err != nil {
				return err
			}
			if res.Fallback {
				fallback.Inc()
			}
			if res.Unavailable {
				rejected.Inc()
				return limit.Unavailable(res.Err)
			}
			if !res.Allowed {
				rejected.Inc()
				return limit.Reject(status, msg, limit.Rejected(policy, name, res.RetryAfter))
			}
			if res.Delay > 0 && !nodelay {
				delayed.Inc()
				// The request already holds its place in the bucket; one
				// that leaves while waiting does not give it back (nginx
				// does not either).
				if err := sleep(r.Context(), res.Delay); err != nil {
					return err
				}
			} else {
				allowed.Inc()
			}
			return next.ServeHTTP(w, r)
		})
	}, nil
}

// policyOf is the RateLimit-Policy item of rate: the quota of the shortest
// whole-second window that holds at least one request (w=1 from 1 per
// second up; 1 per 4 seconds for 0.25).
func policyOf(rate float64) string {
	w := max(1, math.Ceil(1/rate))
	return limit.Policy(name, int64(math.Floor(rate*w)), time.Duration(w)*time.Second, "")
}
