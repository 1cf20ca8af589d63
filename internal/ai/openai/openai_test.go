package openai_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// jsonDiff compares two JSON documents by value.
func jsonDiff(t *testing.T, want, got []byte) string {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	return cmp.Diff(w, g)
}

// sdkRequest is a request built with the official SDK, using most of the
// parameters Sluice models.
func sdkRequest() sdk.ChatCompletionNewParams {
	return sdk.ChatCompletionNewParams{
		Model: "gpt-4o-mini",
		Messages: []sdk.ChatCompletionMessageParamUnion{
			sdk.SystemMessage("be brief"),
			sdk.DeveloperMessage("use tools"),
			sdk.UserMessage([]sdk.ChatCompletionContentPartUnionParam{
				sdk.TextContentPart("what is this?"),
				sdk.ImageContentPart(sdk.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo=", Detail: "low"}),
				sdk.InputAudioContentPart(sdk.ChatCompletionContentPartInputAudioInputAudioParam{Data: "UklGRg==", Format: "wav"}),
			}),
			{OfAssistant: &sdk.ChatCompletionAssistantMessageParam{
				ToolCalls: []sdk.ChatCompletionMessageToolCallUnionParam{{OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
					ID: "call_1", Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "look", Arguments: `{"q":"x"}`},
				}}},
			}},
			sdk.ToolMessage("a cat", "call_1"),
		},
		Tools: []sdk.ChatCompletionToolUnionParam{sdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "look", Description: sdk.String("look it up"), Strict: sdk.Bool(true),
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
		})},
		ToolChoice:          sdk.ChatCompletionToolChoiceOptionUnionParam{OfAuto: sdk.String("required")},
		ParallelToolCalls:   sdk.Bool(false),
		MaxCompletionTokens: sdk.Int(256),
		Temperature:         sdk.Float(0.2),
		TopP:                sdk.Float(0.9),
		N:                   sdk.Int(1),
		Seed:                sdk.Int(7),
		User:                sdk.String("u-1"),
		Stop:                sdk.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"END", "STOP"}},
		StreamOptions:       sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)},
		ReasoningEffort:     shared.ReasoningEffortLow,
		Metadata:            shared.Metadata{"k": "v"},
		ResponseFormat:      sdk.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		FrequencyPenalty:    sdk.Float(0.5),
		Logprobs:            sdk.Bool(true),
	}
}

// TestDecodeSDKRequest decodes what the official SDK sends and checks that
// encoding it again gives the same JSON: nothing is lost in passthrough.
func TestDecodeSDKRequest(t *testing.T) {
	t.Parallel()
	body, err := json.Marshal(sdkRequest())
	if err != nil {
		t.Fatal(err)
	}
	r, err := openai.DecodeChatRequest(body)
	if err != nil {
		t.Fatalf("DecodeChatRequest(%s) error = %v", body, err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.Model != "gpt-4o-mini" || len(r.Messages) != 5 || *r.MaxCompletionTokens != 256 || *r.Temperature != 0.2 || *r.N != 1 || *r.Seed != 7 ||
		r.User != "u-1" || r.ReasoningEffort != "low" || !r.StreamOptions.IncludeUsage || *r.ParallelToolCalls {
		t.Errorf("scalars wrong: %+v", r)
	}
	if diff := cmp.Diff(openai.Stop{Values: []string{"END", "STOP"}}, r.Stop); diff != "" {
		t.Errorf("stop (-want +got):\n%s", diff)
	}
	if r.ToolChoice.Mode != "required" || r.Tools[0].Function.Name != "look" || !*r.Tools[0].Function.Strict || r.ResponseFormat.Type != "json_object" {
		t.Errorf("tools wrong: %+v %+v", r.ToolChoice, r.Tools)
	}
	user := r.Messages[2].Content.Parts
	if len(user) != 3 || user[1].ImageURL.URL != "data:image/png;base64,iVBORw0KGgo=" || user[1].ImageURL.Detail != "low" || user[2].InputAudio.Format != "wav" {
		t.Errorf("user parts = %+v", user)
	}
	if a := r.Messages[3]; a.ToolCalls[0].Function.Arguments != `{"q":"x"}` || a.ToolCalls[0].ID != "call_1" {
		t.Errorf("assistant = %+v", a)
	}
	if tm := r.Messages[4]; tm.Role != "tool" || tm.ToolCallID != "call_1" || tm.Content.Text != "a cat" {
		t.Errorf("tool message = %+v", tm)
	}
	for _, k := range []string{"frequency_penalty", "logprobs"} {
		if _, ok := r.Extra[k]; !ok {
			t.Errorf("Extra lacks %q: %v", k, r.Extra)
		}
	}
	again, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := jsonDiff(t, body, again); diff != "" {
		t.Errorf("re-encoded request differs (-sdk +ours):\n%s", diff)
	}
}

func TestDecodeChatRequestKeepsUnknown(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"","cache_control":{"type":"ephemeral"}},{"type":"file","file":{"file_id":"f1"}}],"x_msg":1}],` +
		`"stream":true,"stream_options":{"include_usage":false,"include_obfuscation":false},"stop":"END","tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}},` +
		`"tools":[{"type":"custom","custom":{"name":"c"}}],"prediction":{"type":"content","content":"x"},"web_search_options":{}}`
	r, err := openai.DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stop.Single || r.Stop.Values[0] != "END" {
		t.Errorf("stop = %+v; want the single string form", r.Stop)
	}
	again, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := jsonDiff(t, []byte(body), again); diff != "" {
		t.Errorf("re-encoded request differs (-in +out):\n%s", diff)
	}
}

func TestDecodeChatRequestStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, err string
	}{
		{"duplicate model", `{"model":"a","model":"b","messages":[]}`, `duplicate key "model"`},
		{"case variant", `{"Model":"a","messages":[]}`, `key "Model" must be spelled "model"`},
		{"nested case variant", `{"model":"a","messages":[{"Role":"user","content":"x"}]}`, `key "Role" must be spelled "role"`},
		{"nested duplicate", `{"model":"a","messages":[{"role":"user","role":"system","content":"x"}]}`, `duplicate key "role"`},
		{"part duplicate", `{"model":"a","messages":[{"role":"user","content":[{"type":"text","type":"image_url"}]}]}`, `duplicate key "type"`},
		{"content number", `{"model":"a","messages":[{"role":"user","content":1}]}`, "content: want a string"},
		{"invalid JSON", `{"model":`, "unexpected end"},
		{"wrong type", `{"model":1}`, "cannot unmarshal number"},
		{"not an object", `[]`, "cannot unmarshal array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := openai.DecodeChatRequest([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("DecodeChatRequest(%s) error = %v; want %q", tt.body, err, tt.err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, err string }{
		{`{"model":"m","messages":[{"role":"user","content":"x"}]}`, ""},
		{`{"messages":[{"role":"user","content":"x"}]}`, "model: required"},
		{`{"model":"m","messages":[]}`, "messages: at least one"},
		{`{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role: required"},
		{`{"model":"m","messages":[{"role":"bot","content":"x"}]}`, `unknown role "bot"`},
	}
	for _, tt := range tests {
		r, err := openai.DecodeChatRequest([]byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		err = r.Validate()
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("Validate(%s) = %v; want %q", tt.body, err, tt.err)
		}
	}
	e, err := openai.DecodeEmbeddingRequest([]byte(`{"model":"m"}`))
	if err != nil || e.Validate() == nil {
		t.Errorf("embedding request without input: %v, %v; want a validation error", err, e.Validate())
	}
}

// TestChunkEncoding pins the exact bytes of each chunk shape and checks
// that the SDK reads them.
func TestChunkEncoding(t *testing.T) {
	t.Parallel()
	base := func(choices []openai.ChunkChoice, u *openai.Usage) openai.ChatChunk {
		return openai.ChatChunk{ID: "c1", Object: openai.ObjectChunk, Created: 5, Model: "m", Choices: choices, Usage: u}
	}
	tests := []struct {
		name  string
		chunk openai.ChatChunk
		want  string
		check func(t *testing.T, c sdk.ChatCompletionChunk)
	}{
		{"role", base([]openai.ChunkChoice{{Delta: openai.Delta{Role: "assistant"}}}, nil),
			`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
			func(t *testing.T, c sdk.ChatCompletionChunk) {
				if c.Choices[0].Delta.Role != "assistant" || c.Choices[0].JSON.FinishReason.Raw() != "null" {
					t.Errorf("role chunk = %s", c.RawJSON())
				}
			}},
		{"content", base([]openai.ChunkChoice{{Delta: openai.Delta{Content: "hi \"x\"\n"}}}, nil),
			`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{"content":"hi \"x\"\n"},"finish_reason":null}]}`,
			func(t *testing.T, c sdk.ChatCompletionChunk) {
				if c.Choices[0].Delta.Content != "hi \"x\"\n" {
					t.Errorf("content = %q", c.Choices[0].Delta.Content)
				}
			}},
		{"reasoning", base([]openai.ChunkChoice{{Delta: openai.Delta{ReasoningContent: "hmm"}}}, nil),
			`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":"hmm"},"finish_reason":null}]}`, nil},
		{"tool start", base([]openai.ChunkChoice{{Delta: openai.Delta{ToolCalls: []openai.ToolCallDelta{{Index: 1, ID: "call_9", Type: "function", Function: openai.FunctionDelta{Name: "f"}}}}}}, nil),
			`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_9","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}`,
			func(t *testing.T, c sdk.ChatCompletionChunk) {
				tc := c.Choices[0].Delta.ToolCalls[0]
				if tc.Index != 1 || tc.ID != "call_9" || tc.Function.Name != "f" || !tc.Function.JSON.Arguments.Valid() {
					t.Errorf("tool call = %s", tc.RawJSON())
				}
			}},
		{"tool args", base([]openai.ChunkChoice{{Delta: openai.Delta{ToolCalls: []openai.ToolCallDelta{{Index: 1, Function: openai.FunctionDelta{Arguments: `{"a":`}}}}}}, nil),
			`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"a\":"}}]},"finish_reason":null}]}`, nil},
		{"finish", base([]openai.ChunkChoice{{Delta: openai.Delta{}, FinishReason: "stop"}}, nil),
			`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			func(t *testing.T, c sdk.ChatCompletionChunk) {
				if c.Choices[0].FinishReason != "stop" {
					t.Errorf("finish = %q", c.Choices[0].FinishReason)
				}
			}},
		{"usage", base(nil, openai.FromAI(ai.Usage{Input: 10, Output: 4, CachedInput: 6, Reasoning: 2})),
			`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":6},"completion_tokens_details":{"reasoning_tokens":2}}}`,
			func(t *testing.T, c sdk.ChatCompletionChunk) {
				if len(c.Choices) != 0 || c.Usage.PromptTokensDetails.CachedTokens != 6 || c.Usage.CompletionTokensDetails.ReasoningTokens != 2 || c.Usage.TotalTokens != 14 {
					t.Errorf("usage chunk = %s", c.RawJSON())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.chunk)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("encoding =\n%s\nwant\n%s", got, tt.want)
			}
			var c sdk.ChatCompletionChunk
			if err := json.Unmarshal(got, &c); err != nil {
				t.Fatal(err)
			}
			if c.ID != "c1" || c.Object != "chat.completion.chunk" || c.Created != 5 || !c.JSON.Choices.Valid() {
				t.Errorf("SDK read envelope %s", c.RawJSON())
			}
			if tt.check != nil {
				tt.check(t, c)
			}
			back, err := openai.ParseStreamEvent(got)
			if err != nil || back.Chunk == nil {
				t.Fatalf("ParseStreamEvent = %+v, %v", back, err)
			}
			again, _ := back.Chunk.AppendJSON(nil)
			if string(again) != tt.want {
				t.Errorf("parse then encode =\n%s\nwant\n%s", again, tt.want)
			}
		})
	}
}

func TestParseStreamEvent(t *testing.T) {
	t.Parallel()
	ev, err := openai.ParseStreamEvent([]byte(" [DONE]\n"))
	if err != nil || !ev.Done {
		t.Errorf("[DONE] = %+v, %v", ev, err)
	}
	ev, err = openai.ParseStreamEvent([]byte(`{"error":{"message":"boom","type":"server_error","param":null,"code":502}}`))
	if err != nil || ev.Error == nil || ev.Error.Error.Message != "boom" || ev.Error.Error.Code != "502" {
		t.Errorf("error event = %+v, %v", ev, err)
	}
	// DeepSeek sends content null next to reasoning_content.
	ev, err = openai.ParseStreamEvent([]byte(`{"id":"d","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"think"},"logprobs":null,"finish_reason":null}],"usage":null}`))
	if err != nil || ev.Chunk.Choices[0].Delta.ReasoningContent != "think" || ev.Chunk.Usage != nil {
		t.Errorf("deepseek chunk = %+v, %v", ev.Chunk, err)
	}
	if _, err := openai.ParseStreamEvent([]byte(`{"object":"chat.completion","choices":[]}`)); err == nil {
		t.Error("a non-chunk object parsed as a chunk")
	}
	if _, err := openai.ParseStreamEvent([]byte(`{`)); err == nil {
		t.Error("invalid JSON parsed")
	}
	data, err := openai.StreamEvent{Done: true}.AppendData(nil)
	if err != nil || string(data) != "[DONE]" {
		t.Errorf("AppendData(done) = %s, %v", data, err)
	}
	data, _ = openai.StreamEvent{Error: &openai.ErrorBody{Error: openai.Error{Message: "m", Type: "server_error"}}}.AppendData(nil)
	if string(data) != `{"error":{"message":"m","type":"server_error","param":null,"code":null}}` {
		t.Errorf("AppendData(error) = %s", data)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want ai.Usage
	}{
		{"openai", `{"prompt_tokens":100,"completion_tokens":40,"total_tokens":140,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":30,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`,
			ai.Usage{Input: 100, Output: 40, CachedInput: 64, Reasoning: 30}},
		{"deepseek", `{"prompt_tokens":100,"completion_tokens":40,"total_tokens":140,"prompt_cache_hit_tokens":80,"prompt_cache_miss_tokens":20,"completion_tokens_details":{"reasoning_tokens":12}}`,
			ai.Usage{Input: 100, Output: 40, CachedInput: 80, Reasoning: 12}},
		{"minimal", `{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}`, ai.Usage{Input: 3, Output: 2}},
	}
	for _, tt := range tests {
		var u openai.Usage
		if err := json.Unmarshal([]byte(tt.body), &u); err != nil {
			t.Fatal(err)
		}
		if got := u.AI(); got != tt.want {
			t.Errorf("%s: AI() = %+v; want %+v", tt.name, got, tt.want)
		}
		if got := openai.FromAI(tt.want).AI(); got != tt.want {
			t.Errorf("%s: FromAI(...).AI() = %+v; want %+v", tt.name, got, tt.want)
		}
	}
	if got := (*openai.Usage)(nil).AI(); !got.IsZero() {
		t.Errorf("nil usage = %+v", got)
	}
}

func TestStreamUsageAndStripping(t *testing.T) {
	t.Parallel()
	stream := []string{
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}`,
		`[DONE]`,
	}
	var su openai.StreamUsage
	kept := 0
	for _, data := range stream {
		ev, err := openai.ParseStreamEvent([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		su.Observe(ev)
		if ev.Chunk != nil && ev.Chunk.UsageOnly() {
			continue // what the gateway drops when the client did not ask
		}
		kept++
	}
	if kept != 3 {
		t.Errorf("kept %d events; want 3 (the usage chunk dropped)", kept)
	}
	if u, ok := su.Usage(); !ok || u != (ai.Usage{Input: 9, Output: 3, CachedInput: 4}) {
		t.Errorf("Usage() = %+v, %v", u, ok)
	}

	r := &openai.ChatRequest{Stream: true}
	if openai.ForceIncludeUsage(r) || !r.StreamOptions.IncludeUsage {
		t.Errorf("ForceIncludeUsage on a client that did not ask: asked=true or not set")
	}
	r = &openai.ChatRequest{Stream: true, StreamOptions: &openai.StreamOptions{IncludeUsage: true}}
	if !openai.ForceIncludeUsage(r) {
		t.Errorf("ForceIncludeUsage on a client that asked = false")
	}
	r = &openai.ChatRequest{}
	if !openai.ForceIncludeUsage(r) || r.StreamOptions != nil {
		t.Errorf("ForceIncludeUsage changed a non-streaming request")
	}
}

func TestErrorBody(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(openai.ErrorBody{Error: openai.Error{Message: "bad", Type: openai.ErrInvalidRequest, Param: "n", Code: "unsupported_parameter"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"error":{"message":"bad","type":"invalid_request_error","param":"n","code":"unsupported_parameter"}}`; string(b) != want {
		t.Errorf("encoding = %s; want %s", b, want)
	}
	var back openai.ErrorBody
	if err := json.Unmarshal(b, &back); err != nil || back.Error.Param != "n" {
		t.Errorf("decode = %+v, %v", back, err)
	}
	for status, want := range map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error", 500: "server_error", 529: "server_error"} {
		if got := openai.ErrorTypeForStatus(status); got != want {
			t.Errorf("ErrorTypeForStatus(%d) = %q; want %q", status, got, want)
		}
	}
}

func TestEmbeddingRequestRoundTrip(t *testing.T) {
	t.Parallel()
	body, _ := json.Marshal(sdk.EmbeddingNewParams{Model: "e", Input: sdk.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{1, 2}, {3}}},
		Dimensions: sdk.Int(256), EncodingFormat: sdk.EmbeddingNewParamsEncodingFormatFloat, User: sdk.String("u")})
	r, err := openai.DecodeEmbeddingRequest(body)
	if err != nil || r.Validate() != nil || *r.Dimensions != 256 || string(r.Input) != "[[1,2],[3]]" {
		t.Fatalf("decode = %+v, %v", r, err)
	}
	again, _ := json.Marshal(r)
	if diff := jsonDiff(t, body, again); diff != "" {
		t.Errorf("round trip (-sdk +ours):\n%s", diff)
	}
}

func TestPeekUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data      string
		usage     *ai.Usage
		usageOnly bool
	}{
		{`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}`, nil, false},
		{`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":null}`, nil, false},
		{`{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`, &ai.Usage{Input: 5, Output: 2}, true},
		{`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`, &ai.Usage{Input: 5, Output: 2}, false},
		{`[DONE]`, nil, false},
		{`{"id": "c", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}`, &ai.Usage{Input: 1, Output: 1}, true},
		{`{"id":"c","choices":[{"index":0,"delta":{"content":"the \"usage\": {x}"}}],"usage":null}`, nil, false},
	}
	for _, tt := range tests {
		u, only, err := openai.PeekUsage([]byte(tt.data))
		if err != nil || only != tt.usageOnly || (u == nil) != (tt.usage == nil) || (u != nil && u.AI() != *tt.usage) {
			t.Errorf("PeekUsage(%s) = %+v, %v, %v; want %+v, %v", tt.data, u, only, err, tt.usage, tt.usageOnly)
		}
	}
}

func BenchmarkPeekUsage(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":" the quick brown fox"},"logprobs":null,"finish_reason":null}],"usage":null}`)
	b.ReportAllocs()
	for b.Loop() {
		if u, _, _ := openai.PeekUsage(chunk); u != nil {
			b.Fatal("usage")
		}
	}
}
