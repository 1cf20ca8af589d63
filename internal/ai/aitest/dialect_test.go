package aitest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/sluicegw/sluice/internal/ai"
)

// dialectCase is a fake of one dialect and how a client reaches it.
type dialectCase struct {
	name    string
	start   func(t *testing.T) *OpenAI
	base    string // appended to URL() for the SDK's base URL
	opts    []option.RequestOption
	path    string // the chat path the fake must see
	query   string // the query a client adds to it
	reject  int    // status of a wrong key
	errBody string // a part of the wrong key's body
}

var dialectCases = []dialectCase{{
	name:    "openai",
	start:   func(t *testing.T) *OpenAI { return NewOpenAI(t) },
	base:    "/v1",
	path:    "/v1/chat/completions",
	reject:  401,
	errBody: `"code":"invalid_api_key"`,
}, {
	name: "azure",
	start: func(t *testing.T) *OpenAI {
		return NewAzure(t, "2024-10-21", map[string]string{"prod": "gpt-4o-2024-08-06"})
	},
	base:    "/openai/deployments/prod",
	opts:    []option.RequestOption{option.WithQuery("api-version", "2024-10-21"), option.WithHeaderDel("Authorization")},
	path:    "/openai/deployments/prod/chat/completions",
	query:   "?api-version=2024-10-21",
	reject:  401,
	errBody: `{"error":{"code":"401","message":"Access denied due to invalid subscription key`,
}, {
	name:    "gemini",
	start:   func(t *testing.T) *OpenAI { return NewGemini(t) },
	base:    "/v1beta/openai",
	path:    "/v1beta/openai/chat/completions",
	reject:  400,
	errBody: `[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"`,
}, {
	name:    "deepseek",
	start:   func(t *testing.T) *OpenAI { return NewDeepSeek(t) },
	path:    "/chat/completions",
	reject:  401,
	errBody: `"message":"Authentication Fails, Your api key: ****ong! is invalid","type":"authentication_error"`,
}, {
	name:    "compatible",
	start:   func(t *testing.T) *OpenAI { return NewCompatible(t) },
	base:    "/v1",
	path:    "/v1/chat/completions",
	reject:  401,
	errBody: `{"error":"Unauthorized"}`,
}}

func dialectClient(c dialectCase, f *OpenAI, key string) *sdk.Client {
	opts := []option.RequestOption{option.WithBaseURL(f.URL() + c.base), option.WithMaxRetries(0)}
	if c.name == "azure" {
		opts = append(opts, option.WithHeader("Api-Key", key))
	} else {
		opts = append(opts, option.WithAPIKey(key))
	}
	cl := sdk.NewClient(append(opts, c.opts...)...)
	return &cl
}

var dialectReply = Reply{
	Text:      "Bonjour.",
	Reasoning: "Say hello.",
	Usage:     ai.Usage{Input: 30, Output: 12, CachedInput: 20, Reasoning: 4},
	ChunkSize: 3,
}

// TestDialects: each dialect serves its own paths, refuses a wrong key
// with its provider's body, and answers streaming and not.
func TestDialects(t *testing.T) {
	t.Parallel()
	for _, c := range dialectCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := c.start(t)
			f.RequireKey("good-key")
			f.SetReply(dialectReply)
			ctx := context.Background()
			params := sdk.ChatCompletionNewParams{Model: "m", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}}

			// The wrong key, sent as a client of this provider sends it.
			req, _ := http.NewRequest(http.MethodPost, f.URL()+c.path+c.query, strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
			if c.name == "azure" {
				req.Header.Set("Api-Key", "wrong!")
			} else {
				req.Header.Set("Authorization", "Bearer wrong!")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.reject || !strings.Contains(string(body), c.errBody) {
				t.Errorf("wrong key: %d %s; want %d with %s", resp.StatusCode, body, c.reject, c.errBody)
			}

			cl := dialectClient(c, f, "good-key")
			res, err := cl.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if res.Choices[0].Message.Content != dialectReply.Text || res.Choices[0].FinishReason != "stop" {
				t.Errorf("answer = %s", res.RawJSON())
			}
			stream := cl.Chat.Completions.NewStreaming(ctx, sdk.ChatCompletionNewParams{Model: "m", Messages: params.Messages,
				StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}})
			var acc sdk.ChatCompletionAccumulator
			var reasoning strings.Builder
			for stream.Next() {
				ch := stream.Current()
				acc.AddChunk(ch)
				if len(ch.Choices) > 0 {
					if r, ok := ch.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
						var s string
						_ = json.Unmarshal([]byte(r.Raw()), &s)
						reasoning.WriteString(s)
					}
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if acc.Choices[0].Message.Content != dialectReply.Text || acc.Usage.PromptTokens != 30 || acc.Usage.CompletionTokens != 12 {
				t.Errorf("stream = %q, usage %+v", acc.Choices[0].Message.Content, acc.Usage)
			}
			wantReasoning := ""
			if c.name == "openai" || c.name == "deepseek" {
				wantReasoning = dialectReply.Reasoning
			}
			if reasoning.String() != wantReasoning {
				t.Errorf("streamed reasoning_content = %q; want %q", reasoning.String(), wantReasoning)
			}

			reqs := f.Requests()
			if len(reqs) != 3 {
				t.Fatalf("fake saw %d requests; want 3", len(reqs))
			}
			for i, want := range []int{c.reject, 200, 200} {
				if reqs[i].Path != c.path || reqs[i].Status != want {
					t.Errorf("request %d: %s → %d; want %s → %d", i, reqs[i].Path, reqs[i].Status, c.path, want)
				}
			}
			if c.name == "azure" && reqs[1].Query.Get("api-version") != "2024-10-21" {
				t.Errorf("azure query = %v", reqs[1].Query)
			}
		})
	}
}

func TestDeepSeekWire(t *testing.T) {
	t.Parallel()
	f := NewDeepSeek(t)
	f.SetReply(dialectReply)
	cl := sdk.NewClient(option.WithBaseURL(f.URL()+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	res, err := cl.Chat.Completions.New(context.Background(), sdk.ChatCompletionNewParams{Model: "deepseek-reasoner", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Choices[0].Message.JSON.ExtraFields["reasoning_content"].Raw(); got != `"Say hello."` {
		t.Errorf("reasoning_content = %s", got)
	}
	u := res.Usage
	if u.JSON.ExtraFields["prompt_cache_hit_tokens"].Raw() != "20" || u.JSON.ExtraFields["prompt_cache_miss_tokens"].Raw() != "10" ||
		u.CompletionTokensDetails.ReasoningTokens != 4 || u.JSON.PromptTokensDetails.Valid() {
		t.Errorf("usage = %s", u.RawJSON())
	}
	if p := f.Requests()[0].Path; p != "/v1/chat/completions" {
		t.Errorf("path = %s", p)
	}
	// No embeddings at DeepSeek.
	_, err = cl.Embeddings.New(context.Background(), sdk.EmbeddingNewParams{Model: "m", Input: sdk.EmbeddingNewParamsInputUnion{OfString: sdk.String("x")}})
	if apiErr := (*sdk.Error)(nil); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("embeddings: %v; want 404", err)
	}
}

func TestAzureWire(t *testing.T) {
	t.Parallel()
	f := NewAzure(t, "2024-10-21", map[string]string{"prod": "gpt-4o-2024-08-06"})
	f.RequireKey("k")
	ctx := context.Background()
	params := sdk.ChatCompletionNewParams{Model: "x", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}}
	client := func(dep, version string) sdk.Client {
		return sdk.NewClient(option.WithBaseURL(f.URL()+"/openai/deployments/"+dep), option.WithHeader("Api-Key", "k"),
			option.WithQuery("api-version", version), option.WithMaxRetries(0))
	}
	c := client("prod", "2024-10-21")
	res, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model != "gpt-4o-2024-08-06" || res.JSON.ExtraFields["prompt_filter_results"].Raw() == "" {
		t.Errorf("answer = %s", res.RawJSON())
	}
	stream := c.Chat.Completions.NewStreaming(ctx, params)
	if !stream.Next() {
		t.Fatal(stream.Err())
	}
	if first := stream.Current(); len(first.Choices) != 0 || first.ID != "" || first.Model != "" {
		t.Errorf("first chunk = %s; want Azure's prompt filter chunk", first.RawJSON())
	}
	for stream.Next() {
	}
	if stream.Err() != nil {
		t.Fatal(stream.Err())
	}
	var apiErr *sdk.Error
	for _, tt := range []struct{ dep, version, code string }{
		{"nope", "2024-10-21", "DeploymentNotFound"},
		{"prod", "", "404"},
		{"prod", "2023-01-01", "404"},
	} {
		c := client(tt.dep, tt.version)
		if _, err := c.Chat.Completions.New(ctx, params); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != tt.code {
			t.Errorf("%s?api-version=%s: %v; want 404 %s", tt.dep, tt.version, err, tt.code)
		}
	}
	// A Bearer token is taken for an Entra token.
	bc := sdk.NewClient(option.WithBaseURL(f.URL()+"/openai/deployments/prod"), option.WithAPIKey("k"),
		option.WithQuery("api-version", "2024-10-21"), option.WithMaxRetries(0))
	if _, err := bc.Chat.Completions.New(ctx, params); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || !strings.Contains(apiErr.Message, "Access token") {
		t.Errorf("bearer: %v; want 401 about the access token", err)
	}
}

func TestAnthropicRequireKey(t *testing.T) {
	t.Parallel()
	f := NewAnthropic(t)
	f.RequireKey("sk-ant-good")
	_, err := anthropicClient(f.URL()).Messages.New(context.Background(), anthropicParams)
	if err == nil || !strings.Contains(err.Error(), "authentication_error") || !strings.Contains(err.Error(), "invalid x-api-key") {
		t.Errorf("wrong key: %v", err)
	}
	if r := f.Requests()[0]; r.Status != 401 {
		t.Errorf("status logged = %d", r.Status)
	}
}
