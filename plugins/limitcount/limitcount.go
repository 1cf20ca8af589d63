// Package limitcount implements the limit-count plugin: at most count
// requests (or cost units) per window for each key (client IP, consumer,
// header ...), in a fixed or a sliding window, counted in this process or
// in Redis for every gateway at once. Keys follow APISIX's limit-count.
//
// In Redis, every decision is one atomic script call, so gateways sharing
// a counter never let more than count through between them (APISIX's
// issues #4080 and #7272 were counters that overshot across nodes).
package limitcount

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit"
)

const name = "limit-count"

// Kind is the limit-count plugin.
var Kind = plugin.Define(name, plugin.Limit, defaults, New)

// Config is the limit-count plugin's configuration.
type Config struct {
	// Count is how many requests (cost units) a key may spend per window.
	// Required.
	Count int64 `json:"count"`
	// Window is the length of a window: "60s", "1h", or a number of
	// seconds. Default 60s.
	Window limit.Duration `json:"window"`
	// WindowType is fixed (default) or sliding.
	WindowType string `json:"window_type"`
	// Cost is what one request spends. Default 1.
	Cost int64 `json:"cost"`
	// Group shares one counter between every route whose limit-count has
	// the same group (APISIX's group); by default each route counts alone.
	Group string `json:"group"`
	// ShowLimitHeaders sends RateLimit-Policy and RateLimit on every
	// response. Default true.
	ShowLimitHeaders bool `json:"show_limit_headers"`

	// Key selects the counter a request is charged to: one part or a list
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

	// Methods limits only these MCP methods (tools/call ...), on mcp
	// routes. Default: every request.
	Methods []string `json:"methods"`
	// Tools limits only calls of these MCP tools (glob patterns, * for any
	// run of characters), on mcp routes. Default: every tool.
	Tools []string `json:"tools"`
}

func (c *Config) common() limit.Common {
	return limit.Common{Key: c.Key, Policy: c.Policy, OnRedisError: c.OnRedisError, RejectedCode: c.RejectedCode, RejectedMsg: c.RejectedMsg}
}

func defaults() *Config {
	d := limit.DefaultCommon()
	return &Config{
		Window:           limit.Dur(time.Minute),
		WindowType:       "fixed",
		Cost:             1,
		ShowLimitHeaders: true,
		Key:              d.Key,
		Policy:           d.Policy,
		OnRedisError:     d.OnRedisError,
		RejectedCode:     d.RejectedCode,
		RejectedMsg:      d.RejectedMsg,
	}
}

// maxCount keeps counts exact in Redis's Lua numbers (doubles).
const maxCount = 1_000_000_000_000

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if c.Count < 1 || c.Count > maxCount {
		errs = append(errs, fmt.Errorf("count: must be from 1 to %d, got %d", int64(maxCount), c.Count))
	}
	if err := c.Window.Check("window", time.Second, 366*24*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.WindowType != "fixed" && c.WindowType != "sliding" {
		errs = append(errs, fmt.Errorf("window_type: %q is not fixed or sliding", c.WindowType))
	}
	if c.Cost < 1 || c.Count >= 1 && c.Cost > c.Count {
		errs = append(errs, fmt.Errorf("cost: must be from 1 to count (%d), got %d", c.Count, c.Cost))
	}
	if len(c.Group) > 256 {
		errs = append(errs, fmt.Errorf("group: must be at most 256 bytes, got %d", len(c.Group)))
	}
	cm := c.common()
	errs = append(errs, cm.Validate()...)
	if err := (limit.MCPFilter{Methods: c.Methods, Tools: c.Tools}).Validate(true); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	return build(env, c, limit.Options{})
}

func build(env plugin.Env, c *Config, o limit.Options) (plugin.Middleware, error) {
	spec, err := limit.ParseKey(c.Key)
	if err != nil {
		return nil, err
	}
	only := limit.MCPFilter{Methods: c.Methods, Tools: c.Tools}
	if err := only.Validate(env.MCPRoute); err != nil {
		return nil, err
	}
	cm := c.common()
	b, err := limit.NewBackend(env, name, &cm, o)
	if err != nil {
		return nil, err
	}
	win := limit.Window{Limit: c.Count, Size: c.Window.D, Sliding: c.WindowType == "sliding"}
	// The window is part of the scope: a per-minute and a per-day limit on
	// one route must not share a counter.
	prefix := limit.Scope(env.Route, c.Group, c.Window.D.String()) + ":"
	policy := limit.Policy(name, c.Count, c.Window.D, "")
	policyField := []string{policy}
	item := limit.NewItem(name)
	cost, show := c.Cost, c.ShowLimitHeaders
	status, msg := c.RejectedCode, c.RejectedMsg
	allowed, rejected, fallback := env.Decision("allowed"), env.Decision("rejected"), env.Decision("fallback")
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if !only.Applies(r) {
				return next.ServeHTTP(w, r)
			}
			res, err := b.Window(r.Context(), spec.Build(prefix, r), win, cost)
			if err != nil {
				return err // the client left while Redis was asked
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
				h := limit.Rejected(policy, name, res.RetryAfter)
				if !show {
					h.Del(limit.HeaderPolicy)
					h.Del(limit.HeaderRateLimit)
				}
				return limit.Reject(status, msg, h)
			}
			allowed.Inc()
			// Set before next, so they go out with the upstream's response
			// (the proxy keeps headers a plugin set). A fallback decision has
			// no shared numbers to show.
			if show && !res.Fallback {
				limit.AddFields(w.Header(), policyField, item.Format(res.Remaining, res.Reset))
			}
			return next.ServeHTTP(w, r)
		})
	}, nil
}
