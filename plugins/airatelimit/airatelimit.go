// Package airatelimit implements the ai-rate-limiting plugin: at most a
// number of LLM tokens per window for each key (consumer by default, and
// optionally per model), in this process or in Redis for every gateway, as
// APISIX's ai-rate-limiting and Kong's ai-rate-limiting-advanced do.
//
// A request's tokens are known only when its response ends, so admission
// charges an estimate (its prompt, counted offline with OpenAI's encodings)
// and the window is corrected by the difference to the provider's usage
// report afterwards. Windows, keys, Redis and on_redis_error are
// limit-count's (plugins/internal/limit).
package airatelimit

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit"

	"github.com/sluicegw/sluice/plugins/internal/tokens"
)

const name = "ai-rate-limiting"

// Kind is the ai-rate-limiting plugin.
var Kind = plugin.Define(name, plugin.Limit, defaults, New)

// What a window counts (Config.Count).
const (
	CountTotal  = "total"
	CountInput  = "input"
	CountOutput = "output"
)

// Config is the ai-rate-limiting plugin's configuration.
type Config struct {
	// Tokens is how many tokens a key may use per window. Required unless
	// Models is set; then 0 leaves the models Models does not list
	// unlimited.
	Tokens int64 `json:"tokens"`
	// Models gives models (the names clients send) their own limit and
	// their own counter.
	Models map[string]int64 `json:"models"`
	// PerModel gives every model its own counter, so that the client's
	// model name joins the key. Default false: the models Models does not
	// list share one counter.
	PerModel bool `json:"per_model"`
	// Count is which tokens count: total (default), input or output.
	Count string `json:"count"`
	// Estimate charges a request its estimated prompt tokens when it is
	// admitted (default true); false charges 1 token, so admission only
	// checks that the window has a token left. The window is corrected to
	// the real usage either way.
	Estimate bool `json:"estimate"`
	// Window is the length of a window: "60s", "1h", or a number of
	// seconds. Default 60s.
	Window limit.Duration `json:"window"`
	// WindowType is fixed (default) or sliding.
	WindowType string `json:"window_type"`
	// ShowLimitHeaders sends RateLimit-Policy and RateLimit on allowed
	// responses. Default true.
	ShowLimitHeaders bool `json:"show_limit_headers"`

	// Key selects the counter a request is charged to, as limit-count's
	// key. Default consumer.
	Key limit.Key `json:"key"`
	// Policy is local (default) or redis.
	Policy string `json:"policy"`
	// OnRedisError is allow (default), deny or local.
	OnRedisError string `json:"on_redis_error"`
	// RejectedCode is the status of a rejected request. Default 429.
	RejectedCode int `json:"rejected_code"`
	// RejectedMsg is the message a rejected client sees. Default "token
	// rate limit exceeded".
	RejectedMsg string `json:"rejected_msg"`
}

func (c *Config) common() limit.Common {
	return limit.Common{Key: c.Key, Policy: c.Policy, OnRedisError: c.OnRedisError, RejectedCode: c.RejectedCode, RejectedMsg: c.RejectedMsg}
}

func defaults() *Config {
	d := limit.DefaultCommon()
	return &Config{
		Count:            CountTotal,
		Estimate:         true,
		Window:           limit.Dur(time.Minute),
		WindowType:       "fixed",
		ShowLimitHeaders: true,
		Key:              limit.Key{Parts: []string{"consumer"}},
		Policy:           d.Policy,
		OnRedisError:     d.OnRedisError,
		RejectedCode:     d.RejectedCode,
		RejectedMsg:      "token rate limit exceeded",
	}
}

// maxTokens keeps counts exact in Redis's Lua numbers (doubles).
const maxTokens = 1_000_000_000_000

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.Tokens == 0 && len(c.Models) == 0:
		errs = append(errs, fmt.Errorf("tokens: must be from 1 to %d, got 0 (or give models their limits)", int64(maxTokens)))
	case c.Tokens < 0 || c.Tokens > maxTokens:
		errs = append(errs, fmt.Errorf("tokens: must be from 1 to %d, got %d", int64(maxTokens), c.Tokens))
	}
	for _, m := range slices.Sorted(maps.Keys(c.Models)) {
		switch n := c.Models[m]; {
		case m == "":
			errs = append(errs, errors.New("models: empty model name"))
		case len(m) > 256:
			errs = append(errs, fmt.Errorf("models: model name %.20q... is longer than 256 bytes", m))
		case n < 1 || n > maxTokens:
			errs = append(errs, fmt.Errorf("models.%s: must be from 1 to %d, got %d", m, int64(maxTokens), n))
		}
	}
	switch c.Count {
	case CountTotal, CountInput, CountOutput:
	default:
		errs = append(errs, fmt.Errorf("count: %q is not total, input or output", c.Count))
	}
	if err := c.Window.Check("window", time.Second, 366*24*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.WindowType != "fixed" && c.WindowType != "sliding" {
		errs = append(errs, fmt.Errorf("window_type: %q is not fixed or sliding", c.WindowType))
	}
	cm := c.common()
	errs = append(errs, cm.Validate()...)
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	return build(env, c, limit.Options{})
}

// quota is the limit of one model (or of the models Models does not list).
type quota struct {
	win         limit.Window
	perModel    bool     // the model joins the key
	policy      string   // RateLimit-Policy item
	policyField []string // policy as a one-item header value
}

type limiter struct {
	b        *limit.Backend
	spec     limit.KeySpec
	prefix   string
	def      *quota // nil: unlisted models are not limited
	models   map[string]*quota
	count    string
	estimate bool
	show     bool
	item     limit.Item
	status   int
	msg      string
	now      func() time.Time

	allowed, rejected, fallback plugin.Counter
}

func build(env plugin.Env, c *Config, o limit.Options) (plugin.Middleware, error) {
	if env.Route != "" && !env.AIRoute {
		return nil, errors.New(name + " works only on routes with an ai block")
	}
	spec, err := limit.ParseKey(c.Key)
	if err != nil {
		return nil, err
	}
	cm := c.common()
	b, err := limit.NewBackend(env, name, &cm, o)
	if err != nil {
		return nil, err
	}
	newQuota := func(n int64, perModel bool) *quota {
		p := limit.Policy(name, n, c.Window.D, "tokens")
		return &quota{
			win:      limit.Window{Limit: n, Size: c.Window.D, Sliding: c.WindowType == "sliding"},
			perModel: perModel, policy: p, policyField: []string{p},
		}
	}
	l := &limiter{
		b:    b,
		spec: spec,
		// The window and what is counted are part of the scope: a
		// per-minute and a per-day limit, or an input and an output limit,
		// on one route must not share a counter.
		prefix:   limit.Scope(env.Route, "", c.Window.D.String()+"/"+c.Count) + ":",
		models:   make(map[string]*quota, len(c.Models)),
		count:    c.Count,
		estimate: c.Estimate,
		show:     c.ShowLimitHeaders,
		item:     limit.NewItem(name),
		status:   c.RejectedCode,
		msg:      c.RejectedMsg,
		now:      o.Now,
		allowed:  env.Decision("allowed"),
		rejected: env.Decision("rejected"),
		fallback: env.Decision("fallback"),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if c.Tokens > 0 {
		l.def = newQuota(c.Tokens, c.PerModel)
	}
	for m, n := range c.Models {
		l.models[m] = newQuota(n, true)
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{limiter: l, next: next}
	}, nil
}

type handler struct {
	*limiter
	next plugin.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	a := plugin.ExchangeOf(r).AI
	if a == nil { // a global plugin on a request that is not an ai route's
		return h.next.ServeHTTP(w, r)
	}
	q, err := a.Request()
	if err != nil || q == nil {
		// A body the route cannot take uses no tokens: the route's
		// handler answers it in the client's API shape. GET /models
		// has no body.
		return h.next.ServeHTTP(w, r)
	}
	model := q.Model()
	qt := h.models[model]
	if qt == nil {
		qt = h.def
	}
	if qt == nil { // only listed models are limited
		return h.next.ServeHTTP(w, r)
	}
	key := h.spec.Build(h.prefix, r)
	if qt.perModel {
		key = limit.AppendPart(key, "model", model)
	}
	// Every request is charged at least 1 token, so that a full window
	// refuses even requests estimated at nothing, and at most the whole
	// limit, so that a prompt larger than the limit still passes an empty
	// window instead of never passing at all.
	cost := min(max(h.estimateOf(a, q), 1), qt.win.Limit)
	admitted := h.now()
	res, err := h.b.Window(r.Context(), key, qt.win, cost)
	if err != nil {
		return err // the client left while Redis was asked
	}
	if res.Fallback {
		h.fallback.Inc()
	}
	if res.Unavailable {
		h.rejected.Inc()
		return limit.Unavailable(res.Err)
	}
	if !res.Allowed {
		h.rejected.Inc()
		hdr := limit.Rejected(qt.policy, name, res.RetryAfter)
		if !h.show {
			hdr.Del(limit.HeaderPolicy)
			hdr.Del(limit.HeaderRateLimit)
		}
		return limit.Reject(h.status, h.msg, hdr)
	}
	h.allowed.Inc()
	if h.show && !res.Fallback {
		limit.AddFields(w.Header(), qt.policyField, h.item.Format(res.Remaining, res.Reset))
	}
	err = h.next.ServeHTTP(w, r)
	h.b.Adjust(r.Context(), key, qt.win, h.used(a, cost)-cost, h.now().Sub(admitted), res)
	return err
}

// estimateOf returns the tokens a request is charged when it is admitted:
// its prompt, counted offline, unless only output counts (a prompt says
// nothing about the answer's length) or estimates are off.
func (h *handler) estimateOf(a *plugin.AI, q plugin.AIRequest) int64 {
	if !h.estimate || h.count == CountOutput {
		return 0
	}
	msgs := q.Messages()
	if a.Operation == plugin.AIEmbeddings {
		// Inputs are embedded as they are, without a chat's framing.
		n := 0
		for _, m := range msgs {
			n += tokenizer.Count(q.Model(), m.Text)
		}
		return int64(n)
	}
	tm := make([]tokens.Message, len(msgs))
	for i, m := range msgs {
		tm[i] = tokens.Message{Role: m.Role, Text: m.Text}
	}
	return int64(tokenizer.Messages(q.Model(), tm))
}

// tokenizer is shared by every instance of the plugin: its vocabularies
// load once, on first use.
var tokenizer = tokens.New()

// used returns the tokens a finished request used by the plugin's count,
// given that it was charged cost at admission.
func (h *handler) used(a *plugin.AI, cost int64) int64 {
	switch {
	case a.Cache == "hit":
		return 0 // answered from the response cache: no provider tokens
	case !a.UsageKnown:
		// No usage report. If the answer had started to reach the client
		// (a stream cut short), the provider did work: the charge stands.
		// A request that failed before that is refunded.
		if a.TimeToFirstToken > 0 {
			return cost
		}
		return 0
	}
	switch h.count {
	case CountInput:
		return a.Usage.Input
	case CountOutput:
		return a.Usage.Output
	}
	return a.Usage.Total()
}

var _ plugin.Handler = (*handler)(nil)
