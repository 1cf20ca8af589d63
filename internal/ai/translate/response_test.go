package translate

import (
	"encoding/json"
	"strings"
	"testing"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	oaisdk "github.com/openai/openai-go/v3"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

func TestToOpenAIResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		want  string
		check func(t *testing.T, c oaisdk.ChatCompletion)
	}{
		{
			name: "text with cache usage",
			in: `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hello"},{"type":"text","text":" world","citations":[]}],` +
				`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":3,"cache_read_input_tokens":20,"output_tokens":5}}`,
			want: `{"id":"msg_1","object":"chat.completion","created":1700000000,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"Hello world"},"logprobs":null,"finish_reason":"stop"}],` +
				`"usage":{"prompt_tokens":33,"completion_tokens":5,"total_tokens":38,"prompt_tokens_details":{"cached_tokens":20},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			check: func(t *testing.T, c oaisdk.ChatCompletion) {
				if c.Choices[0].Message.Content != "Hello world" || c.Usage.PromptTokens != 33 || c.Usage.PromptTokensDetails.CachedTokens != 20 {
					t.Errorf("SDK read %s", c.RawJSON())
				}
			},
		},
		{
			name: "thinking and tools",
			in: `{"id":"msg_2","type":"message","role":"assistant","model":"claude","content":[{"type":"thinking","thinking":"plan","signature":"s"},{"type":"redacted_thinking","data":"x"},` +
				`{"type":"tool_use","id":"toolu_1","name":"f","input":{"a": [1, 2]}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}`,
			want: `{"id":"msg_2","object":"chat.completion","created":1700000000,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"plan",` +
				`"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],` +
				`"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			check: func(t *testing.T, c oaisdk.ChatCompletion) {
				tc := c.Choices[0].Message.ToolCalls[0]
				if tc.ID != "toolu_1" || tc.Function.Arguments != `{"a":[1,2]}` || c.Choices[0].FinishReason != "tool_calls" || c.Choices[0].Message.JSON.Content.Raw() != "null" {
					t.Errorf("SDK read %s", c.RawJSON())
				}
			},
		},
		{
			name: "refusal and max tokens",
			in:   `{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":0}}`,
			want: `{"id":"m","object":"chat.completion","created":1700000000,"model":"c","choices":[{"index":0,"message":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"content_filter"}],` +
				`"usage":{"prompt_tokens":1,"completion_tokens":0,"total_tokens":1,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var m anthropic.Message
			if err := json.Unmarshal([]byte(tt.in), &m); err != nil {
				t.Fatal(err)
			}
			out, err := ToOpenAIResponse(&m, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			b := mustJSON(t, out)
			if diff := jsonDiff(t, tt.want, b); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			var c oaisdk.ChatCompletion
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			if c.Object != "chat.completion" || !c.JSON.Choices.Valid() || !c.Choices[0].JSON.FinishReason.Valid() {
				t.Errorf("SDK read envelope %s", c.RawJSON())
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestToAnthropicResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		want  string
		err   string
		check func(t *testing.T, m antsdk.Message)
	}{
		{
			name: "text with cached usage",
			in: `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
				`"usage":{"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":3}}}`,
			want: `{"id":"chatcmpl-1","type":"message","role":"assistant","model":"gpt","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,` +
				`"usage":{"input_tokens":36,"cache_creation_input_tokens":0,"cache_read_input_tokens":64,"output_tokens":7}}`,
			check: func(t *testing.T, m antsdk.Message) {
				if m.Content[0].AsText().Text != "Hi" || m.Usage.InputTokens != 36 || m.Usage.CacheReadInputTokens != 64 || m.StopReason != antsdk.StopReasonEndTurn {
					t.Errorf("SDK read %s", m.RawJSON())
				}
			},
		},
		{
			name: "reasoning and tool calls",
			in: `{"id":"c2","object":"chat.completion","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"think",` +
				`"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"x\": 1}"}},{"id":"call_2","type":"function","function":{"name":"g","arguments":""}}]},"finish_reason":"tool_calls"}],` +
				`"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_cache_hit_tokens":4,"prompt_cache_miss_tokens":6}}`,
			want: `{"id":"c2","type":"message","role":"assistant","model":"deepseek-reasoner","content":[{"type":"thinking","thinking":"think","signature":""},` +
				`{"type":"tool_use","id":"call_1","name":"f","input":{"x": 1}},{"type":"tool_use","id":"call_2","name":"g","input":{}}],"stop_reason":"tool_use","stop_sequence":null,` +
				`"usage":{"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":5}}`,
			check: func(t *testing.T, m antsdk.Message) {
				if m.Content[1].AsToolUse().Name != "f" || m.Content[2].AsToolUse().ID != "call_2" || m.StopReason != antsdk.StopReasonToolUse {
					t.Errorf("SDK read %s", m.RawJSON())
				}
			},
		},
		{
			name: "refusal",
			in:   `{"id":"c3","object":"chat.completion","created":1,"model":"gpt","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't."},"finish_reason":"stop"}]}`,
			want: `{"id":"c3","type":"message","role":"assistant","model":"gpt","content":[{"type":"text","text":"I can't."}],"stop_reason":"refusal","stop_sequence":null,` +
				`"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`,
		},
		{
			name: "length",
			in:   `{"id":"c4","object":"chat.completion","created":1,"model":"gpt","choices":[{"index":0,"message":{"role":"assistant","content":"tru"},"finish_reason":"length"}]}`,
			want: `{"id":"c4","type":"message","role":"assistant","model":"gpt","content":[{"type":"text","text":"tru"}],"stop_reason":"max_tokens","stop_sequence":null,` +
				`"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`,
		},
		{name: "no choices", in: `{"id":"c","object":"chat.completion","choices":[]}`, err: "choices: the response has none"},
		{name: "bad arguments", in: `{"id":"c","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{"}}]},"finish_reason":"tool_calls"}]}`,
			err: "choices[0].message.tool_calls[0].function.arguments: not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c openai.ChatCompletion
			if err := json.Unmarshal([]byte(tt.in), &c); err != nil {
				t.Fatal(err)
			}
			out, err := ToAnthropicResponse(&c)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b := mustJSON(t, out)
			if diff := jsonDiff(t, tt.want, b); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			var m antsdk.Message
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type != "message" || m.Role != "assistant" || !m.JSON.Usage.Valid() || m.JSON.StopSequence.Raw() != "null" {
				t.Errorf("SDK read envelope %s", m.RawJSON())
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

// TestResponseUsageRoundTrip checks that usage totals survive a trip
// through the other format: the OTel-style counts are the same, except
// that OpenAI has no cache-creation count, which becomes plain input.
func TestResponseUsageRoundTrip(t *testing.T) {
	t.Parallel()
	m := &anthropic.Message{ID: "m", Type: "message", Role: "assistant", Model: "c", StopReason: "end_turn",
		Content: []anthropic.ContentBlock{anthropic.TextBlock("x")},
		Usage:   anthropic.Usage{InputTokens: 10, CacheCreationInputTokens: 3, CacheReadInputTokens: 20, OutputTokens: 5}}
	c, err := ToOpenAIResponse(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := ToAnthropicResponse(c)
	if err != nil {
		t.Fatal(err)
	}
	before, after := m.Usage.AI(), back.Usage.AI()
	if before.Input != after.Input || before.Output != after.Output || before.CachedInput != after.CachedInput || after.CacheCreation != 0 {
		t.Errorf("usage %+v became %+v", before, after)
	}
	if back.Usage.InputTokens != 13 || back.Usage.CacheReadInputTokens != 20 {
		t.Errorf("wire usage = %+v; want 13 input (10 + 3 cache writes) and 20 cache reads", back.Usage)
	}
}

func TestErrorTranslation(t *testing.T) {
	t.Parallel()
	oe := ToOpenAIError(529, &anthropic.ErrorBody{Type: "error", Error: anthropic.Error{Type: "overloaded_error", Message: "Overloaded"}})
	if got := string(mustJSON(t, oe)); got != `{"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded_error"}}` {
		t.Errorf("ToOpenAIError = %s", got)
	}
	ae := ToAnthropicError(429, &openai.ErrorBody{Error: openai.Error{Message: "slow down", Type: "requests", Code: "rate_limit_exceeded"}})
	if got := string(mustJSON(t, ae)); got != `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}` {
		t.Errorf("ToAnthropicError = %s", got)
	}
	var se antsdk.ErrorResponse
	if err := json.Unmarshal(mustJSON(t, ae), &se); err != nil || se.Error.Type != "rate_limit_error" {
		t.Errorf("SDK read %+v, %v", se, err)
	}
	for reason, want := range map[string]string{"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter", "": "stop"} {
		if got := StopReasonToOpenAI(reason); got != want {
			t.Errorf("StopReasonToOpenAI(%q) = %q; want %q", reason, got, want)
		}
	}
	for reason, want := range map[string]string{"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use", "content_filter": "refusal", "": "end_turn"} {
		if got := FinishReasonToAnthropic(reason); got != want {
			t.Errorf("FinishReasonToAnthropic(%q) = %q; want %q", reason, got, want)
		}
	}
}
