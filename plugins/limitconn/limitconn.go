// Package limitconn implements the limit-conn plugin: at most conn requests
// in flight per key, plus up to burst more that are delayed first, as in
// APISIX's limit-conn. A slot is held until the rest of the chain returns,
// that is after the response body (a whole LLM stream) has been sent.
//
// In Redis a slot is a lease in a sorted set scored by its expiry: the
// gateway renews its leases while their requests run and removes them when
// they end, so the slots of a gateway that dies free themselves within
// lease_ttl instead of leaking forever, as a plain counter would.
package limitconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit"
)

const name = "limit-conn"

// Kind is the limit-conn plugin.
var Kind = plugin.Define(name, plugin.Limit, defaults, New)

// Config is the limit-conn plugin's configuration.
type Config struct {
	// Conn is how many requests of one key may be in flight. Required.
	Conn int64 `json:"conn"`
	// Burst is how many more are accepted after a delay; beyond conn+burst
	// requests are rejected. Default 0.
	Burst int64 `json:"burst"`
	// DefaultConnDelay is the delay of a request over conn, per conn
	// requests over (APISIX's default_conn_delay): "100ms", or seconds.
	// Default 100ms.
	DefaultConnDelay limit.Duration `json:"default_conn_delay"`
	// LeaseTTL is how long a slot in Redis outlives a gateway that died
	// holding it; live slots are renewed every third of it. Default 30s.
	LeaseTTL limit.Duration `json:"lease_ttl"`

	// Key selects whose requests are counted together: one part or a list
	// of parts (ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME, cookie:NAME).
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
		DefaultConnDelay: limit.Dur(100 * time.Millisecond),
		LeaseTTL:         limit.Dur(30 * time.Second),
		Key:              d.Key,
		Policy:           d.Policy,
		OnRedisError:     d.OnRedisError,
		RejectedCode:     d.RejectedCode,
		RejectedMsg:      d.RejectedMsg,
	}
}

const maxConn = 1_000_000_000

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if c.Conn < 1 || c.Conn > maxConn {
		errs = append(errs, fmt.Errorf("conn: must be from 1 to %d, got %d", maxConn, c.Conn))
	}
	if c.Burst < 0 || c.Burst > maxConn {
		errs = append(errs, fmt.Errorf("burst: must be from 0 to %d, got %d", maxConn, c.Burst))
	}
	if err := c.DefaultConnDelay.Check("default_conn_delay", 0, time.Minute); err != nil {
		errs = append(errs, err)
	}
	if err := c.LeaseTTL.Check("lease_ttl", 3*time.Second, 24*time.Hour); err != nil {
		errs = append(errs, err)
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
	if o.LeaseTTL == 0 {
		o.LeaseTTL = c.LeaseTTL.D
	}
	cm := c.common()
	b, err := limit.NewBackend(env, name, &cm, o)
	if err != nil {
		return nil, err
	}
	conn := limit.Conn{Max: c.Conn, Burst: c.Burst, Delay: c.DefaultConnDelay.D}
	prefix := limit.Scope(env.Route, "", "") + ":"
	policy := limit.Policy(name, c.Conn, 0, "concurrent-requests")
	status, msg := c.RejectedCode, c.RejectedMsg
	allowed, rejected, delayed, fallback := env.Decision("allowed"), env.Decision("rejected"), env.Decision("delayed"), env.Decision("fallback")
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			res, lease, err := b.Acquire(r.Context(), spec.Build(prefix, r), conn)
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
				return limit.Reject(status, msg, rejectedHeader(policy))
			}
			// Released when the chain returns: after the proxy copied the
			// whole response body, or when the client left, or on a panic.
			defer lease.Release(r.Context())
			if res.Delay > 0 {
				delayed.Inc()
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

// rejectedHeader: when a slot frees is unknown, so Retry-After is 1s and the
// RateLimit item has no t.
func rejectedHeader(policy string) http.Header {
	h := make(http.Header, 3)
	h.Set(limit.HeaderRetryAfter, "1")
	h.Set(limit.HeaderPolicy, policy)
	h.Set(limit.HeaderRateLimit, limit.RateLimit(name, 0, -1))
	return h
}
