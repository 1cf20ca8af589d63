package translate

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

func TestToAnthropicRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		in   string
		want string // JSON, or the error's text when err is set
		err  bool
	}{
		{
			name: "minimal with default max_tokens",
			in:   `{"model":"claude","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
			want: `{"model":"claude","max_tokens":4096,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`,
		},
		{
			name: "configured default max_tokens and stream",
			opts: Options{DefaultMaxTokens: 1000},
			in:   `{"model":"claude","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			want: `{"model":"claude","max_tokens":1000,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		},
		{
			name: "system and developer messages hoisted in order",
			in: `{"model":"c","max_tokens":5,"messages":[{"role":"system","content":"one"},{"role":"user","content":"hi"},{"role":"developer","content":[{"type":"text","text":"two","cache_control":{"type":"ephemeral"}}]},` +
				`{"role":"system","content":""}]}`,
			want: `{"model":"c","max_tokens":5,"system":[{"type":"text","text":"one"},{"type":"text","text":"two","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`,
		},
		{
			name: "multi-part user content with images",
			in: `{"model":"c","max_completion_tokens":9,"max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"what?"},` +
				`{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},{"type":"image_url","image_url":{"url":"https://example.org/a.jpg"}}]}]}`,
			want: `{"model":"c","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"what?"},` +
				`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"image","source":{"type":"url","url":"https://example.org/a.jpg"}}]}]}`,
		},
		{
			name: "tool calls and merged tool results",
			in: `{"model":"c","max_tokens":50,"tools":[{"type":"function","function":{"name":"get_weather","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}},` +
				`{"type":"function","function":{"name":"now"}}],"tool_choice":"required","parallel_tool_calls":false,"messages":[` +
				`{"role":"user","content":"weather in Paris and time?"},` +
				`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},{"id":"call_2","type":"function","function":{"name":"now","arguments":""}}]},` +
				`{"role":"tool","tool_call_id":"call_1","content":"sunny"},{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"noon"}]},` +
				`{"role":"user","content":"thanks"},{"role":"assistant","content":""},{"role":"user","content":"bye"}]}`,
			want: `{"model":"c","max_tokens":50,"tools":[{"name":"get_weather","description":"weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},` +
				`{"name":"now","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"messages":[` +
				`{"role":"user","content":"weather in Paris and time?"},` +
				`{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},{"type":"tool_use","id":"call_2","name":"now","input":{}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"sunny"},{"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"noon"}]},{"type":"text","text":"thanks"}]},` +
				`{"role":"user","content":"bye"}]}`,
		},
		{
			name: "assistant text with tool call, named tool choice",
			in: `{"model":"c","max_tokens":5,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"messages":[` +
				`{"role":"user","content":"x"},{"role":"assistant","content":"calling","reasoning_content":"hidden","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}`,
			want: `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},"messages":[` +
				`{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"text","text":"calling"},{"type":"tool_use","id":"c1","name":"f","input":{}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"ok"}]}]}`,
		},
		{
			name: "tool_choice none keeps parallel off the choice",
			in:   `{"model":"c","max_tokens":5,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false,"messages":[{"role":"user","content":"x"}]}`,
			want: `{"model":"c","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"},"messages":[{"role":"user","content":"x"}]}`,
		},
		{
			name: "sampling, stop, user and harmless drops",
			in: `{"model":"c","max_tokens":5,"temperature":0.3,"top_p":0.8,"stop":"END","user":"u-7","seed":1,"metadata":{"a":"b"},"store":true,"service_tier":"flex",` +
				`"frequency_penalty":0,"presence_penalty":0.0,"logprobs":false,"logit_bias":{},"n":1,"response_format":{"type":"text"},"top_k":20,"messages":[{"role":"user","content":"x","name":"bob"}]}`,
			want: `{"model":"c","max_tokens":5,"temperature":0.3,"top_p":0.8,"stop_sequences":["END"],"metadata":{"user_id":"u-7"},"top_k":20,"messages":[{"role":"user","content":"x"}]}`,
		},
		{
			name: "reasoning_effort with defaulted max_tokens",
			in:   `{"model":"c","reasoning_effort":"medium","messages":[{"role":"user","content":"x"}]}`,
			want: `{"model":"c","max_tokens":12288,"thinking":{"type":"enabled","budget_tokens":8192},"messages":[{"role":"user","content":"x"}]}`,
		},
		{
			name: "reasoning_effort none",
			in:   `{"model":"c","max_tokens":10,"reasoning_effort":"none","messages":[{"role":"user","content":"x"}]}`,
			want: `{"model":"c","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`,
		},
		{
			name: "thinking passed through",
			in:   `{"model":"c","max_tokens":3000,"thinking":{"type":"enabled","budget_tokens":2000},"messages":[{"role":"user","content":"x"}]}`,
			want: `{"model":"c","max_tokens":3000,"thinking":{"type":"enabled","budget_tokens":2000},"messages":[{"role":"user","content":"x"}]}`,
		},
		{
			name: "unknown parameter ignored on request",
			opts: Options{IgnoreUnknown: true},
			in:   `{"model":"c","max_tokens":1,"x_custom":1,"messages":[{"role":"user","content":"x"}]}`,
			want: `{"model":"c","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`,
		},
		{name: "n above one", in: `{"model":"c","n":2,"messages":[]}`, err: true, want: "n: Anthropic returns one choice"},
		{name: "temperature above one", in: `{"model":"c","temperature":1.5,"messages":[]}`, err: true, want: "temperature: Anthropic accepts 0 to 1, got 1.5"},
		{name: "logprobs", in: `{"model":"c","logprobs":true,"messages":[]}`, err: true, want: "logprobs: has no Anthropic equivalent"},
		{name: "non-zero penalty", in: `{"model":"c","presence_penalty":0.5,"messages":[]}`, err: true, want: "presence_penalty: has no Anthropic equivalent"},
		{name: "json schema", in: `{"model":"c","response_format":{"type":"json_schema","json_schema":{"name":"x"}},"messages":[]}`, err: true, want: `response_format: type "json_schema"`},
		{name: "unknown parameter", in: `{"model":"c","x_custom":1,"messages":[]}`, err: true, want: "x_custom: unknown parameter"},
		{name: "functions", in: `{"model":"c","functions":[],"messages":[]}`, err: true, want: "functions: the deprecated functions API"},
		{name: "audio part", in: `{"model":"c","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, err: true,
			want: `messages[0].content[0]: "input_audio" content is not supported`},
		{name: "non-base64 data URL", in: `{"model":"c","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,xyz"}}]}]}`, err: true,
			want: "messages[0].content[0].image_url.url: a data URL must be base64"},
		{name: "ftp image", in: `{"model":"c","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, err: true,
			want: "must be an http(s) URL"},
		{name: "bad arguments", in: `{"model":"c","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{bad"}}]}]}`, err: true,
			want: "messages[0].tool_calls[0].function.arguments: not valid JSON"},
		{name: "array arguments", in: `{"model":"c","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, err: true,
			want: "must be a JSON object"},
		{name: "function role", in: `{"model":"c","messages":[{"role":"function","name":"f","content":"x"}]}`, err: true, want: `messages[0].role: role "function"`},
		{name: "custom tool", in: `{"model":"c","tools":[{"type":"custom","custom":{"name":"x"}}],"messages":[]}`, err: true, want: `tools[0].type: only function tools`},
		{name: "reasoning budget above max", in: `{"model":"c","max_tokens":1000,"reasoning_effort":"low","messages":[]}`, err: true, want: "reasoning_effort: Anthropic needs max_completion_tokens above the thinking budget of 2048"},
		{name: "unknown effort", in: `{"model":"c","reasoning_effort":"extreme","messages":[]}`, err: true, want: `reasoning_effort: unknown value "extreme"`},
		{name: "tool without id", in: `{"model":"c","messages":[{"role":"tool","content":"x"}]}`, err: true, want: "messages[0].tool_call_id: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := openai.DecodeChatRequest([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			out, err := ToAnthropicRequest(r, tt.opts)
			if tt.err {
				var pe *ParamError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v; want a *ParamError containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if diff := jsonDiff(t, tt.want, mustJSON(t, out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToOpenAIRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		in   string
		want string
		err  bool
	}{
		{
			name: "minimal",
			in:   `{"model":"gpt","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`,
			want: `{"model":"gpt","max_completion_tokens":100,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
		},
		{
			name: "legacy max_tokens, stream asks for usage",
			opts: Options{LegacyMaxTokens: true},
			in:   `{"model":"gpt","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			want: `{"model":"gpt","max_tokens":100,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
		},
		{
			name: "system blocks, images, sampling",
			in: `{"model":"gpt","max_tokens":10,"temperature":0.5,"top_p":0.9,"stop_sequences":["A","B"],"metadata":{"user_id":"u1"},"service_tier":"auto",` +
				`"system":[{"type":"text","text":"one","cache_control":{"type":"ephemeral"}},{"type":"text","text":"two"}],"messages":[{"role":"user","content":[{"type":"text","text":"see"},` +
				`{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}},{"type":"image","source":{"type":"url","url":"https://example.org/x.png"}}]}]}`,
			want: `{"model":"gpt","max_completion_tokens":10,"temperature":0.5,"top_p":0.9,"stop":["A","B"],"user":"u1","messages":[{"role":"system","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},` +
				`{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/"}},{"type":"image_url","image_url":{"url":"https://example.org/x.png"}}]}]}`,
		},
		{
			name: "tools, tool use and tool results",
			in: `{"model":"gpt","max_tokens":10,"tools":[{"name":"get_weather","description":"w","input_schema":{"type":"object","properties":{"city":{"type":"string"}}},"cache_control":{"type":"ephemeral"}}],` +
				`"tool_choice":{"type":"any","disable_parallel_tool_use":true},"thinking":{"type":"enabled","budget_tokens":1024},"messages":[` +
				`{"role":"user","content":"weather?"},` +
				`{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"checking"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city": "Paris"}},{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Rome"}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"},{"type":"tool_result","tool_use_id":"toolu_2","is_error":true,"content":[{"type":"text","text":"no data"},{"type":"image","source":{"type":"url","url":"https://example.org/map.png"}}]},{"type":"text","text":"and?"}]}]}`,
			want: `{"model":"gpt","max_completion_tokens":10,"tools":[{"type":"function","function":{"name":"get_weather","description":"w","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],` +
				`"tool_choice":"required","parallel_tool_calls":false,"messages":[{"role":"user","content":"weather?"},` +
				`{"role":"assistant","content":"checking","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},` +
				`{"role":"tool","tool_call_id":"toolu_1","content":"sunny"},{"role":"tool","tool_call_id":"toolu_2","content":"no data"},` +
				`{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.org/map.png"}},{"type":"text","text":"and?"}]}]}`,
		},
		{
			name: "tool-only assistant, named and none tool choice",
			in: `{"model":"gpt","max_tokens":10,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},"messages":[` +
				`{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"}]}]}`,
			want: `{"model":"gpt","max_completion_tokens":10,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"messages":[` +
				`{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"t1"}]}`,
		},
		{name: "top_k", in: `{"model":"m","max_tokens":1,"top_k":5,"messages":[]}`, err: true, want: "top_k: OpenAI chat completions have no top_k"},
		{name: "server tool", in: `{"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[]}`, err: true, want: `tools[0].type: server tool "web_search_20250305"`},
		{name: "document", in: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"x"}}]}]}`, err: true,
			want: `messages[0].content[0]: "document" blocks cannot be translated`},
		{name: "unknown parameter", in: `{"model":"m","max_tokens":1,"mcp_servers":[],"messages":[]}`, err: true, want: "mcp_servers: unknown parameter"},
		{name: "system image", in: `{"model":"m","max_tokens":1,"system":[{"type":"image","source":{"type":"url","url":"u"}}],"messages":[]}`, err: true, want: `system[0]: must be a text block`},
		{name: "file source", in: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, err: true, want: `"file" image sources`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := anthropic.DecodeMessagesRequest([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			out, err := ToOpenAIRequest(r, tt.opts)
			if tt.err {
				var pe *ParamError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v; want a *ParamError containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if diff := jsonDiff(t, tt.want, mustJSON(t, out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequestRoundTrip translates requests that both APIs can express to
// the other format and back, and expects the original.
func TestRequestRoundTrip(t *testing.T) {
	t.Parallel()
	openaiReqs := []string{
		`{"model":"m","max_completion_tokens":64,"temperature":0.5,"stop":["X"],"user":"u","messages":[{"role":"system","content":"s"},{"role":"user","content":"q"},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],` +
			`"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"integer"}}}}}],"tool_choice":"auto"}`,
		`{"model":"m","max_completion_tokens":64,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`,
	}
	for _, in := range openaiReqs {
		r, err := openai.DecodeChatRequest([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		a, err := ToAnthropicRequest(r, Options{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := ToOpenAIRequest(a, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := jsonDiff(t, in, mustJSON(t, back)); diff != "" {
			t.Errorf("OpenAI → Anthropic → OpenAI changed the request (-in +out):\n%s", diff)
		}
	}
	anthropicReqs := []string{
		`{"model":"m","max_tokens":64,"system":"s","stop_sequences":["X"],"metadata":{"user_id":"u"},"messages":[{"role":"user","content":"q"},` +
			`{"role":"assistant","content":[{"type":"text","text":"t"},{"type":"tool_use","id":"c","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","content":"r"}]}],` +
			`"tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
	}
	for _, in := range anthropicReqs {
		r, err := anthropic.DecodeMessagesRequest([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		o, err := ToOpenAIRequest(r, Options{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := ToAnthropicRequest(o, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := jsonDiff(t, in, mustJSON(t, back)); diff != "" {
			t.Errorf("Anthropic → OpenAI → Anthropic changed the request (-in +out):\n%s", diff)
		}
	}
}

func TestParamErrorBodies(t *testing.T) {
	t.Parallel()
	e := &ParamError{Param: "n", Reason: "no"}
	if got := string(mustJSON(t, e.OpenAI())); got != `{"error":{"message":"n: no","type":"invalid_request_error","param":"n","code":"unsupported_parameter"}}` {
		t.Errorf("OpenAI() = %s", got)
	}
	if got := string(mustJSON(t, e.Anthropic())); got != `{"type":"error","error":{"type":"invalid_request_error","message":"n: no"}}` {
		t.Errorf("Anthropic() = %s", got)
	}
}
