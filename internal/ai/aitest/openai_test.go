package aitest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

func openaiClient(url string) *sdk.Client {
	c := sdk.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	return &c
}

var toolReply = Reply{
	Text:      "Let me check.",
	Reasoning: "The user wants weather.",
	ToolCalls: []ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_2", Name: "get_time", Arguments: `{"tz":"CET"}`}},
	Usage:     ai.Usage{Input: 50, Output: 20, CachedInput: 32, Reasoning: 5},
	ChunkSize: 4,
}

func TestOpenAIChat(t *testing.T) {
	t.Parallel()
	f := NewOpenAI(t)
	f.SetReply(toolReply)
	c := openaiClient(f.URL())
	res, err := c.Chat.Completions.New(context.Background(), sdk.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("weather?")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "chatcmpl-fake-1" || res.Model != "gpt-4o-mini" || res.Object != "chat.completion" || res.Created != created {
		t.Errorf("envelope = %q %q %q %d", res.ID, res.Model, res.Object, res.Created)
	}
	ch := res.Choices[0]
	if ch.FinishReason != "tool_calls" || ch.Message.Content != "Let me check." || len(ch.Message.ToolCalls) != 2 {
		t.Fatalf("choice = %+v", ch)
	}
	if tc := ch.Message.ToolCalls[1]; tc.ID != "call_2" || tc.Function.Name != "get_time" || tc.Function.Arguments != `{"tz":"CET"}` || tc.Type != "function" {
		t.Errorf("tool call = %+v", tc)
	}
	if got := ch.Message.JSON.ExtraFields["reasoning_content"].Raw(); got != `"The user wants weather."` {
		t.Errorf("reasoning_content = %s", got)
	}
	u := res.Usage
	if u.PromptTokens != 50 || u.CompletionTokens != 20 || u.TotalTokens != 70 || u.PromptTokensDetails.CachedTokens != 32 || u.CompletionTokensDetails.ReasoningTokens != 5 {
		t.Errorf("usage = %+v", u)
	}
	reqs := f.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Bearer sk-test" || reqs[0].Path != "/v1/chat/completions" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestOpenAIChatStream(t *testing.T) {
	t.Parallel()
	for _, includeUsage := range []bool{false, true} {
		f := NewOpenAI(t)
		f.SetReply(toolReply)
		c := openaiClient(f.URL())
		params := sdk.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}}
		if includeUsage {
			params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
		}
		stream := c.Chat.Completions.NewStreaming(context.Background(), params)
		var acc sdk.ChatCompletionAccumulator
		var chunks []sdk.ChatCompletionChunk
		for stream.Next() {
			chunk := stream.Current()
			chunks = append(chunks, chunk)
			acc.AddChunk(chunk)
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		first := chunks[0]
		if first.Choices[0].Delta.Role != "assistant" || first.Choices[0].Delta.JSON.Content.Raw() != `""` {
			t.Errorf("first chunk delta = %s; want role assistant and content \"\"", first.Choices[0].Delta.RawJSON())
		}
		last := chunks[len(chunks)-1]
		if includeUsage {
			if len(last.Choices) != 0 || last.Usage.PromptTokens != 50 || last.Usage.PromptTokensDetails.CachedTokens != 32 {
				t.Errorf("last chunk = %s; want the usage chunk", last.RawJSON())
			}
			if last.JSON.Choices.Raw() != "[]" {
				t.Errorf("usage chunk choices = %s; want []", last.JSON.Choices.Raw())
			}
		} else if len(last.Choices) != 1 || last.Choices[0].FinishReason != "tool_calls" || last.JSON.Usage.Valid() {
			t.Errorf("last chunk = %s; want the finish chunk without usage", last.RawJSON())
		}
		m := acc.Choices[0].Message
		if m.Content != "Let me check." || len(m.ToolCalls) != 2 || m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || m.ToolCalls[1].ID != "call_2" {
			t.Errorf("accumulated message = %+v", m)
		}
		var reasoning strings.Builder
		for _, ch := range chunks {
			if len(ch.Choices) > 0 {
				if r, ok := ch.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
					var s string
					_ = json.Unmarshal([]byte(r.Raw()), &s)
					reasoning.WriteString(s)
				}
			}
		}
		if reasoning.String() != toolReply.Reasoning {
			t.Errorf("reasoning = %q", reasoning.String())
		}
	}
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	f := NewOpenAI(t)
	f.Enqueue(
		Fault{Status: http.StatusTooManyRequests, RetryAfter: "7", Message: "slow down"},
		Fault{Status: http.StatusInternalServerError},
	)
	c := openaiClient(f.URL())
	params := sdk.ChatCompletionNewParams{Model: "m", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}}
	var resp *http.Response
	_, err := c.Chat.Completions.New(context.Background(), params, option.WithResponseInto(&resp))
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type != "rate_limit_error" || apiErr.Code != "rate_limit_exceeded" || apiErr.Message != "slow down" {
		t.Fatalf("first error = %v", err)
	}
	if got := resp.Header.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After = %q; want 7", got)
	}
	if !apiErr.JSON.Param.Valid() && apiErr.JSON.Param.Raw() != "null" {
		t.Errorf("param = %q; want null", apiErr.JSON.Param.Raw())
	}
	_, err = c.Chat.Completions.New(context.Background(), params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || apiErr.Type != "server_error" {
		t.Fatalf("second error = %v", err)
	}
	if _, err := c.Chat.Completions.New(context.Background(), params); err != nil {
		t.Fatalf("third request (queue empty) error = %v", err)
	}
	// A bad request is refused in OpenAI's shape.
	_, err = c.Chat.Completions.New(context.Background(), sdk.ChatCompletionNewParams{Model: "m"})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type != "invalid_request_error" {
		t.Fatalf("bad request error = %v", err)
	}
}

func TestOpenAIMidStreamFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, n int, err error)
	}{
		{name: "cut", fault: Fault{CutAfter: 3}, check: func(t *testing.T, n int, err error) {
			if n != 3 || err == nil {
				t.Errorf("got %d chunks, error %v; want 3 and an error", n, err)
			}
		}},
		{name: "clean cut", fault: Fault{CutAfter: 3, CleanCut: true}, check: func(t *testing.T, n int, err error) {
			if n != 3 || err != nil {
				t.Errorf("got %d chunks, error %v; want 3 and a clean end without [DONE]", n, err)
			}
		}},
		{name: "error event", fault: Fault{ErrorAfter: 2}, check: func(t *testing.T, n int, err error) {
			if n != 2 || err == nil || !strings.Contains(err.Error(), "server_error") {
				t.Errorf("got %d chunks, error %v; want 2 and the error event", n, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := NewOpenAI(t)
			f.Enqueue(tt.fault)
			stream := openaiClient(f.URL()).Chat.Completions.NewStreaming(context.Background(),
				sdk.ChatCompletionNewParams{Model: "m", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}})
			n := 0
			for stream.Next() {
				n++
			}
			tt.check(t, n, stream.Err())
		})
	}
}

func TestOpenAIStallAndRefuse(t *testing.T) {
	t.Parallel()
	f := NewOpenAI(t)
	release := make(chan struct{})
	f.Enqueue(Fault{StallFirstToken: release}, Fault{Refuse: true})
	stream := openaiClient(f.URL()).Chat.Completions.NewStreaming(context.Background(),
		sdk.ChatCompletionNewParams{Model: "m", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}})
	if !stream.Next() || stream.Current().Choices[0].Delta.Role != "assistant" {
		t.Fatalf("first chunk = %v, %v; want the role chunk before the stall", stream.Current(), stream.Err())
	}
	close(release)
	n := 1
	for stream.Next() {
		n++
	}
	if stream.Err() != nil || n < 3 {
		t.Fatalf("after release: %d chunks, %v", n, stream.Err())
	}
	_, err := openaiClient(f.URL()).Chat.Completions.New(context.Background(),
		sdk.ChatCompletionNewParams{Model: "m", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}})
	if err == nil {
		t.Error("refused request succeeded")
	}
	_, err = openaiClient(RefusedURL(t)).Models.List(context.Background())
	if err == nil {
		t.Error("request to RefusedURL succeeded")
	}
}

func TestOpenAIStalledRequestEndsWithClient(t *testing.T) {
	t.Parallel()
	f := NewOpenAI(t)
	never := make(chan struct{})
	f.Enqueue(Fault{StallHeaders: never})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := openaiClient(f.URL()).Models.List(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v; want context.Canceled", err)
	}
}

// TestOpenAIStepMode checks that in step mode the fake writes event N+1 only
// after the test releases it, and that the client sees each event before
// the next is released: the base for streaming-is-not-buffered tests.
func TestOpenAIStepMode(t *testing.T) {
	t.Parallel()
	f := NewOpenAI(t)
	f.SetReply(Reply{Text: "abcdef", ChunkSize: 2, Usage: ai.Usage{Input: 1, Output: 3}})
	gate := f.Step()
	stream := openaiClient(f.URL()).Chat.Completions.NewStreaming(context.Background(),
		sdk.ChatCompletionNewParams{Model: "m", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}})
	var got []string
	for i := 1; ; i++ {
		gate.Release(1)
		if !stream.Next() {
			break
		}
		if n := <-gate.Sent(); n != i {
			t.Fatalf("server sent %d events; want %d", n, i)
		}
		if cs := stream.Current().Choices; len(cs) > 0 {
			got = append(got, cs[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "ab", "cd", "ef", ""}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("deltas = %q; want %q", got, want)
	}
}

func TestOpenAIEmbeddingsAndModels(t *testing.T) {
	t.Parallel()
	f := NewOpenAI(t)
	c := openaiClient(f.URL())
	res, err := c.Embeddings.New(context.Background(), sdk.EmbeddingNewParams{
		Model: "text-embedding-3-small",
		Input: sdk.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || res.Data[1].Index != 1 || len(res.Data[1].Embedding) != 3 || res.Data[1].Embedding[0] != 1.5 || res.Usage.PromptTokens != 12 {
		t.Errorf("embeddings = %+v", res)
	}
	// The SDK asks for base64 by default when no format is given and decodes it.
	res, err = c.Embeddings.New(context.Background(), sdk.EmbeddingNewParams{Model: "m", Input: sdk.EmbeddingNewParamsInputUnion{OfString: sdk.String("x")},
		EncodingFormat: sdk.EmbeddingNewParamsEncodingFormatBase64})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 1 {
		t.Errorf("base64 embeddings = %+v", res)
	}
	var req openai.EmbeddingRequest
	if err := json.Unmarshal(f.Requests()[1].Body, &req); err != nil || req.EncodingFormat != "base64" {
		t.Errorf("request encoding_format = %q, %v", req.EncodingFormat, err)
	}
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != "gpt-4o-mini" || page.Data[0].OwnedBy != "fake" || page.Data[0].Object != "model" {
		t.Errorf("models = %+v", page.Data)
	}
}
