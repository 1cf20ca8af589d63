package translate_test

// End-to-end tests: the official SDKs as clients of a minimal gateway built
// from this package, internal/sse and the wire packages, in front of the
// fake providers of internal/ai/aitest. They prove that what the
// translations write is what the SDKs expect, streams included.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	antopt "github.com/anthropics/anthropic-sdk-go/option"
	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/aitest"
	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/ai/translate"
	"github.com/sluicegw/sluice/internal/sse"
)

// openAIFront serves the OpenAI chat API in front of an Anthropic upstream.
func openAIFront(t *testing.T, upstream string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := openai.DecodeChatRequest(body)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			writeJSON(w, 400, openai.ErrorBody{Error: openai.Error{Message: err.Error(), Type: openai.ErrInvalidRequest}})
			return
		}
		areq, err := translate.ToAnthropicRequest(req, translate.Options{})
		if err != nil {
			var pe *translate.ParamError
			if errors.As(err, &pe) {
				writeJSON(w, 400, pe.OpenAI())
				return
			}
			t.Fatal(err)
		}
		up, err := post(r.Context(), upstream+"/v1/messages", areq, http.Header{"X-Api-Key": {"k"}, "Anthropic-Version": {"2023-06-01"}})
		if err != nil {
			writeJSON(w, 502, openai.ErrorBody{Error: openai.Error{Message: err.Error(), Type: openai.ErrServer}})
			return
		}
		defer up.Body.Close()
		if up.StatusCode != 200 {
			var eb anthropic.ErrorBody
			_ = json.NewDecoder(up.Body).Decode(&eb)
			writeJSON(w, up.StatusCode, translate.ToOpenAIError(up.StatusCode, &eb))
			return
		}
		if !req.Stream {
			var m anthropic.Message
			if err := json.NewDecoder(up.Body).Decode(&m); err != nil {
				t.Error(err)
				return
			}
			c, err := translate.ToOpenAIResponse(&m, translate.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			writeJSON(w, 200, c)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		sw := sse.NewWriter(w)
		st := translate.NewOpenAIStream(translate.StreamOptions{IncludeUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage})
		write := func(evs []openai.StreamEvent) {
			for _, ev := range evs {
				data, _ := ev.AppendData(nil)
				if err := sw.WriteEvent(sse.Event{Data: data}); err != nil {
					t.Error(err)
				}
			}
		}
		rd := sse.NewReader(up.Body, nil)
		for {
			e, err := rd.Next()
			if err != nil {
				break
			}
			ev, err := anthropic.ParseStreamEvent(e.Data)
			if err != nil {
				break
			}
			out, err := st.Feed(ev)
			write(out)
			if err != nil {
				break
			}
		}
		out, _ := st.Finish()
		write(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// anthropicFront serves the Anthropic messages API in front of an OpenAI
// upstream.
func anthropicFront(t *testing.T, upstream string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := anthropic.DecodeMessagesRequest(body)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			writeJSON(w, 400, anthropic.NewErrorBody(400, err.Error()))
			return
		}
		oreq, err := translate.ToOpenAIRequest(req, translate.Options{})
		if err != nil {
			var pe *translate.ParamError
			if errors.As(err, &pe) {
				writeJSON(w, 400, pe.Anthropic())
				return
			}
			t.Fatal(err)
		}
		up, err := post(r.Context(), upstream+"/v1/chat/completions", oreq, http.Header{"Authorization": {"Bearer k"}})
		if err != nil {
			writeJSON(w, 502, anthropic.NewErrorBody(502, err.Error()))
			return
		}
		defer up.Body.Close()
		if up.StatusCode != 200 {
			var eb openai.ErrorBody
			_ = json.NewDecoder(up.Body).Decode(&eb)
			writeJSON(w, up.StatusCode, translate.ToAnthropicError(up.StatusCode, &eb))
			return
		}
		if !req.Stream {
			var c openai.ChatCompletion
			if err := json.NewDecoder(up.Body).Decode(&c); err != nil {
				t.Error(err)
				return
			}
			m, err := translate.ToAnthropicResponse(&c)
			if err != nil {
				t.Error(err)
				return
			}
			writeJSON(w, 200, m)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		sw := sse.NewWriter(w)
		st := translate.NewAnthropicStream(translate.StreamOptions{InputTokens: 3})
		write := func(evs []anthropic.StreamEvent) {
			for i := range evs {
				data, _ := evs[i].AppendJSON(nil)
				if err := sw.WriteEvent(sse.Event{Type: evs[i].Type, Data: data}); err != nil {
					t.Error(err)
				}
			}
		}
		rd := sse.NewReader(up.Body, nil)
		for {
			e, err := rd.Next()
			if err != nil {
				break
			}
			ev, err := openai.ParseStreamEvent(e.Data)
			if err != nil {
				break
			}
			out, err := st.Feed(ev)
			write(out)
			if err != nil {
				break
			}
		}
		out, _ := st.Finish()
		write(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func post(ctx context.Context, url string, v any, h http.Header) (*http.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var reply = aitest.Reply{
	Text:      "Checking the weather.",
	Reasoning: "User wants weather.",
	ToolCalls: []aitest.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_2", Name: "get_time", Arguments: `{"tz":"CET"}`}},
	Usage:     ai.Usage{Input: 120, Output: 40, CachedInput: 100},
	ChunkSize: 6,
}

func openaiClient(url string) *oaisdk.Client {
	c := oaisdk.NewClient(oaiopt.WithBaseURL(url+"/v1"), oaiopt.WithAPIKey("client-key"), oaiopt.WithMaxRetries(0))
	return &c
}

func anthropicClient(url string) *antsdk.Client {
	c := antsdk.NewClient(antopt.WithBaseURL(url), antopt.WithAPIKey("client-key"), antopt.WithMaxRetries(0))
	return &c
}

var chatParams = oaisdk.ChatCompletionNewParams{
	Model: "claude-haiku-4-5",
	Messages: []oaisdk.ChatCompletionMessageParamUnion{
		oaisdk.SystemMessage("be brief"),
		oaisdk.UserMessage("weather in Paris, and the time?"),
	},
	Tools: []oaisdk.ChatCompletionToolUnionParam{
		oaisdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object"}}),
		oaisdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time"}),
	},
}

func TestE2EOpenAIClientAnthropicUpstream(t *testing.T) {
	t.Parallel()
	up := aitest.NewAnthropic(t)
	up.SetReply(reply)
	c := openaiClient(openAIFront(t, up.URL()).URL)

	res, err := c.Chat.Completions.New(context.Background(), chatParams)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Choices[0].Message
	if m.Content != reply.Text || len(m.ToolCalls) != 2 || m.ToolCalls[1].Function.Arguments != `{"tz":"CET"}` || res.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("response = %s", res.RawJSON())
	}
	if u := res.Usage; u.PromptTokens != 120 || u.PromptTokensDetails.CachedTokens != 100 || u.CompletionTokens != 40 {
		t.Errorf("usage = %s", u.RawJSON())
	}
	var sent anthropic.MessagesRequest
	if err := json.Unmarshal(up.Requests()[0].Body, &sent); err != nil || sent.MaxTokens != translate.DefaultMaxTokens || sent.System.Text != "be brief" || len(sent.Tools) != 2 {
		t.Errorf("upstream request = %s, %v", up.Requests()[0].Body, err)
	}

	params := chatParams
	params.StreamOptions = oaisdk.ChatCompletionStreamOptionsParam{IncludeUsage: oaisdk.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(context.Background(), params)
	var acc oaisdk.ChatCompletionAccumulator
	var reasoning strings.Builder
	var last oaisdk.ChatCompletionChunk
	for stream.Next() {
		last = stream.Current()
		if !acc.AddChunk(last) {
			t.Fatalf("accumulator refused %s", last.RawJSON())
		}
		if len(last.Choices) > 0 {
			if r, ok := last.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
				var s string
				_ = json.Unmarshal([]byte(r.Raw()), &s)
				reasoning.WriteString(s)
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	m = acc.Choices[0].Message
	if m.Content != reply.Text || len(m.ToolCalls) != 2 || m.ToolCalls[0].ID != "call_1" || m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` ||
		acc.Choices[0].FinishReason != "tool_calls" || reasoning.String() != reply.Reasoning {
		t.Errorf("accumulated = %+v, reasoning %q", acc.ChatCompletion, reasoning.String())
	}
	if len(last.Choices) != 0 || last.Usage.PromptTokens != 120 || last.Usage.PromptTokensDetails.CachedTokens != 100 || last.Usage.CompletionTokens != 40 {
		t.Errorf("last chunk = %s; want the usage chunk", last.RawJSON())
	}
}

func TestE2EOpenAIClientAnthropicFailures(t *testing.T) {
	t.Parallel()
	up := aitest.NewAnthropic(t)
	c := openaiClient(openAIFront(t, up.URL()).URL)
	up.Enqueue(aitest.Fault{Status: anthropic.StatusOverloaded}, aitest.Fault{CutAfter: 5}, aitest.Fault{ErrorAfter: 4})

	_, err := c.Chat.Completions.New(context.Background(), chatParams)
	var apiErr *oaisdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || apiErr.Code != "overloaded_error" || apiErr.Type != "server_error" {
		t.Errorf("529 error = %v", err)
	}
	for _, want := range []string{"stream_truncated", "overloaded_error"} {
		stream := c.Chat.Completions.NewStreaming(context.Background(), chatParams)
		for stream.Next() {
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("stream error = %v; want one mentioning %s", err, want)
		}
	}
	// An untranslatable parameter is refused before any upstream call.
	before := len(up.Requests())
	params := chatParams
	params.N = oaisdk.Int(2)
	_, err = c.Chat.Completions.New(context.Background(), params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "n" {
		t.Errorf("n=2 error = %v", err)
	}
	if len(up.Requests()) != before {
		t.Error("a refused request reached the upstream")
	}
}

var messageParams = antsdk.MessageNewParams{
	Model:     "gpt-4o-mini",
	MaxTokens: 512,
	System:    []antsdk.TextBlockParam{{Text: "be brief"}},
	Messages:  []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("weather in Paris, and the time?"))},
	Tools: []antsdk.ToolUnionParam{
		{OfTool: &antsdk.ToolParam{Name: "get_weather", InputSchema: antsdk.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}},
		{OfTool: &antsdk.ToolParam{Name: "get_time", InputSchema: antsdk.ToolInputSchemaParam{}}},
	},
}

func TestE2EAnthropicClientOpenAIUpstream(t *testing.T) {
	t.Parallel()
	up := aitest.NewOpenAI(t)
	up.SetReply(reply)
	c := anthropicClient(anthropicFront(t, up.URL()).URL)

	m, err := c.Messages.New(context.Background(), messageParams)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 4 || m.Content[0].Thinking != reply.Reasoning || m.Content[1].Text != reply.Text || m.Content[3].Name != "get_time" ||
		string(m.Content[2].Input) != `{"city":"Paris"}` || m.StopReason != antsdk.StopReasonToolUse {
		t.Errorf("message = %s", m.RawJSON())
	}
	if u := m.Usage; u.InputTokens != 20 || u.CacheReadInputTokens != 100 || u.OutputTokens != 40 {
		t.Errorf("usage = %s", u.RawJSON())
	}
	var sent openai.ChatRequest
	if err := json.Unmarshal(up.Requests()[0].Body, &sent); err != nil || *sent.MaxCompletionTokens != 512 || sent.Messages[0].Role != "system" || len(sent.Tools) != 2 {
		t.Errorf("upstream request = %s, %v", up.Requests()[0].Body, err)
	}

	stream := c.Messages.NewStreaming(context.Background(), messageParams)
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
	if len(acc.Content) != 4 || acc.Content[0].Thinking != reply.Reasoning || acc.Content[1].Text != reply.Text || string(acc.Content[3].Input) != `{"tz":"CET"}` || acc.StopReason != antsdk.StopReasonToolUse {
		t.Errorf("accumulated = %s", acc.RawJSON())
	}
	// message_start had only the estimate; message_delta carried the real
	// counts, which the SDK merged.
	if u := acc.Usage; u.InputTokens != 20 || u.CacheReadInputTokens != 100 || u.OutputTokens != 40 {
		t.Errorf("usage = %+v", u)
	}
	if err := json.Unmarshal(up.Requests()[1].Body, &sent); err != nil || !sent.Stream || !sent.StreamOptions.IncludeUsage {
		t.Errorf("streaming upstream request = %s; want include_usage", up.Requests()[1].Body)
	}
}

func TestE2EAnthropicClientOpenAIFailures(t *testing.T) {
	t.Parallel()
	up := aitest.NewOpenAI(t)
	c := anthropicClient(anthropicFront(t, up.URL()).URL)
	up.Enqueue(aitest.Fault{Status: 429, RetryAfter: "2"}, aitest.Fault{ErrorAfter: 3}, aitest.Fault{CutAfter: 3})

	_, err := c.Messages.New(context.Background(), messageParams)
	var apiErr *antsdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type() != "rate_limit_error" {
		t.Errorf("429 error = %v", err)
	}
	for _, want := range []string{"api_error", "ended before it was complete"} {
		stream := c.Messages.NewStreaming(context.Background(), messageParams)
		for stream.Next() {
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("stream error = %v; want one mentioning %q", err, want)
		}
	}
	params := messageParams
	params.TopK = antsdk.Int(5)
	_, err = c.Messages.New(context.Background(), params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Error(), "top_k") {
		t.Errorf("top_k error = %v", err)
	}
}

// TestE2EStreamingIsNotBuffered releases the upstream's events one at a
// time and checks that the client receives the translation of each before
// the next is released: the translation holds back nothing but the final
// message_delta, which needs the usage chunk.
func TestE2EStreamingIsNotBuffered(t *testing.T) {
	t.Parallel()
	up := aitest.NewOpenAI(t)
	up.SetReply(aitest.Reply{Text: "abcd", ChunkSize: 2, Usage: ai.Usage{Input: 5, Output: 2}})
	gate := up.Step()
	c := anthropicClient(anthropicFront(t, up.URL()).URL)
	// The front sends its headers with its first event, so NewStreaming
	// returns only once the first upstream event is released.
	gate.Release(1)
	stream := c.Messages.NewStreaming(context.Background(), antsdk.MessageNewParams{Model: "m", MaxTokens: 5,
		Messages: []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("hi"))}})
	steps := []struct {
		upstream string   // what the release lets through
		client   []string // what the client must then see
	}{
		{"role chunk", []string{"message_start"}},
		{`"ab"`, []string{"content_block_start", "content_block_delta"}},
		{`"cd"`, []string{"content_block_delta"}},
		{"finish chunk", []string{"content_block_stop"}},
		{"usage chunk", nil},
		{"[DONE]", []string{"message_delta", "message_stop"}},
	}
	for i, st := range steps {
		if i > 0 {
			gate.Release(1)
		}
		<-gate.Sent()
		for _, want := range st.client {
			if !stream.Next() {
				t.Fatalf("after %s: stream ended: %v", st.upstream, stream.Err())
			}
			if got := stream.Current().Type; got != want {
				t.Fatalf("after %s: got %s; want %s", st.upstream, got, want)
			}
		}
	}
	if stream.Next() || stream.Err() != nil {
		t.Errorf("stream did not end cleanly: %v", stream.Err())
	}
}
