package route

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/sluicegw/sluice/internal/ai/price"
)

// Provider types.
const (
	TypeOpenAI           = "openai"
	TypeAzureOpenAI      = "azure-openai"
	TypeAnthropic        = "anthropic"
	TypeGemini           = "gemini"   // through its OpenAI-compatible endpoint
	TypeDeepSeek         = "deepseek" // OpenAI wire format plus reasoning_content
	TypeOpenAICompatible = "openai-compatible"
	TypeMock             = "mock" // built in, no network
)

// Strategies of a model's target list.
const (
	StrategyFallback     = "fallback"
	StrategyWeighted     = "weighted"
	StrategyLeastLatency = "least_latency"
)

// Retry conditions besides HTTP statuses.
const (
	RetryOnTimeout        = "timeout"
	RetryOnConnectFailure = "connect_failure"
)

// Defaults applied by New for zero fields.
const (
	DefaultAnthropicVersion = "2023-06-01"
	DefaultAzureAPIVersion  = "2024-10-21"
	DefaultMaxBody          = 32 << 20
	DefaultKeyCooldown      = 30 * time.Second
	DefaultEjectAfter       = 5
	DefaultEjectFor         = 30 * time.Second
	DefaultFirstToken       = 60 * time.Second
	DefaultBetweenChunks    = 120 * time.Second
	DefaultTotal            = 10 * time.Minute
	DefaultBackoff          = 200 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
)

// DefaultRetryOn is the retry condition list used when Retry.On is empty.
var DefaultRetryOn = []string{"429", "500", "502", "503", "504", "529", RetryOnTimeout, RetryOnConnectFailure}

// Config configures the terminal handler of one `ai` route. It mirrors the
// YAML of the top-level providers list plus the route's ai block; the
// config package maps one onto the other. Zero durations and counts take
// the defaults above.
type Config struct {
	// Providers are the LLM providers the route's targets may name.
	Providers []Provider
	// Models maps the model names clients send to targets. A model named
	// "*" catches every other name; its targets' empty Model passes the
	// client's name through.
	Models   []Model
	Timeouts Timeouts
	Retry    Retry
	Health   Health
	// MaxBody bounds the request body in bytes (DefaultMaxBody when zero).
	MaxBody int64

	// Transport sends upstream requests; nil means a transport built from
	// each provider's timeouts. Tests set it to reach fakes.
	Transport http.RoundTripper
	// OnDone, if set, is called once per request after the response is
	// complete, in the request's goroutine.
	OnDone func(r *http.Request, res Result)
	// Logger receives warnings about failed attempts; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// Provider is one LLM provider.
type Provider struct {
	Name string
	Type string // one of the Type* constants
	// BaseURL is the API root: "https://api.openai.com/v1" for OpenAI types
	// (the path /chat/completions is appended), "https://api.anthropic.com"
	// for Anthropic (/v1/messages), the resource URL for Azure. Empty takes
	// the type's public endpoint; openai-compatible and azure-openai need one.
	BaseURL string
	// APIKeys are rotated round-robin; a key answered with 429 cools down.
	APIKeys []string
	// Headers are added to every upstream request (after the key).
	Headers map[string]string
	// Timeouts of this provider's connections.
	Timeouts ProviderTimeouts
	// Azure settings, for type azure-openai.
	Azure Azure
	// AnthropicVersion is sent as anthropic-version (DefaultAnthropicVersion).
	AnthropicVersion string
	// Prices override the default price table (internal/ai/price) for this
	// provider's model names.
	Prices map[string]price.Price
}

// ProviderTimeouts bound one upstream attempt.
type ProviderTimeouts struct {
	// Connect bounds dialing and the TLS handshake; zero means 10s.
	Connect time.Duration
	// Response bounds a non-streaming attempt from its start to the end of
	// its body; zero means no bound beyond the route's total timeout.
	// Streams are bounded by the route's first_token and between_chunks.
	Response time.Duration
}

// Azure holds Azure OpenAI's deployment addressing.
type Azure struct {
	// Deployment is the deployment name in the URL; empty uses the target's
	// model name as the deployment.
	Deployment string
	// APIVersion is the api-version query parameter (DefaultAzureAPIVersion).
	APIVersion string
}

// Model is one model name clients may send.
type Model struct {
	Name     string
	Strategy string // fallback (default), weighted or least_latency
	Targets  []Target
}

// Target is one provider model that may serve a Model.
type Target struct {
	Provider string
	Model    string // the provider's model name; "" passes the client's name through
	Weight   int    // for the weighted strategy; zero means 1
}

// Timeouts bound a request.
type Timeouts struct {
	// FirstToken bounds a streaming attempt until its first content event;
	// an attempt that exceeds it is retried or falls back.
	FirstToken time.Duration
	// BetweenChunks bounds the silence between two events of a committed
	// stream; exceeding it ends the client's stream with an error event.
	BetweenChunks time.Duration
	// Total bounds the whole request, every attempt included.
	Total time.Duration
}

// Retry says when a failed attempt is tried again before the response
// starts. A failure that is not retried on its target still falls back to
// the model's next target, except a caller fault (400, 413, 422, ...),
// which goes back to the client as it is.
type Retry struct {
	// Attempts is how many times one target is tried (1 when zero).
	Attempts int
	// Backoff is the first wait between two tries of a target, doubled for
	// each further try, with jitter, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// On lists the conditions that allow a retry: HTTP statuses as strings,
	// "timeout" and "connect_failure" (DefaultRetryOn when empty).
	On []string
	// RetryAfterCap is the longest Retry-After Sluice waits for before
	// trying the same target again; a longer one (or any, when zero, the
	// default) moves on to the next key or target at once. The client gets
	// the Retry-After when every target failed.
	RetryAfterCap time.Duration
}

// Health configures passive health checking of targets.
type Health struct {
	// EjectAfter is how many failures in a row eject a target
	// (DefaultEjectAfter when zero; negative disables ejection).
	EjectAfter int
	// EjectFor is how long an ejected target is skipped (DefaultEjectFor).
	EjectFor time.Duration
	// KeyCooldown is how long a key answered with 429 and no Retry-After
	// is skipped (DefaultKeyCooldown).
	KeyCooldown time.Duration
}

// Validate reports every problem of c, each prefixed by its key path, as
// one error joined with errors.Join. It has no side effects.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]string{}
	for i, p := range c.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		if p.Name != "" {
			at = fmt.Sprintf("providers[%s]", p.Name)
		}
		switch {
		case p.Name == "":
			bad("%s.name: required", at)
		case names[p.Name] != "":
			bad("%s.name: defined twice", at)
		}
		names[p.Name] = p.Type
		switch p.Type {
		case TypeOpenAI, TypeAnthropic, TypeGemini, TypeDeepSeek, TypeMock:
		case TypeAzureOpenAI, TypeOpenAICompatible:
			if p.BaseURL == "" {
				bad("%s.base_url: required for type %s", at, p.Type)
			}
		case "":
			bad("%s.type: required (openai, azure-openai, anthropic, gemini, deepseek, openai-compatible or mock)", at)
		default:
			bad("%s.type: unknown type %q (want openai, azure-openai, anthropic, gemini, deepseek, openai-compatible or mock)", at, p.Type)
		}
		if p.BaseURL != "" {
			if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("%s.base_url: %q is not an http or https URL", at, p.BaseURL)
			}
		}
		if p.Type != TypeMock && p.Type != TypeOpenAICompatible && len(p.APIKeys) == 0 {
			bad("%s.api_keys: at least one key is required for type %s", at, p.Type)
		}
		for j, k := range p.APIKeys {
			if k == "" {
				bad("%s.api_keys[%d]: empty (is its environment variable set?)", at, j)
			}
		}
		for _, model := range slices.Sorted(maps.Keys(p.Prices)) {
			if err := p.Prices[model].Validate(); err != nil {
				bad("%s.prices[%s].%v", at, model, err)
			}
		}
		if p.Timeouts.Connect < 0 || p.Timeouts.Response < 0 {
			bad("%s.timeouts: must not be negative", at)
		}
	}
	if len(c.Models) == 0 {
		bad("models: at least one model is required")
	}
	seen := map[string]bool{}
	for i, m := range c.Models {
		at := fmt.Sprintf("models[%d]", i)
		if m.Name != "" {
			at = fmt.Sprintf("models[%s]", m.Name)
		}
		switch {
		case m.Name == "":
			bad("%s.name: required", at)
		case seen[m.Name]:
			bad("%s.name: defined twice", at)
		}
		seen[m.Name] = true
		switch m.Strategy {
		case "", StrategyFallback, StrategyWeighted, StrategyLeastLatency:
		default:
			bad("%s.strategy: unknown strategy %q (want fallback, weighted or least_latency)", at, m.Strategy)
		}
		if len(m.Targets) == 0 {
			bad("%s.targets: at least one target is required", at)
		}
		for j, t := range m.Targets {
			tat := fmt.Sprintf("%s.targets[%d]", at, j)
			if t.Provider == "" {
				bad("%s.provider: required", tat)
			} else if _, ok := names[t.Provider]; !ok {
				bad("%s.provider: provider %q is not defined", tat, t.Provider)
			}
			if t.Model == "" && m.Name != "*" {
				bad("%s.model: required (only targets of model \"*\" may pass the client's name through)", tat)
			}
			if t.Weight < 0 {
				bad("%s.weight: must not be negative", tat)
			}
		}
	}
	t := c.Timeouts
	if t.FirstToken < 0 || t.BetweenChunks < 0 || t.Total < 0 {
		bad("timeouts: must not be negative")
	}
	r := c.Retry
	if r.Attempts < 0 {
		bad("retry.attempts: must not be negative")
	}
	if r.Backoff < 0 || r.MaxBackoff < 0 || r.RetryAfterCap < 0 {
		bad("retry: backoff, max_backoff and retry_after_cap must not be negative")
	}
	for i, on := range r.On {
		if _, ok := parseRetryOn(on); !ok {
			bad("retry.on[%d]: %q is not an HTTP status (400-599), %q or %q", i, on, RetryOnTimeout, RetryOnConnectFailure)
		}
	}
	if c.MaxBody < 0 {
		bad("max_body: must not be negative")
	}
	return errors.Join(errs...)
}

// retryOn is a parsed Retry.On list.
type retryOn struct {
	status            map[int]bool
	timeout, connFail bool
}

func parseRetryOn(s string) (int, bool) {
	if s == RetryOnTimeout || s == RetryOnConnectFailure {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 400 && n <= 599
}

func newRetryOn(list []string) retryOn {
	if len(list) == 0 {
		list = DefaultRetryOn
	}
	ro := retryOn{status: map[int]bool{}}
	ro.timeout = slices.Contains(list, RetryOnTimeout)
	ro.connFail = slices.Contains(list, RetryOnConnectFailure)
	for _, s := range list {
		if n, ok := parseRetryOn(s); ok && n != 0 {
			ro.status[n] = true
		}
	}
	return ro
}
