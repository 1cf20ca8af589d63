// Package aimaxtokens implements the ai-max-tokens plugin: on an ai route
// it caps the output token limit a request may ask for, per consumer, per
// consumer group or for everyone, and sets the cap on requests that ask
// for none. APISIX has no such plugin.
package aimaxtokens

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/sluicegw/sluice/plugin"
)

// Kind is the ai-max-tokens plugin.
var Kind = plugin.Define(name, plugin.Transform, defaults, New)

const name = "ai-max-tokens"

// Config is the ai-max-tokens plugin's configuration. At least one of
// Default, Groups and Consumers must be set.
//
// A caller's cap is its consumer's entry in Consumers if it has one, else
// the smallest entry in Groups among the groups it is in, else Default.
type Config struct {
	// Default caps callers that no entry below names, anonymous and
	// unauthenticated callers included. 0 (the default) leaves them
	// uncapped.
	Default int64 `json:"default"`
	// Groups caps the members of consumer groups. A caller in several
	// listed groups gets the smallest of their caps, so a group meant to
	// restrict always does; give a consumer its own entry to lift it.
	Groups map[string]int64 `json:"groups"`
	// Consumers caps consumers by name; a consumer's own entry wins over
	// its groups'.
	Consumers map[string]int64 `json:"consumers"`
	// SetWhenMissing sets the cap on requests that set no output limit
	// (OpenAI requests may omit it). Default true: otherwise a client
	// escapes the cap by not asking.
	SetWhenMissing bool `json:"set_when_missing"`
}

func defaults() *Config { return &Config{SetWhenMissing: true} }

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if c.Default == 0 && len(c.Groups) == 0 && len(c.Consumers) == 0 {
		errs = append(errs, errors.New("default, groups, consumers: set at least one limit"))
	}
	if c.Default < 0 {
		errs = append(errs, fmt.Errorf("default: %d is negative (0 leaves callers without an entry uncapped)", c.Default))
	}
	check := func(key, what string, caps map[string]int64) {
		for _, n := range slices.Sorted(maps.Keys(caps)) {
			switch {
			case n == "":
				errs = append(errs, fmt.Errorf("%s: empty %s name", key, what))
			case caps[n] <= 0:
				errs = append(errs, fmt.Errorf("%s.%s: %d is not a positive token count", key, n, caps[n]))
			}
		}
	}
	check("groups", "group", c.Groups)
	check("consumers", "consumer", c.Consumers)
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c, checking that
// every consumer it names exists. Group names are not checked: groups may
// come from a token's claims (openid-connect's groups_claim) as well as
// from configured consumers.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	if env.Route != "" && !env.AIRoute {
		return nil, errors.New(name + " works only on routes with an ai block")
	}
	var errs []error
	for _, n := range slices.Sorted(maps.Keys(c.Consumers)) {
		if env.Consumer(n) == nil {
			errs = append(errs, fmt.Errorf("consumers.%s: no such consumer", n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := &limits{
		def:       c.Default,
		groups:    maps.Clone(c.Groups),
		consumers: maps.Clone(c.Consumers),
		setMiss:   c.SetWhenMissing,
		clamped:   env.Decision("clamped"),
		unchanged: env.Decision("unchanged"),
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{limits: l, next: next}
	}, nil
}

type limits struct {
	def       int64
	groups    map[string]int64
	consumers map[string]int64
	setMiss   bool

	clamped, unchanged plugin.Counter
}

// capFor returns the cap of caller c (nil when unidentified), 0 for none.
func (l *limits) capFor(c *plugin.Consumer) int64 {
	if c == nil {
		return l.def
	}
	if n, ok := l.consumers[c.Name]; ok {
		return n
	}
	var least int64
	for _, g := range c.Groups {
		if n, ok := l.groups[g]; ok && (least == 0 || n < least) {
			least = n
		}
	}
	if least > 0 {
		return least
	}
	return l.def
}

type handler struct {
	*limits
	next plugin.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := plugin.ExchangeOf(r)
	a := x.AI
	// No AI state: a global plugin on a request no route matched.
	// Embeddings and GET /models produce no output tokens to cap.
	if a == nil || a.Operation == "embeddings" || a.Operation == "models" {
		return h.next.ServeHTTP(w, r)
	}
	q, err := a.Request()
	if err != nil {
		return err
	}
	if q == nil {
		return h.next.ServeHTTP(w, r)
	}
	limit := h.capFor(x.Caller)
	asked := q.MaxTokens()
	if limit > 0 && (asked > limit || asked == 0 && h.setMiss) {
		q.SetMaxTokens(limit)
		h.clamped.Inc()
	} else {
		h.unchanged.Inc()
	}
	return h.next.ServeHTTP(w, r)
}

var _ plugin.Handler = (*handler)(nil)
