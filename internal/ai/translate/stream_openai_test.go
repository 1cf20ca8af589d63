package translate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	oaisdk "github.com/openai/openai-go/v3"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// Anthropic stream events as the API sends them.
const (
	aStart     = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":5,"output_tokens":1}}}`
	aPing      = `{"type": "ping"}`
	aTextStart = `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	aStop0     = `{"type":"content_block_stop","index":0}`
	aEnd       = `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}`
	aMsgStop   = `{"type":"message_stop"}`
)

func aText(i int, s string) string {
	return `{"type":"content_block_delta","index":` + itoa(i) + `,"delta":{"type":"text_delta","text":` + quote(s) + `}}`
}

func aJSON(i int, s string) string {
	return `{"type":"content_block_delta","index":` + itoa(i) + `,"delta":{"type":"input_json_delta","partial_json":` + quote(s) + `}}`
}

func itoa(i int) string { return string(mustJSONAny(i)) }
func quote(s string) string {
	return string(mustJSONAny(s))
}
func mustJSONAny(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// OpenAI chunks as OpenAIStream writes them for msg_1.
const oHead = `{"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"claude","choices":[`

func oDelta(delta string) string {
	return oHead + `{"index":0,"delta":` + delta + `,"finish_reason":null}]}`
}

func oFinish(reason string) string {
	return oHead + `{"index":0,"delta":{},"finish_reason":"` + reason + `"}]}`
}

func TestOpenAIStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      StreamOptions
		in        []string
		want      []string
		finish    []string // events Finish returns
		finishErr error
		err       func(error) bool // what Err reports at the end; nil means nil
		usage     ai.Usage
	}{
		{
			name: "text with usage chunk",
			opts: StreamOptions{IncludeUsage: true},
			in:   []string{aStart, aPing, aTextStart, aText(0, "Hel"), aText(0, "lo"), aStop0, aEnd, aMsgStop},
			want: []string{
				oDelta(`{"role":"assistant","content":""}`),
				oDelta(`{"content":"Hel"}`),
				oDelta(`{"content":"lo"}`),
				oFinish("stop"),
				oHead + `],"usage":{"prompt_tokens":15,"completion_tokens":7,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":0}}}`,
				"[DONE]",
			},
			usage: ai.Usage{Input: 15, Output: 7, CachedInput: 5},
		},
		{
			name: "thinking, text and two tools without usage chunk",
			in: []string{aStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}`,
				aStop0,
				`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`, aText(1, "ok"), `{"type":"content_block_stop","index":1}`,
				`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_a","name":"f","input":{}}}`,
				aJSON(2, ""), aJSON(2, `{"a":`), aJSON(2, `1}`), `{"type":"content_block_stop","index":2}`,
				`{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_b","name":"g","input":{}}}`,
				aJSON(3, `{}`), `{"type":"content_block_stop","index":3}`,
				`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":30}}`,
				aMsgStop,
			},
			want: []string{
				oDelta(`{"role":"assistant","content":""}`),
				oDelta(`{"reasoning_content":"hm"}`),
				oDelta(`{"content":"ok"}`),
				oDelta(`{"tool_calls":[{"index":0,"id":"toolu_a","type":"function","function":{"name":"f","arguments":""}}]}`),
				oDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}`),
				oDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}`),
				oDelta(`{"tool_calls":[{"index":1,"id":"toolu_b","type":"function","function":{"name":"g","arguments":""}}]}`),
				oDelta(`{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}`),
				oFinish("tool_calls"),
				"[DONE]",
			},
			usage: ai.Usage{Input: 15, Output: 30, CachedInput: 5},
		},
		{
			name:  "tool input sent whole in the start event",
			in:    []string{aStart, `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{"a":1}}}`, aStop0, aEnd, aMsgStop},
			want:  []string{oDelta(`{"role":"assistant","content":""}`), oDelta(`{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}`), oFinish("stop"), "[DONE]"},
			usage: ai.Usage{Input: 15, Output: 7, CachedInput: 5},
		},
		{
			name:  "model override and max_tokens",
			opts:  StreamOptions{Model: "smart"},
			in:    []string{aStart, `{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":2}}`, aMsgStop},
			want:  []string{strings.Replace(oDelta(`{"role":"assistant","content":""}`), `"claude"`, `"smart"`, 1), strings.Replace(oFinish("length"), `"claude"`, `"smart"`, 1), "[DONE]"},
			usage: ai.Usage{Input: 15, Output: 2, CachedInput: 5},
		},
		{
			name: "error event mid-stream",
			in:   []string{aStart, aTextStart, aText(0, "a"), `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
			want: []string{oDelta(`{"role":"assistant","content":""}`), oDelta(`{"content":"a"}`),
				`{"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded_error"}}`},
			err: func(err error) bool {
				var ue *UpstreamError
				return errors.As(err, &ue) && ue.Type == "overloaded_error"
			},
			usage: ai.Usage{Input: 15, Output: 1, CachedInput: 5},
		},
		{
			name:      "cut mid-stream",
			in:        []string{aStart, aTextStart, aText(0, "a")},
			want:      []string{oDelta(`{"role":"assistant","content":""}`), oDelta(`{"content":"a"}`)},
			finish:    []string{`{"error":{"message":"upstream stream ended before it was complete","type":"server_error","param":null,"code":"stream_truncated"}}`},
			finishErr: ErrTruncated,
			err:       func(err error) bool { return err == ErrTruncated },
			usage:     ai.Usage{Input: 15, Output: 1, CachedInput: 5},
		},
		{
			name:      "cut before anything",
			finish:    []string{`{"error":{"message":"upstream stream ended before it was complete","type":"server_error","param":null,"code":"stream_truncated"}}`},
			finishErr: ErrTruncated,
			err:       func(err error) bool { return err == ErrTruncated },
		},
		{
			name:   "cut after message_delta finishes normally",
			opts:   StreamOptions{IncludeUsage: true},
			in:     []string{aStart, aEnd},
			want:   []string{oDelta(`{"role":"assistant","content":""}`), oFinish("stop")},
			finish: []string{oHead + `],"usage":{"prompt_tokens":15,"completion_tokens":7,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":5},"completion_tokens_details":{"reasoning_tokens":0}}}`, "[DONE]"},
			usage:  ai.Usage{Input: 15, Output: 7, CachedInput: 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Now = fixedNow
			s := NewOpenAIStream(tt.opts)
			var got []string
			for _, in := range tt.in {
				ev, err := anthropic.ParseStreamEvent([]byte(in))
				if err != nil {
					t.Fatal(err)
				}
				out, err := s.Feed(ev)
				if err != nil {
					t.Fatalf("Feed(%s) error = %v", in, err)
				}
				got = append(got, openAIData(t, out)...)
			}
			if diff := cmpLines(tt.want, got); diff != "" {
				t.Errorf("Feed output (-want +got):\n%s", diff)
			}
			out, err := s.Finish()
			if err != tt.finishErr {
				t.Errorf("Finish() error = %v; want %v", err, tt.finishErr)
			}
			fin := openAIData(t, out)
			if diff := cmpLines(tt.finish, fin); diff != "" {
				t.Errorf("Finish output (-want +got):\n%s", diff)
			}
			if e := s.Err(); (tt.err == nil) != (e == nil) || (tt.err != nil && !tt.err(e)) {
				t.Errorf("Err() = %v", e)
			}
			if u, _ := s.Usage(); u != tt.usage {
				t.Errorf("Usage() = %+v; want %+v", u, tt.usage)
			}
			checkOpenAIWithSDK(t, append(got, fin...))
		})
	}
}

// openAIData returns the SSE data of each event.
func openAIData(t *testing.T, evs []openai.StreamEvent) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		b, err := ev.AppendData(nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func cmpLines(want, got []string) string {
	if strings.Join(want, "\n") == strings.Join(got, "\n") {
		return ""
	}
	var b strings.Builder
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			b.WriteString("event " + itoa(i) + ":\n-" + w + "\n+" + g + "\n")
		}
	}
	return b.String()
}

// checkOpenAIWithSDK decodes each chunk with the official SDK types, as its
// stream reader would (stopping at [DONE] or an error), and accumulates
// them: the translated stream must be one the SDK accepts.
func checkOpenAIWithSDK(t *testing.T, data []string) {
	t.Helper()
	var acc oaisdk.ChatCompletionAccumulator
	for i, d := range data {
		if d == "[DONE]" {
			if i != len(data)-1 {
				t.Errorf("[DONE] is not last")
			}
			return
		}
		var probe struct {
			Error json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal([]byte(d), &probe)
		if probe.Error != nil { // the SDK stops with an error here
			if i != len(data)-1 {
				t.Errorf("error event is not last")
			}
			return
		}
		var c oaisdk.ChatCompletionChunk
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("SDK cannot decode %s: %v", d, err)
		}
		if c.Object != "chat.completion.chunk" || !c.JSON.Choices.Valid() && c.JSON.Choices.Raw() != "[]" {
			t.Errorf("SDK read envelope %s", d)
		}
		if !acc.AddChunk(c) {
			t.Errorf("SDK accumulator refused chunk %d: %s", i, d)
		}
	}
}
