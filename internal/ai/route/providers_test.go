package route_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	antopt "github.com/anthropics/anthropic-sdk-go/option"
	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/respjson"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/aitest"
	"github.com/sluicegw/sluice/internal/ai/route"
)

// fake is what the tests need of aitest's fakes.
type fake interface {
	URL() string
	Requests() []aitest.Request
	SetReply(aitest.Reply)
	RequireKey(string)
}

// provCase is one provider type played by its fake: how Sluice is
// configured for it and what the fake must see.
type provCase struct {
	name string
	// start returns the fake, which authenticates with the provider's key,
	// and the provider configured for it (named "up").
	start func(t *testing.T) (fake, route.Provider)
	model string // the target's model
	path  string // the upstream chat path
	query url.Values
	// auth are the credential headers upstream must carry, exactly;
	// absent the headers it must not carry at all.
	auth   http.Header
	absent []string
	reply  aitest.Reply
	// usage is the exact Result.Usage; reasoning the reasoning text
	// clients must receive (reasoning_content or a thinking block).
	usage     ai.Usage
	reasoning string
}

const clientKey = "client-secret-key"

func provCases() []provCase {
	text := "Paris is sunny today, twenty degrees."
	return []provCase{{
		name: route.TypeOpenAI,
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewOpenAI(t)
			f.RequireKey("sk-openai-key")
			return f, route.Provider{Name: "up", Type: route.TypeOpenAI, BaseURL: f.URL() + "/v1", APIKeys: []string{"sk-openai-key"}}
		},
		model:  "gpt-4o-mini",
		path:   "/v1/chat/completions",
		auth:   http.Header{"Authorization": {"Bearer sk-openai-key"}},
		absent: []string{"Api-Key", "X-Api-Key"},
		reply:  aitest.Reply{Text: text, Usage: ai.Usage{Input: 50, Output: 20, CachedInput: 30, Reasoning: 5}},
		usage:  ai.Usage{Input: 50, Output: 20, CachedInput: 30, Reasoning: 5},
	}, {
		// The deployment is configured; the api-version is the default.
		name: route.TypeAzureOpenAI,
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewAzure(t, route.DefaultAzureAPIVersion, map[string]string{"chat-prod": "gpt-4o-2024-08-06"})
			f.RequireKey("azure-key")
			return f, route.Provider{Name: "up", Type: route.TypeAzureOpenAI, BaseURL: f.URL(), APIKeys: []string{"azure-key"},
				Azure: route.Azure{Deployment: "chat-prod"}}
		},
		model:  "gpt-4o",
		path:   "/openai/deployments/chat-prod/chat/completions",
		query:  url.Values{"api-version": {route.DefaultAzureAPIVersion}},
		auth:   http.Header{"Api-Key": {"azure-key"}},
		absent: []string{"Authorization", "X-Api-Key"},
		reply:  aitest.Reply{Text: text, Usage: ai.Usage{Input: 44, Output: 11, CachedInput: 32}},
		usage:  ai.Usage{Input: 44, Output: 11, CachedInput: 32},
	}, {
		// The deployment is the target's model; the api-version is set.
		name: route.TypeAzureOpenAI + " by model",
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewAzure(t, "2025-01-01-preview", map[string]string{"gpt4o-eu": "gpt-4o-2024-11-20"})
			f.RequireKey("azure-key-2")
			return f, route.Provider{Name: "up", Type: route.TypeAzureOpenAI, BaseURL: f.URL() + "/", APIKeys: []string{"azure-key-2"},
				Azure: route.Azure{APIVersion: "2025-01-01-preview"}}
		},
		model:  "gpt4o-eu",
		path:   "/openai/deployments/gpt4o-eu/chat/completions",
		query:  url.Values{"api-version": {"2025-01-01-preview"}},
		auth:   http.Header{"Api-Key": {"azure-key-2"}},
		absent: []string{"Authorization", "X-Api-Key"},
		reply:  aitest.Reply{Text: text, Usage: ai.Usage{Input: 12, Output: 9}},
		usage:  ai.Usage{Input: 12, Output: 9},
	}, {
		name: route.TypeAnthropic,
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewAnthropic(t)
			f.RequireKey("sk-ant-key")
			return f, route.Provider{Name: "up", Type: route.TypeAnthropic, BaseURL: f.URL(), APIKeys: []string{"sk-ant-key"}}
		},
		model:  "claude-haiku-4-5",
		path:   "/v1/messages",
		auth:   http.Header{"X-Api-Key": {"sk-ant-key"}, "Anthropic-Version": {route.DefaultAnthropicVersion}},
		absent: []string{"Authorization", "Api-Key"},
		reply:  aitest.Reply{Text: text, Reasoning: "Look it up.", Usage: ai.Usage{Input: 50, Output: 20, CachedInput: 30}},
		// Anthropic reports no reasoning tokens.
		usage:     ai.Usage{Input: 50, Output: 20, CachedInput: 30},
		reasoning: "Look it up.",
	}, {
		name: route.TypeGemini,
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewGemini(t)
			f.RequireKey("gemini-key")
			return f, route.Provider{Name: "up", Type: route.TypeGemini, BaseURL: f.URL() + "/v1beta/openai", APIKeys: []string{"gemini-key"}}
		},
		model:  "gemini-2.5-flash",
		path:   "/v1beta/openai/chat/completions",
		auth:   http.Header{"Authorization": {"Bearer gemini-key"}},
		absent: []string{"Api-Key", "X-Api-Key", "X-Goog-Api-Key"},
		reply:  aitest.Reply{Text: text, Usage: ai.Usage{Input: 40, Output: 10}},
		usage:  ai.Usage{Input: 40, Output: 10},
	}, {
		// DeepSeek's documented base URL has no /v1.
		name: route.TypeDeepSeek,
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewDeepSeek(t)
			f.RequireKey("sk-deepseek-key")
			return f, route.Provider{Name: "up", Type: route.TypeDeepSeek, BaseURL: f.URL(), APIKeys: []string{"sk-deepseek-key"}}
		},
		model:  "deepseek-reasoner",
		path:   "/chat/completions",
		auth:   http.Header{"Authorization": {"Bearer sk-deepseek-key"}},
		absent: []string{"Api-Key", "X-Api-Key"},
		reply:  aitest.Reply{Text: text, Reasoning: "The user asks about weather.", Usage: ai.Usage{Input: 64, Output: 30, CachedInput: 48, Reasoning: 12}},
		// Cached input comes from prompt_cache_hit_tokens.
		usage:     ai.Usage{Input: 64, Output: 30, CachedInput: 48, Reasoning: 12},
		reasoning: "The user asks about weather.",
	}, {
		// Ollama: no key configured, so none is sent.
		name: route.TypeOpenAICompatible + " without key",
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewCompatible(t)
			return f, route.Provider{Name: "up", Type: route.TypeOpenAICompatible, BaseURL: f.URL() + "/v1"}
		},
		model:  "llama3.2",
		path:   "/v1/chat/completions",
		auth:   http.Header{},
		absent: []string{"Authorization", "Api-Key", "X-Api-Key"},
		reply:  aitest.Reply{Text: text, Usage: ai.Usage{Input: 9, Output: 4}},
		usage:  ai.Usage{Input: 9, Output: 4},
	}, {
		// vLLM started with --api-key.
		name: route.TypeOpenAICompatible + " with key",
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewCompatible(t)
			f.RequireKey("vllm-key")
			return f, route.Provider{Name: "up", Type: route.TypeOpenAICompatible, BaseURL: f.URL() + "/v1", APIKeys: []string{"vllm-key"}}
		},
		model:  "Qwen/Qwen2.5-7B-Instruct",
		path:   "/v1/chat/completions",
		auth:   http.Header{"Authorization": {"Bearer vllm-key"}},
		absent: []string{"Api-Key", "X-Api-Key"},
		reply:  aitest.Reply{Text: text, Usage: ai.Usage{Input: 9, Output: 4}},
		usage:  ai.Usage{Input: 9, Output: 4},
	}}
}

// got is what a client received, in either API.
type got struct {
	text, reasoning string
	header          http.Header
	// The usage the client was told, in OpenAI's terms; for an Anthropic
	// client input is input_tokens + cache_read_input_tokens.
	input, cached, output int64
	// OpenAI client: completion_tokens_details.reasoning_tokens, and
	// DeepSeek's prompt_cache_hit_tokens as relayed (-1 when absent).
	reasoningTokens, cacheHit int64
	// Anthropic client: the message's id, model and block types.
	id, model string
	blocks    []string
}

var provChat = oaisdk.ChatCompletionNewParams{
	Model:    "smart",
	Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.SystemMessage("be brief"), oaisdk.UserMessage("weather in Paris?")},
}

var provMessage = antsdk.MessageNewParams{
	Model:     "smart",
	MaxTokens: 256,
	System:    []antsdk.TextBlockParam{{Text: "be brief"}},
	Messages:  []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("weather in Paris?"))},
}

// reasoningOf decodes a reasoning_content member, if any.
func reasoningOf(fields map[string]respjson.Field) string {
	var s string
	if f, ok := fields["reasoning_content"]; ok {
		_ = json.Unmarshal([]byte(f.Raw()), &s)
	}
	return s
}

func askOpenAI(t *testing.T, fr *front, stream bool) got {
	t.Helper()
	ctx := context.Background()
	var raw *http.Response
	var g got
	if !stream {
		res, err := fr.openai().Chat.Completions.New(ctx, provChat, oaiopt.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		m := res.Choices[0].Message
		g.text, g.reasoning = m.Content, reasoningOf(m.JSON.ExtraFields)
		g.usage(res.Usage)
		g.header = raw.Header
		return g
	}
	params := provChat
	params.StreamOptions = oaisdk.ChatCompletionStreamOptionsParam{IncludeUsage: oaisdk.Bool(true)}
	s := fr.openai().Chat.Completions.NewStreaming(ctx, params, oaiopt.WithResponseInto(&raw))
	var acc oaisdk.ChatCompletionAccumulator
	var reasoning strings.Builder
	var usage oaisdk.CompletionUsage // as sent, unlike the accumulator's copy
	for s.Next() {
		c := s.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("the accumulator refused %s", c.RawJSON())
		}
		if c.JSON.Usage.Valid() {
			usage = c.Usage
		}
		if len(c.Choices) > 0 {
			reasoning.WriteString(reasoningOf(c.Choices[0].Delta.JSON.ExtraFields))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	g.text, g.reasoning = acc.Choices[0].Message.Content, reasoning.String()
	g.usage(usage)
	g.header = raw.Header
	return g
}

func (g *got) usage(u oaisdk.CompletionUsage) {
	g.input, g.cached, g.output = u.PromptTokens, u.PromptTokensDetails.CachedTokens, u.CompletionTokens
	g.reasoningTokens, g.cacheHit = u.CompletionTokensDetails.ReasoningTokens, -1
	if f, ok := u.JSON.ExtraFields["prompt_cache_hit_tokens"]; ok {
		_ = json.Unmarshal([]byte(f.Raw()), &g.cacheHit)
	}
}

func askAnthropic(t *testing.T, fr *front, stream bool) got {
	t.Helper()
	ctx := context.Background()
	var raw *http.Response
	var m antsdk.Message
	if !stream {
		res, err := fr.anthropic().Messages.New(ctx, provMessage, antopt.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		m = *res
	} else {
		s := fr.anthropic().Messages.NewStreaming(ctx, provMessage, antopt.WithResponseInto(&raw))
		for s.Next() {
			if err := m.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
	}
	var g got
	for _, b := range m.Content {
		g.blocks = append(g.blocks, b.Type)
		switch b.Type {
		case "text":
			g.text += b.Text
		case "thinking":
			g.reasoning += b.Thinking
		}
	}
	u := m.Usage
	g.input, g.cached, g.output = u.InputTokens+u.CacheReadInputTokens, u.CacheReadInputTokens, u.OutputTokens
	g.id, g.model = m.ID, m.Model
	g.header = raw.Header
	return g
}

// checkUpstream checks one request a fake received from Sluice.
func checkUpstream(t *testing.T, tc provCase, r aitest.Request) {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != tc.path || r.Status != http.StatusOK {
		t.Errorf("upstream saw %s %s and answered %d; want POST %s, 200", r.Method, r.Path, r.Status, tc.path)
	}
	if q := r.Query.Encode(); q != tc.query.Encode() {
		t.Errorf("upstream query = %q; want %q", q, tc.query.Encode())
	}
	for name, want := range tc.auth {
		if got := r.Header.Values(name); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("upstream %s = %q; want %q", name, got, want)
		}
	}
	for _, name := range tc.absent {
		if v := r.Header.Values(name); len(v) > 0 {
			t.Errorf("upstream carried %s: %q", name, v)
		}
	}
	checkNoClientKey(t, []aitest.Request{r})
}

// TestProviderTypes runs every provider type, each played by a fake that
// checks its path and key, under both official SDKs, streaming and not.
func TestProviderTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range provCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, p := tc.start(t)
			f.SetReply(tc.reply)
			fr := newFront(t, one([]route.Provider{p}, route.Target{Provider: "up", Model: tc.model}))
			for _, api := range []string{route.APIOpenAI, route.APIAnthropic} {
				for _, stream := range []bool{false, true} {
					var g got
					if api == route.APIOpenAI {
						g = askOpenAI(t, fr, stream)
					} else {
						g = askAnthropic(t, fr, stream)
					}
					at := api + " client"
					if stream {
						at += ", streaming"
					}
					if g.text != tc.reply.Text {
						t.Errorf("%s: text = %q; want %q", at, g.text, tc.reply.Text)
					}
					if g.reasoning != tc.reasoning {
						t.Errorf("%s: reasoning = %q; want %q", at, g.reasoning, tc.reasoning)
					}
					if p, m := g.header.Get(route.HeaderProvider), g.header.Get(route.HeaderModel); p != "up" || m != tc.model {
						t.Errorf("%s: x-sluice-provider/model = %q/%q; want up/%s", at, p, m, tc.model)
					}
					// The client is told the provider's counts: as they are
					// when the APIs match, translated otherwise.
					wantCached := tc.usage.CachedInput
					if api == route.APIOpenAI && (tc.name == route.TypeDeepSeek || tc.name == route.TypeGemini || strings.HasPrefix(tc.name, route.TypeOpenAICompatible)) {
						wantCached = 0 // relayed as sent: no prompt_tokens_details
					}
					if g.input != tc.usage.Input || g.cached != wantCached || g.output != tc.usage.Output {
						t.Errorf("%s: client usage in/cached/out = %d/%d/%d; want %d/%d/%d", at, g.input, g.cached, g.output,
							tc.usage.Input, wantCached, tc.usage.Output)
					}
					if api == route.APIOpenAI {
						wantHit := int64(-1)
						if tc.name == route.TypeDeepSeek {
							wantHit = tc.usage.CachedInput // relayed as DeepSeek sent it
						}
						if g.reasoningTokens != tc.usage.Reasoning || g.cacheHit != wantHit {
							t.Errorf("%s: reasoning_tokens %d, prompt_cache_hit_tokens %d; want %d, %d", at, g.reasoningTokens, g.cacheHit, tc.usage.Reasoning, wantHit)
						}
					} else {
						want := []string{"text"}
						if tc.reasoning != "" {
							want = []string{"thinking", "text"} // reasoning_content becomes a thinking block
						}
						if strings.Join(g.blocks, ",") != strings.Join(want, ",") {
							t.Errorf("%s: content blocks %v; want %v", at, g.blocks, want)
						}
					}
					r := fr.result(t)
					if r.API != api || r.Provider != "up" || r.ProviderModel != tc.model || r.Model != "smart" || r.Stream != stream ||
						r.Attempts != 1 || r.Status != http.StatusOK || r.ErrorKind != "" || !r.UsageKnown || r.Usage != tc.usage {
						t.Errorf("%s: Result = %+v; want usage %+v", at, r, tc.usage)
					}
				}
			}
			reqs := f.Requests()
			if len(reqs) != 4 {
				t.Fatalf("upstream saw %d requests; want 4", len(reqs))
			}
			for _, r := range reqs {
				checkUpstream(t, tc, r)
				var sent struct {
					Model string `json:"model"`
				}
				if err := json.Unmarshal(r.Body, &sent); err != nil || sent.Model != tc.model {
					t.Errorf("upstream body model = %q (%v); want %q", sent.Model, err, tc.model)
				}
			}
		})
	}
}

// TestAnthropicStreamNamesMessage: an Anthropic client's streamed message
// has an id and a model whatever the provider.
func TestAnthropicStreamNamesMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range provCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, p := tc.start(t)
			f.SetReply(tc.reply)
			fr := newFront(t, one([]route.Provider{p}, route.Target{Provider: "up", Model: tc.model}))
			g := askAnthropic(t, fr, true)
			if g.id == "" || g.model == "" {
				t.Errorf("message id %q, model %q; want both set", g.id, g.model)
			}
			fr.result(t)
		})
	}
}

// TestProviderEmbeddings: embeddings through the OpenAI SDK reach Azure's
// deployment and Gemini's (and Ollama's) OpenAI-compatible endpoint.
func TestProviderEmbeddings(t *testing.T) {
	t.Parallel()
	tests := []provCase{{
		name: route.TypeAzureOpenAI,
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewAzure(t, route.DefaultAzureAPIVersion, map[string]string{"embed-prod": "text-embedding-3-small"})
			f.RequireKey("azure-key")
			return f, route.Provider{Name: "up", Type: route.TypeAzureOpenAI, BaseURL: f.URL(), APIKeys: []string{"azure-key"}}
		},
		model:  "embed-prod",
		path:   "/openai/deployments/embed-prod/embeddings",
		query:  url.Values{"api-version": {route.DefaultAzureAPIVersion}},
		auth:   http.Header{"Api-Key": {"azure-key"}},
		absent: []string{"Authorization"},
	}, {
		name: route.TypeGemini,
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewGemini(t)
			f.RequireKey("gemini-key")
			return f, route.Provider{Name: "up", Type: route.TypeGemini, BaseURL: f.URL() + "/v1beta/openai", APIKeys: []string{"gemini-key"}}
		},
		model: "text-embedding-004",
		path:  "/v1beta/openai/embeddings",
		auth:  http.Header{"Authorization": {"Bearer gemini-key"}},
	}, {
		name: route.TypeOpenAICompatible,
		start: func(t *testing.T) (fake, route.Provider) {
			f := aitest.NewCompatible(t)
			return f, route.Provider{Name: "up", Type: route.TypeOpenAICompatible, BaseURL: f.URL() + "/v1"}
		},
		model:  "nomic-embed-text",
		path:   "/v1/embeddings",
		absent: []string{"Authorization"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, p := tc.start(t)
			f.SetReply(aitest.Reply{Usage: ai.Usage{Input: 9}})
			cfg := route.Config{Providers: []route.Provider{p}, Models: []route.Model{{Name: "embed", Targets: []route.Target{{Provider: "up", Model: tc.model}}}}}
			fr := newFront(t, cfg)
			var raw *http.Response
			res, err := fr.openai().Embeddings.New(context.Background(), oaisdk.EmbeddingNewParams{
				Model: "embed",
				Input: oaisdk.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
			}, oaiopt.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Data) != 2 || res.Data[1].Index != 1 || len(res.Data[1].Embedding) != 3 || res.Data[1].Embedding[0] != 1.5 || res.Usage.PromptTokens != 9 {
				t.Errorf("embeddings = %s", res.RawJSON())
			}
			if p, m := raw.Header.Get(route.HeaderProvider), raw.Header.Get(route.HeaderModel); p != "up" || m != tc.model {
				t.Errorf("x-sluice-provider/model = %q/%q; want up/%s", p, m, tc.model)
			}
			r := fr.result(t)
			if r.Operation != "embeddings" || r.Provider != "up" || r.ProviderModel != tc.model || r.Attempts != 1 || r.Status != 200 ||
				!r.UsageKnown || r.Usage != (ai.Usage{Input: 9}) {
				t.Errorf("Result = %+v", r)
			}
			reqs := f.Requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream saw %d requests; want 1", len(reqs))
			}
			checkUpstream(t, tc, reqs[0])
			var sent struct {
				Model string          `json:"model"`
				Input json.RawMessage `json:"input"`
			}
			if err := json.Unmarshal(reqs[0].Body, &sent); err != nil || sent.Model != tc.model || string(sent.Input) != `["a","b"]` {
				t.Errorf("upstream body = %s", reqs[0].Body)
			}
		})
	}
}

// TestProviderRefusesKey: a provider that refuses Sluice's key with its own
// error body is a failure of that target, not the client's fault: Sluice
// falls back to the next target, and the client, whose key was fine, never
// sees the provider's authentication error.
func TestProviderRefusesKey(t *testing.T) {
	t.Parallel()
	for _, tc := range provCases() {
		if len(tc.auth) == 0 {
			continue // a keyless server cannot refuse a key
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, p := tc.start(t)
			p.APIKeys = []string{"wrong-provider-key"}
			backup := aitest.NewOpenAI(t)
			cfg := route.Config{
				Providers: []route.Provider{p, oaiProvider("backup", backup.URL())},
				Models: []route.Model{
					{Name: "smart", Targets: []route.Target{{Provider: "up", Model: tc.model}, {Provider: "backup", Model: "gpt-4o-mini"}}},
					{Name: "alone", Targets: []route.Target{{Provider: "up", Model: tc.model}}},
				},
			}
			fr := newFront(t, cfg)
			var raw *http.Response
			if _, err := fr.openai().Chat.Completions.New(context.Background(), provChat, oaiopt.WithResponseInto(&raw)); err != nil {
				t.Fatalf("with a backup target: %v", err)
			}
			if p := raw.Header.Get(route.HeaderProvider); p != "backup" {
				t.Errorf("served by %q; want backup", p)
			}
			if r := fr.result(t); r.Provider != "backup" || r.Attempts != 2 || r.Fallbacks != 1 || r.Status != 200 {
				t.Errorf("Result = %+v; want backup after one fallback", r)
			}

			alone := provChat
			alone.Model = "alone"
			_, err := fr.openai().Chat.Completions.New(context.Background(), alone)
			var apiErr *oaisdk.Error
			if !asErr(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway {
				t.Errorf("without a backup: %v; want 502", err)
			}
			if r := fr.result(t); r.Status != http.StatusBadGateway || r.ErrorKind != "upstream_error" {
				t.Errorf("Result = %+v; want 502 upstream_error", r)
			}
			reqs := f.Requests()
			if len(reqs) != 2 {
				t.Fatalf("upstream saw %d requests; want 2", len(reqs))
			}
			wantStatus := http.StatusUnauthorized
			if tc.name == route.TypeGemini {
				wantStatus = http.StatusBadRequest // Google's INVALID_ARGUMENT, API_KEY_INVALID
			}
			for _, r := range reqs {
				if r.Status != wantStatus {
					t.Errorf("the fake answered %d; want its %d", r.Status, wantStatus)
				}
				checkNoClientKey(t, []aitest.Request{r})
			}
		})
	}
}
