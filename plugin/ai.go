package plugin

import "time"

// AI is the state of one request on an `ai` route, shared by the route's
// terminal handler, the AI plugins in front of it (prompt guards, token
// limits, budgets, the response cache) and the gateway's access log and
// metrics. Exchange.AI holds it on ai routes and is nil elsewhere.
//
// The request body is decoded once, lazily: the first of the plugins or the
// terminal handler to call Request reads it. Plugins that change the request
// (a decorator, a max-tokens clamp) do so through the AIRequest before the
// terminal handler sends it upstream; the outcome fields are filled in by the
// terminal handler before it returns, so a plugin reads them after next.
type AI struct {
	API       string // how the client speaks: AIOpenAI or AIAnthropic
	Operation string // AIChat, AIEmbeddings, AIModels or AIResponses

	// Model and Stream are the client's, known once Request succeeded.
	Model  string
	Stream bool

	// The outcome, set by the terminal handler.
	Provider      string // the provider that served the request, or the last one tried
	ProviderModel string // the model name sent to it
	Usage         TokenUsage
	UsageKnown    bool    // false when the provider reported none (a failure, a cut stream)
	CostUSD       float64 // Usage priced by the provider model's price
	CostKnown     bool    // false when the provider model has no price
	Attempts      int     // upstream requests sent
	Fallbacks     int     // targets moved on to after the first
	// TimeToFirstToken is from the request's arrival to the first content
	// event of a stream, or to the whole answer.
	TimeToFirstToken time.Duration
	// ErrorKind is "" on success, else a stable name such as
	// "rate_limited", "upstream_error" or "stream_cut" (see docs/ai.md).
	ErrorKind string
	// Cache is "hit" when the response cache answered, "miss" when it
	// looked and found nothing, "bypass" when it did not look (no-cache, an
	// anonymous caller), "" when no cache is on the route.
	Cache string
	// Status is the status the terminal handler wrote, 0 if it did not run.
	Status int

	load   func() (AIRequest, error)
	req    AIRequest
	err    error
	loaded bool
}

// Response headers naming what served a request on an ai route (a cache
// replays them).
const (
	AIProviderHeader = "X-Sluice-Provider"
	AIModelHeader    = "X-Sluice-Model"
)

// Values of AI.API.
const (
	AIOpenAI    = "openai"
	AIAnthropic = "anthropic"
)

// Values of AI.Operation.
const (
	AIChat       = "chat"       // OpenAI chat completions or Anthropic messages
	AIEmbeddings = "embeddings" // OpenAI embeddings: no messages to add
	AIModels     = "models"     // the model list: no request body
	AIResponses  = "responses"  // the OpenAI Responses API
)

// NewAI returns the state of a request of api and operation whose body
// load decodes. Only the ai route creates one.
func NewAI(api, operation string, load func() (AIRequest, error)) *AI {
	return &AI{API: api, Operation: operation, load: load}
}

// Request returns the decoded request, reading and decoding the body on the
// first call. Its error is the *Error to return: a body too large, not
// JSON or not a valid request of the API. Operations without a body
// ("models") return nil and no error.
func (a *AI) Request() (AIRequest, error) {
	if !a.loaded {
		a.loaded = true
		if a.load != nil {
			a.req, a.err = a.load()
		}
		if a.req != nil {
			a.Model, a.Stream = a.req.Model(), a.req.Stream()
		}
	}
	return a.req, a.err
}

// AIRequest is a decoded request body of an ai route, in the client's API,
// seen through a provider-neutral view. Changes made through it reach the
// upstream request.
type AIRequest interface {
	Model() string
	Stream() bool
	// Messages returns the text of the request in order: the system prompt
	// first (role "system"; OpenAI's "developer" messages too), then each
	// message with its text parts, tool call arguments and tool results
	// joined. Images and audio are left out. An embeddings request gives
	// each input as a "user" message.
	Messages() []AIMessage
	// Prepend and Append add text messages at either end of the
	// conversation. A "system" message joins the system prompt, at its
	// start or its end. Embeddings requests cannot take messages.
	Prepend(msgs ...AIMessage) error
	Append(msgs ...AIMessage) error
	// MaxTokens returns the output token limit the request asks for, 0 when
	// it sets none.
	MaxTokens() int64
	// SetMaxTokens sets the output token limit (max_completion_tokens and
	// max_tokens for OpenAI, max_tokens for Anthropic).
	SetMaxTokens(n int64)
	// Canonical returns the request as compact JSON in a fixed member
	// order, after the changes made so far: equal requests give equal
	// bytes, for cache keys.
	Canonical() []byte
}

// AIMessage is one message of an AIRequest's text view.
type AIMessage struct {
	Role string `json:"role"` // system, user, assistant or tool
	Text string `json:"content"`
}

// TokenUsage counts the tokens of one request. Input includes CachedInput
// and CacheCreation; Output includes Reasoning (the OpenTelemetry GenAI
// containment rules, whatever the provider's wire format says).
type TokenUsage struct {
	Input         int64
	Output        int64
	CachedInput   int64
	CacheCreation int64
	Reasoning     int64
}

// Total returns Input + Output.
func (u TokenUsage) Total() int64 { return u.Input + u.Output }
