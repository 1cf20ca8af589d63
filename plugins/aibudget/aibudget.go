// Package aibudget implements the ai-budget plugin: a spending limit in US
// dollars per key (consumer by default) per calendar day or month, on ai
// routes. A request is refused once the key's spend in the current period
// has reached its limit; the cost of each request the provider answered
// (Exchange.AI.CostUSD, priced by the route) is added when it ends.
//
// Spend is kept in whole micro-dollars, in this process or in Redis for
// every gateway (plugins/internal/limit).
package aibudget

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit"
)

const name = "ai-budget"

// Kind is the ai-budget plugin.
var Kind = plugin.Define(name, plugin.Limit, defaults, New)

// Periods (Config.Period).
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// CodeBudgetExceeded is the error code of a request refused by ai-budget.
const CodeBudgetExceeded = "budget_exceeded"

// Config is the ai-budget plugin's configuration. At least one of USD,
// Groups and Consumers must be set.
//
// A caller's limit is its consumer's entry in Consumers if it has one,
// else the smallest entry in Groups among the groups it is in, else USD.
type Config struct {
	// Period is the calendar period a budget covers: day or month
	// (default). Periods start at midnight in Timezone.
	Period string `json:"period"`
	// USD is the limit of every caller no entry below names, anonymous
	// and unidentified callers included. Unset leaves them unlimited.
	USD *float64 `json:"usd"`
	// Groups limits the members of consumer groups. A caller in several
	// listed groups gets the smallest of their limits; give a consumer its
	// own entry to lift it.
	Groups map[string]float64 `json:"groups"`
	// Consumers limits consumers by name; a consumer's own entry wins over
	// its groups'.
	Consumers map[string]float64 `json:"consumers"`
	// Timezone is the IANA time zone whose calendar the periods follow
	// ("Europe/Berlin"). Default UTC.
	Timezone string `json:"timezone"`

	// Key selects whose spend a request is added to, as limit-count's key.
	// Default consumer.
	Key limit.Key `json:"key"`
	// Policy is local (default) or redis.
	Policy string `json:"policy"`
	// OnRedisError is allow (default), deny or local.
	OnRedisError string `json:"on_redis_error"`
	// RejectedCode is the status of a refused request. Default 429.
	RejectedCode int `json:"rejected_code"`
	// RejectedMsg is the message a refused client sees. Default "the
	// spending limit for this period is reached".
	RejectedMsg string `json:"rejected_msg"`
}

func (c *Config) common() limit.Common {
	return limit.Common{Key: c.Key, Policy: c.Policy, OnRedisError: c.OnRedisError, RejectedCode: c.RejectedCode, RejectedMsg: c.RejectedMsg}
}

func defaults() *Config {
	d := limit.DefaultCommon()
	return &Config{
		Period:       PeriodMonth,
		Timezone:     "UTC",
		Key:          limit.Key{Parts: []string{"consumer"}},
		Policy:       d.Policy,
		OnRedisError: d.OnRedisError,
		RejectedCode: d.RejectedCode,
		RejectedMsg:  "the spending limit for this period is reached",
	}
}

// maxUSD keeps micro-dollar sums exact in Redis's Lua numbers (doubles).
const maxUSD = 1_000_000_000

// Validate returns every problem in c. The time zone is looked up by New,
// since that reads the system's zone database.
func (c *Config) Validate() error {
	var errs []error
	if c.Period != PeriodDay && c.Period != PeriodMonth {
		errs = append(errs, fmt.Errorf("period: %q is not day or month", c.Period))
	}
	if c.USD == nil && len(c.Groups) == 0 && len(c.Consumers) == 0 {
		errs = append(errs, errors.New("usd, groups, consumers: set at least one limit"))
	}
	checkUSD := func(key string, v float64) {
		if math.IsNaN(v) || v < 0 || v > maxUSD {
			errs = append(errs, fmt.Errorf("%s: must be from 0 to %d, got %v", key, maxUSD, v))
		}
	}
	if c.USD != nil {
		checkUSD("usd", *c.USD)
	}
	check := func(key, what string, m map[string]float64) {
		for _, n := range slices.Sorted(maps.Keys(m)) {
			if n == "" {
				errs = append(errs, fmt.Errorf("%s: empty %s name", key, what))
				continue
			}
			checkUSD(key+"."+n, m[n])
		}
	}
	check("groups", "group", c.Groups)
	check("consumers", "consumer", c.Consumers)
	if c.Timezone == "" {
		errs = append(errs, errors.New(`timezone: must name an IANA time zone such as "UTC" or "Europe/Berlin"`))
	}
	cm := c.common()
	errs = append(errs, cm.Validate()...)
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c, checking that
// every consumer it names exists and that its time zone is known. Group
// names are not checked: groups may come from a token's claims
// (openid-connect) as well as from configured consumers.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	return build(env, c, limit.Options{})
}

// micros converts dollars to whole micro-dollars.
func micros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

type budget struct {
	b         *limit.Backend
	spec      limit.KeySpec
	route     string
	month     bool
	loc       *time.Location
	def       int64 // -1: unlimited
	groups    map[string]int64
	consumers map[string]int64
	status    int
	msg       string
	now       func() time.Time

	allowed, rejected, unpriced, fallback plugin.Counter
}

func build(env plugin.Env, c *Config, o limit.Options) (plugin.Middleware, error) {
	if env.Route != "" && !env.AIRoute {
		return nil, errors.New(name + " works only on routes with an ai block")
	}
	var errs []error
	for _, n := range slices.Sorted(maps.Keys(c.Consumers)) {
		if env.Consumer(n) == nil {
			errs = append(errs, fmt.Errorf("consumers.%s: no such consumer", n))
		}
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		errs = append(errs, fmt.Errorf("timezone: %q is not a known IANA time zone", c.Timezone))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
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
	bu := &budget{
		b: b, spec: spec, route: env.Route, month: c.Period == PeriodMonth, loc: loc,
		def: -1, groups: map[string]int64{}, consumers: map[string]int64{},
		status: c.RejectedCode, msg: c.RejectedMsg, now: o.Now,
		allowed:  env.Decision("allowed"),
		rejected: env.Decision("rejected"),
		unpriced: env.Decision("unpriced"),
		fallback: env.Decision("fallback"),
	}
	if bu.now == nil {
		bu.now = time.Now
	}
	if c.USD != nil {
		bu.def = micros(*c.USD)
	}
	for n, v := range c.Groups {
		bu.groups[n] = micros(v)
	}
	for n, v := range c.Consumers {
		bu.consumers[n] = micros(v)
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{budget: bu, next: next}
	}, nil
}

// limitFor returns the limit of caller c (nil when unidentified) in
// micro-dollars, -1 for none.
func (bu *budget) limitFor(c *plugin.Consumer) int64 {
	if c == nil {
		return bu.def
	}
	if n, ok := bu.consumers[c.Name]; ok {
		return n
	}
	least := int64(-1)
	for _, g := range c.Groups {
		if n, ok := bu.groups[g]; ok && (least < 0 || n < least) {
			least = n
		}
	}
	if least >= 0 {
		return least
	}
	return bu.def
}

// period returns the label of the period holding t ("2026-05-14" or
// "2026-05") and when it ends, in the plugin's time zone.
func (bu *budget) period(t time.Time) (string, time.Time) {
	t = t.In(bu.loc)
	y, m, d := t.Date()
	if bu.month {
		return t.Format("2006-01"), time.Date(y, m+1, 1, 0, 0, 0, 0, bu.loc)
	}
	return t.Format("2006-01-02"), time.Date(y, m, d+1, 0, 0, 0, 0, bu.loc)
}

// keyTTL is how long a period's total outlives the period in the store, so
// that gateways whose clocks run a little behind still find it.
const keyTTL = time.Hour

type handler struct {
	*budget
	next plugin.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := plugin.ExchangeOf(r)
	a := x.AI
	// No AI state: a global plugin on a request that is not an ai route's.
	// Listing the models costs nothing, so it is never refused.
	if a == nil || a.Operation == "models" {
		return h.next.ServeHTTP(w, r)
	}
	lim := h.limitFor(x.Caller)
	if lim < 0 {
		return h.next.ServeHTTP(w, r)
	}
	now := h.now()
	label, end := h.period(now)
	// The period is part of the scope, so each period starts from zero and
	// the last one's total is kept for inspection until it expires.
	key := h.spec.Build(limit.Scope(h.route, "", label)+":", r)
	res, err := h.b.Budget(r.Context(), key, lim)
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
		hdr := make(http.Header, 1)
		hdr.Set(limit.HeaderRetryAfter, limit.RetryAfter(end.Sub(now)))
		return &plugin.Error{Status: h.status, Code: CodeBudgetExceeded, Public: h.msg, Header: hdr,
			Err: fmt.Errorf("%s reached its limit of %s for %s", key, usd(lim), label)}
	}
	h.allowed.Inc()
	err = h.next.ServeHTTP(w, r)
	switch {
	case a.Cache == "hit" || !a.UsageKnown:
		// No provider tokens, or no report of them to price.
	case !a.CostKnown:
		h.unpriced.Inc()
	default:
		if n := micros(a.CostUSD); n > 0 {
			// The period the request was admitted in pays, even if it
			// ended in the next.
			h.b.Add(r.Context(), key, n, end.Add(keyTTL))
		}
	}
	return err
}

// usd formats micro-dollars as dollars, for the log.
func usd(micros int64) string {
	return "$" + strconv.FormatFloat(float64(micros)/1e6, 'f', -1, 64)
}

var _ plugin.Handler = (*handler)(nil)
