package route_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	antopt "github.com/anthropics/anthropic-sdk-go/option"
	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/aitest"
	"github.com/sluicegw/sluice/internal/ai/route"
)

var toolReply = aitest.Reply{
	Text:      "Checking the weather.",
	ToolCalls: []aitest.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_2", Name: "get_time", Arguments: `{"tz":"CET"}`}},
	Usage:     ai.Usage{Input: 120, Output: 40, CachedInput: 100},
	ChunkSize: 6,
}

var chatParams = oaisdk.ChatCompletionNewParams{
	Model: "smart",
	Messages: []oaisdk.ChatCompletionMessageParamUnion{
		oaisdk.SystemMessage("be brief"),
		oaisdk.UserMessage("weather in Paris, and the time?"),
	},
	Tools: []oaisdk.ChatCompletionToolUnionParam{
		oaisdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object"}}),
		oaisdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time"}),
	},
}

var messageParams = antsdk.MessageNewParams{
	Model:     "smart",
	MaxTokens: 512,
	System:    []antsdk.TextBlockParam{{Text: "be brief"}},
	Messages:  []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("weather in Paris, and the time?"))},
	Tools: []antsdk.ToolUnionParam{
		{OfTool: &antsdk.ToolParam{Name: "get_weather", InputSchema: antsdk.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}},
		{OfTool: &antsdk.ToolParam{Name: "get_time", InputSchema: antsdk.ToolInputSchemaParam{}}},
	},
}

// upstream starts a fake of kind ("openai" or "anthropic") with reply and
// returns it as provider "up".
func upstream(t *testing.T, kind string, reply aitest.Reply) (route.Provider, func() []aitest.Request) {
	if kind == "openai" {
		f := aitest.NewOpenAI(t)
		f.SetReply(reply)
		return oaiProvider("up", f.URL()), f.Requests
	}
	f := aitest.NewAnthropic(t)
	f.SetReply(reply)
	return antProvider("up", f.URL()), f.Requests
}

// checkNoClientKey fails if the client's key reached a provider.
func checkNoClientKey(t *testing.T, reqs []aitest.Request) {
	t.Helper()
	for i, r := range reqs {
		for name, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, "client-secret-key") {
					t.Errorf("upstream request %d carried the client's key in %s", i, name)
				}
			}
		}
	}
}

func checkResult(t *testing.T, r route.Result, stream bool, want ai.Usage) {
	t.Helper()
	if r.Provider != "up" || r.ProviderModel != "real-model" || r.Model != "smart" || r.Stream != stream || r.Attempts != 1 ||
		r.Fallbacks != 0 || r.ErrorKind != "" || r.Status != 200 || !r.UsageKnown || r.Usage != want {
		t.Errorf("Result = %+v; want usage %+v", r, want)
	}
}

func TestOpenAIIngress(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"openai", "anthropic"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p, reqs := upstream(t, kind, toolReply)
			fr := newFront(t, one([]route.Provider{p}, route.Target{Provider: "up", Model: "real-model"}))
			c := fr.openai()
			ctx := context.Background()

			var raw *http.Response
			res, err := c.Chat.Completions.New(ctx, chatParams, oaiopt.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			m := res.Choices[0].Message
			if m.Content != toolReply.Text || len(m.ToolCalls) != 2 || m.ToolCalls[1].Function.Arguments != `{"tz":"CET"}` || res.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("response = %s", res.RawJSON())
			}
			if u := res.Usage; u.PromptTokens != 120 || u.PromptTokensDetails.CachedTokens != 100 || u.CompletionTokens != 40 {
				t.Errorf("usage = %s", u.RawJSON())
			}
			if p, m := raw.Header.Get(route.HeaderProvider), raw.Header.Get(route.HeaderModel); p != "up" || m != "real-model" {
				t.Errorf("headers name %q/%q; want up/real-model", p, m)
			}
			want := ai.Usage{Input: 120, Output: 40, CachedInput: 100}
			checkResult(t, fr.result(t), false, want)

			for _, includeUsage := range []bool{false, true} {
				params := chatParams
				if includeUsage {
					params.StreamOptions = oaisdk.ChatCompletionStreamOptionsParam{IncludeUsage: oaisdk.Bool(true)}
				}
				stream := c.Chat.Completions.NewStreaming(ctx, params, oaiopt.WithResponseInto(&raw))
				var acc oaisdk.ChatCompletionAccumulator
				var last oaisdk.ChatCompletionChunk
				for stream.Next() {
					last = stream.Current()
					if !acc.AddChunk(last) {
						t.Fatalf("accumulator refused %s", last.RawJSON())
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				m := acc.Choices[0].Message
				if m.Content != toolReply.Text || len(m.ToolCalls) != 2 || m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || acc.Choices[0].FinishReason != "tool_calls" {
					t.Errorf("include_usage=%v: accumulated = %+v", includeUsage, acc.ChatCompletion)
				}
				gotUsageChunk := len(last.Choices) == 0 && last.Usage.PromptTokens == 120 && last.Usage.CompletionTokens == 40 &&
					last.Usage.PromptTokensDetails.CachedTokens == 100
				if gotUsageChunk != includeUsage {
					t.Errorf("include_usage=%v: last chunk = %s", includeUsage, last.RawJSON())
				}
				if raw.Header.Get(route.HeaderProvider) != "up" || raw.Header.Get("Content-Type") != "text/event-stream" {
					t.Errorf("stream headers = %v", raw.Header)
				}
				checkResult(t, fr.result(t), true, want)
			}
			got := reqs()
			if len(got) != 3 {
				t.Fatalf("upstream saw %d requests; want 3", len(got))
			}
			if kind == "openai" {
				// Sluice asked for usage although the client did not.
				var sent struct {
					Model         string `json:"model"`
					StreamOptions struct {
						IncludeUsage bool `json:"include_usage"`
					} `json:"stream_options"`
				}
				if err := json.Unmarshal(got[1].Body, &sent); err != nil || !sent.StreamOptions.IncludeUsage || sent.Model != "real-model" {
					t.Errorf("streaming upstream request = %s", got[1].Body)
				}
				if a := got[0].Header.Get("Authorization"); a != "Bearer sk-up" {
					t.Errorf("upstream Authorization = %q", a)
				}
			} else if k, v := got[0].Header.Get("X-Api-Key"), got[0].Header.Get("Anthropic-Version"); k != "sk-ant-up" || v != route.DefaultAnthropicVersion {
				t.Errorf("upstream x-api-key %q, anthropic-version %q", k, v)
			}
			checkNoClientKey(t, got)
		})
	}
}

func TestAnthropicIngress(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"openai", "anthropic"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p, reqs := upstream(t, kind, toolReply)
			fr := newFront(t, one([]route.Provider{p}, route.Target{Provider: "up", Model: "real-model"}))
			ctx := context.Background()
			want := ai.Usage{Input: 120, Output: 40, CachedInput: 100}

			// Both ways of sending the client's key are accepted.
			for _, bearer := range []bool{false, true} {
				c := fr.anthropic()
				var opts []antopt.RequestOption
				var raw *http.Response
				opts = append(opts, antopt.WithResponseInto(&raw))
				if bearer {
					opts = append(opts, antopt.WithHeaderDel("X-Api-Key"), antopt.WithHeader("Authorization", "Bearer client-secret-key"),
						antopt.WithHeader("Anthropic-Version", "2099-01-01"))
				}
				m, err := c.Messages.New(ctx, messageParams, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Content) != 3 || m.Content[0].Text != toolReply.Text || string(m.Content[1].Input) != `{"city":"Paris"}` ||
					m.Content[2].Name != "get_time" || m.StopReason != antsdk.StopReasonToolUse {
					t.Errorf("message = %s", m.RawJSON())
				}
				if u := m.Usage; u.InputTokens != 20 || u.CacheReadInputTokens != 100 || u.OutputTokens != 40 {
					t.Errorf("usage = %s", u.RawJSON())
				}
				if raw.Header.Get(route.HeaderProvider) != "up" || raw.Header.Get(route.HeaderModel) != "real-model" {
					t.Errorf("headers = %v", raw.Header)
				}
				checkResult(t, fr.result(t), false, want)
			}

			stream := fr.anthropic().Messages.NewStreaming(ctx, messageParams)
			var acc antsdk.Message
			var types []string
			for stream.Next() {
				ev := stream.Current()
				types = append(types, ev.Type)
				if err := acc.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if types[0] != "message_start" || types[len(types)-1] != "message_stop" {
				t.Errorf("event types = %v", types)
			}
			if len(acc.Content) != 3 || acc.Content[0].Text != toolReply.Text || string(acc.Content[2].Input) != `{"tz":"CET"}` || acc.StopReason != antsdk.StopReasonToolUse {
				t.Errorf("accumulated = %s", acc.RawJSON())
			}
			if u := acc.Usage; u.InputTokens != 20 || u.CacheReadInputTokens != 100 || u.OutputTokens != 40 {
				t.Errorf("usage = %+v", u)
			}
			checkResult(t, fr.result(t), true, want)
			checkNoClientKey(t, reqs())
		})
	}
}

func TestEmbeddingsAndModels(t *testing.T) {
	t.Parallel()
	f := aitest.NewOpenAI(t)
	f.SetReply(aitest.Reply{Usage: ai.Usage{Input: 9}})
	cfg := route.Config{
		Providers: []route.Provider{oaiProvider("up", f.URL()), antProvider("claude", aitest.RefusedURL(t))},
		Models: []route.Model{
			{Name: "embed", Targets: []route.Target{{Provider: "claude", Model: "x"}, {Provider: "up", Model: "text-embedding-3-small"}}},
			{Name: "smart", Targets: []route.Target{{Provider: "claude", Model: "claude-haiku-4-5"}}},
		},
	}
	fr := newFront(t, cfg)
	c := fr.openai()
	res, err := c.Embeddings.New(context.Background(), oaisdk.EmbeddingNewParams{
		Model: "embed",
		Input: oaisdk.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || res.Usage.PromptTokens != 9 || res.Model != "text-embedding-3-small" {
		t.Errorf("embeddings = %s", res.RawJSON())
	}
	// The Anthropic target cannot embed and is skipped, not tried.
	if r := fr.result(t); r.Operation != "embeddings" || r.Usage.Input != 9 || r.Attempts != 1 || r.Provider != "up" {
		t.Errorf("Result = %+v", r)
	}
	_, err = c.Embeddings.New(context.Background(), oaisdk.EmbeddingNewParams{Model: "smart", Input: oaisdk.EmbeddingNewParamsInputUnion{OfString: oaisdk.String("a")}})
	if apiErr := (*oaisdk.Error)(nil); !asErr(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("embeddings on an Anthropic-only model: %v", err)
	}
	fr.result(t)

	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "embed,smart" {
		t.Errorf("models = %v", ids)
	}
}

func TestMockProvider(t *testing.T) {
	t.Parallel()
	cfg := route.Config{
		Providers: []route.Provider{{Name: "mock", Type: route.TypeMock}},
		Models:    []route.Model{{Name: "*", Targets: []route.Target{{Provider: "mock"}}}},
	}
	fr := newFront(t, cfg)
	ctx := context.Background()
	params := oaisdk.ChatCompletionNewParams{Model: "any-name", Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("hi there")}}
	res, err := fr.openai().Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	text := res.Choices[0].Message.Content
	if !strings.Contains(text, "You said: hi there") || res.Model != "any-name" || res.Usage.PromptTokens != 3 {
		t.Errorf("mock answer = %s", res.RawJSON())
	}
	r := fr.result(t)
	if r.Provider != "mock" || r.ProviderModel != "any-name" || r.Usage.Input != 3 || r.Usage.Output != res.Usage.CompletionTokens {
		t.Errorf("Result = %+v", r)
	}

	stream := fr.openai().Chat.Completions.NewStreaming(ctx, params)
	var acc oaisdk.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if stream.Err() != nil || acc.Choices[0].Message.Content != text {
		t.Errorf("mock stream = %q, %v", acc.Choices[0].Message.Content, stream.Err())
	}
	if r := fr.result(t); r.Usage.Output != res.Usage.CompletionTokens || !r.UsageKnown {
		t.Errorf("stream Result = %+v", r)
	}

	as := fr.anthropic().Messages.NewStreaming(ctx, antsdk.MessageNewParams{Model: "claude-x", MaxTokens: 10,
		Messages: []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("hi there"))}})
	var msg antsdk.Message
	for as.Next() {
		if err := msg.Accumulate(as.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if as.Err() != nil || len(msg.Content) != 1 || msg.Content[0].Text != text || msg.Usage.InputTokens != 3 {
		t.Errorf("mock via Anthropic = %s, %v", msg.RawJSON(), as.Err())
	}
	fr.result(t)
}
