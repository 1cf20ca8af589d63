package route

import (
	"cmp"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/price"
)

// wire is the API a provider speaks.
type wire int8

const (
	wireOpenAI wire = iota
	wireAnthropic
)

// Public endpoints of the types that have one.
var defaultBaseURL = map[string]string{
	TypeOpenAI:    "https://api.openai.com/v1",
	TypeAnthropic: "https://api.anthropic.com",
	TypeGemini:    "https://generativelanguage.googleapis.com/v1beta/openai",
	TypeDeepSeek:  "https://api.deepseek.com/v1",
	TypeMock:      "http://mock.sluice.invalid/v1",
}

// provider is a Provider ready to serve.
type provider struct {
	name, typ string
	wire      wire
	base      string // without a trailing slash
	host      string
	keys      []*apiKey
	next      atomic.Uint32 // round-robin position
	header    http.Header   // configured extra headers
	rt        http.RoundTripper
	response  time.Duration
	azure     Azure
	version   string       // anthropic-version
	prices    *price.Table // the defaults under this provider's overrides
}

// apiKey is one of a provider's keys; coolUntil (unix nanoseconds) is when a
// key answered with 429 may be used again.
type apiKey struct {
	value     string
	index     int
	coolUntil atomic.Int64
}

func newProvider(p Provider, rt http.RoundTripper) *provider {
	pv := &provider{name: p.Name, typ: p.Type, base: strings.TrimRight(cmp.Or(p.BaseURL, defaultBaseURL[p.Type]), "/"),
		header: http.Header{}, response: p.Timeouts.Response, azure: p.Azure, version: cmp.Or(p.AnthropicVersion, DefaultAnthropicVersion)}
	if p.Type == TypeAnthropic {
		pv.wire = wireAnthropic
	}
	pv.prices = price.NewTable(p.Prices)
	if pv.azure.APIVersion == "" {
		pv.azure.APIVersion = DefaultAzureAPIVersion
	}
	if u, err := url.Parse(pv.base); err == nil {
		pv.host = u.Host
	}
	for i, k := range p.APIKeys {
		pv.keys = append(pv.keys, &apiKey{value: k, index: i})
	}
	for k, v := range p.Headers {
		pv.header.Set(k, v)
	}
	switch {
	case p.Type == TypeMock:
		pv.rt = mockTransport{}
	case rt != nil:
		pv.rt = rt
	default:
		pv.rt = newTransport(pv.base, p.Timeouts.Connect)
	}
	return pv
}

// cost prices usage of the provider model. A model with no price has no
// cost (ok false), except on the mock provider, which is free unless its
// prices say otherwise (to try budgets without a paid provider).
func (p *provider) cost(model string, u ai.Usage) (usd float64, ok bool) {
	pr, ok := p.prices.Lookup(model)
	if !ok {
		return 0, p.typ == TypeMock
	}
	return pr.Cost(u), true
}

// serves reports whether the provider takes requests of op. Embeddings
// need an OpenAI-type API; the Responses API is passed through, never
// translated, so it goes only where OpenAI's own API shape lives (Azure
// addresses it differently and Gemini and DeepSeek's compatible endpoints
// lack it).
func (p *provider) serves(op operation) bool {
	switch op {
	case opEmbeddings:
		return p.wire == wireOpenAI
	case opResponses:
		return p.typ == TypeOpenAI || p.typ == TypeOpenAICompatible || p.typ == TypeMock
	}
	return true
}

// url returns the endpoint of op for the provider model.
func (p *provider) url(op operation, model string) string {
	if p.typ == TypeAzureOpenAI {
		dep := cmp.Or(p.azure.Deployment, model)
		return p.base + "/openai/deployments/" + url.PathEscape(dep) + "/" + op.path() + "?api-version=" + url.QueryEscape(p.azure.APIVersion)
	}
	if p.wire == wireAnthropic {
		if strings.HasSuffix(p.base, "/v1") {
			return p.base + "/messages"
		}
		return p.base + "/v1/messages"
	}
	return p.base + "/" + op.path()
}

// authorize sets the provider's credentials and headers on h. The client's
// own credentials never reach here: upstream headers are built from nothing.
func (p *provider) authorize(h http.Header, k *apiKey) {
	switch {
	case k == nil:
	case p.typ == TypeAzureOpenAI:
		h.Set("Api-Key", k.value)
	case p.wire == wireAnthropic:
		h.Set("X-Api-Key", k.value)
	default:
		h.Set("Authorization", "Bearer "+k.value)
	}
	if p.wire == wireAnthropic {
		h.Set("Anthropic-Version", p.version)
	}
	for name, vs := range p.header {
		h[name] = vs
	}
}

// pickKey returns the next key that is not cooling down. ok is false when
// every key is cooling; wait is then the shortest time until one is free.
// A provider without keys returns a nil key.
func (p *provider) pickKey(now time.Time) (k *apiKey, wait time.Duration, ok bool) {
	n := len(p.keys)
	if n == 0 {
		return nil, 0, true
	}
	start := int(p.next.Add(1) - 1)
	soonest := int64(math.MaxInt64)
	for i := range n {
		k := p.keys[(start+i)%n]
		until := k.coolUntil.Load()
		if until <= now.UnixNano() {
			return k, 0, true
		}
		soonest = min(soonest, until)
	}
	return nil, time.Duration(soonest - now.UnixNano()), false
}

// hasOtherKey reports whether a key other than k is usable now.
func (p *provider) hasOtherKey(k *apiKey, now time.Time) bool {
	for _, o := range p.keys {
		if o != k && o.coolUntil.Load() <= now.UnixNano() {
			return true
		}
	}
	return false
}

func (k *apiKey) cool(now time.Time, d time.Duration) {
	k.coolUntil.Store(now.Add(d).UnixNano())
}

// target is a Target ready to serve, with its passive health and latency.
type target struct {
	prov   *provider
	model  string // "" passes the client's model through
	weight int

	fails        atomic.Int32
	ejectedUntil atomic.Int64  // unix nanoseconds
	ewma         atomic.Uint64 // float64 bits of the latency EWMA in seconds; 0 = unknown
}

// modelName returns the provider model for a client's model name.
func (t *target) modelName(client string) string { return cmp.Or(t.model, client) }

func (t *target) ejected(now time.Time) bool { return t.ejectedUntil.Load() > now.UnixNano() }

// succeeded records a success and its latency (time to first content).
func (t *target) succeeded(latency time.Duration) {
	t.fails.Store(0)
	const alpha = 0.3
	s := latency.Seconds()
	for {
		old := t.ewma.Load()
		v := s
		if old != 0 {
			v = alpha*s + (1-alpha)*math.Float64frombits(old)
		}
		if v == 0 {
			v = math.SmallestNonzeroFloat64
		}
		if t.ewma.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// failed records a failure; the ejectAfter-th in a row ejects the target.
func (t *target) failed(now time.Time, ejectAfter int, ejectFor time.Duration) {
	if ejectAfter <= 0 {
		return
	}
	if int(t.fails.Add(1)) >= ejectAfter {
		t.fails.Store(0)
		t.ejectedUntil.Store(now.Add(ejectFor).UnixNano())
	}
}

// modelRoute is a Model ready to serve.
type modelRoute struct {
	name     string
	strategy string
	targets  []*target
	total    int // sum of weights
}

// order returns the targets to try, in order, for one request. Ejected
// targets are left out unless every target is ejected, in which case all
// are tried: a guess beats a certain failure.
func (m *modelRoute) order(now time.Time) []*target {
	out := make([]*target, 0, len(m.targets))
	for _, t := range m.targets {
		if !t.ejected(now) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		out = append(out, m.targets...)
	}
	switch m.strategy {
	case StrategyWeighted:
		total := 0
		for _, t := range out {
			total += t.weight
		}
		n := rand.IntN(total)
		for i, t := range out {
			if n < t.weight {
				copy(out[1:i+1], out[:i])
				out[0] = t
				break
			}
			n -= t.weight
		}
	case StrategyLeastLatency:
		// Unmeasured targets first (0 sorts lowest), so each gets measured.
		slices.SortStableFunc(out, func(a, b *target) int {
			return cmp.Compare(math.Float64frombits(a.ewma.Load()), math.Float64frombits(b.ewma.Load()))
		})
	}
	return out
}
