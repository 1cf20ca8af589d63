package translate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	antsdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// OpenAI chunks as OpenAI sends them (include_usage on: usage null until
// the last chunk).
func oc(delta string, finish string) string {
	f := "null"
	if finish != "" {
		f = `"` + finish + `"`
	}
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + f + `}],"usage":null}`
}

const (
	oRole  = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`
	oUsage = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":15,"completion_tokens":7,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":5,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2}}}`
	oDone  = `[DONE]`
)

func tool(index int, id, name, args string) string {
	tc := `{"index":` + itoa(index)
	if id != "" {
		tc += `,"id":"` + id + `","type":"function"`
	}
	tc += `,"function":{`
	if name != "" {
		tc += `"name":"` + name + `",`
	}
	return oc(`{"tool_calls":[`+tc+`"arguments":`+quote(args)+`}}]}`, "")
}

// Anthropic events as AnthropicStream writes them, "type data".
func aev(data string) string {
	var probe struct{ Type string }
	_ = json.Unmarshal([]byte(data), &probe)
	return probe.Type + " " + data
}

func msgStart(model string, input int) string {
	return aev(`{"type":"message_start","message":{"id":"chatcmpl-1","type":"message","role":"assistant","model":"` + model + `","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":` + itoa(input) + `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}`)
}

func blockStart(i int, block string) string {
	return aev(`{"type":"content_block_start","index":` + itoa(i) + `,"content_block":` + block + `}`)
}

func textDelta(i int, s string) string {
	return aev(`{"type":"content_block_delta","index":` + itoa(i) + `,"delta":{"type":"text_delta","text":` + quote(s) + `}}`)
}

func jsonDelta(i int, s string) string {
	return aev(`{"type":"content_block_delta","index":` + itoa(i) + `,"delta":{"type":"input_json_delta","partial_json":` + quote(s) + `}}`)
}

func blockStop(i int) string { return aev(`{"type":"content_block_stop","index":` + itoa(i) + `}`) }

func msgDelta(reason, usage string) string {
	return aev(`{"type":"message_delta","delta":{"stop_reason":"` + reason + `","stop_sequence":null},"usage":` + usage + `}`)
}

var msgStop = aev(`{"type":"message_stop"}`)

const textBlock = `{"type":"text","text":""}`

func TestAnthropicStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      StreamOptions
		in        []string
		want      []string
		finish    []string
		finishErr error
		feedErr   int // index of the input whose Feed fails; 0 means none
		err       func(error) bool
		usage     ai.Usage
		final     func(t *testing.T, m antsdk.Message) // the SDK's accumulated message
	}{
		{
			name: "text with usage",
			opts: StreamOptions{Model: "claude-alias", InputTokens: 12},
			in:   []string{oRole, oc(`{"content":"Hel"}`, ""), oc(`{"content":"lo"}`, ""), oc(`{}`, "stop"), oUsage, oDone},
			want: []string{
				strings.Replace(msgStart("claude-alias", 12), "", "", 0),
				blockStart(0, textBlock), textDelta(0, "Hel"), textDelta(0, "lo"), blockStop(0),
				msgDelta("end_turn", `{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7}`), msgStop,
			},
			usage: ai.Usage{Input: 15, Output: 7, CachedInput: 5, Reasoning: 2},
			final: func(t *testing.T, m antsdk.Message) {
				if m.Content[0].Text != "Hello" || m.StopReason != "end_turn" || m.Usage.InputTokens != 10 || m.Usage.CacheReadInputTokens != 5 || m.Usage.OutputTokens != 7 || m.Model != "claude-alias" {
					t.Errorf("accumulated %s", m.RawJSON())
				}
			},
		},
		{
			name: "reasoning, text and parallel tool calls",
			in: []string{oRole, oc(`{"content":null,"reasoning_content":"think"}`, ""), oc(`{"content":"ok","reasoning_content":null}`, ""),
				tool(0, "call_a", "f", ""), tool(0, "", "", `{"x":`), tool(0, "", "", `1}`), tool(1, "call_b", "g", `{}`), oc(`{}`, "tool_calls"), oDone},
			want: []string{
				msgStart("gpt-4o", 0),
				blockStart(0, `{"type":"thinking","thinking":"","signature":""}`),
				aev(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think"}}`), blockStop(0),
				blockStart(1, textBlock), textDelta(1, "ok"), blockStop(1),
				blockStart(2, `{"type":"tool_use","id":"call_a","name":"f","input":{}}`), jsonDelta(2, `{"x":`), jsonDelta(2, `1}`), blockStop(2),
				blockStart(3, `{"type":"tool_use","id":"call_b","name":"g","input":{}}`), jsonDelta(3, `{}`), blockStop(3),
				msgDelta("tool_use", `{"output_tokens":0}`), msgStop,
			},
			final: func(t *testing.T, m antsdk.Message) {
				if len(m.Content) != 4 || m.Content[0].Thinking != "think" || string(m.Content[2].Input) != `{"x":1}` || m.Content[3].Name != "g" || m.StopReason != "tool_use" {
					t.Errorf("accumulated %s", m.RawJSON())
				}
			},
		},
		{
			name: "tool call without id, and a new id on index 0",
			in:   []string{tool(0, "", "f", `{}`), tool(0, "call_2", "g", `{}`), oc(`{}`, "tool_calls"), oDone},
			want: []string{
				msgStart("gpt-4o", 0),
				blockStart(0, `{"type":"tool_use","id":"toolu_sluice_0","name":"f","input":{}}`), jsonDelta(0, `{}`), blockStop(0),
				blockStart(1, `{"type":"tool_use","id":"call_2","name":"g","input":{}}`), jsonDelta(1, `{}`), blockStop(1),
				msgDelta("tool_use", `{"output_tokens":0}`), msgStop,
			},
		},
		{
			name: "interleaved tool fragments fail the stream",
			in:   []string{tool(0, "a", "f", `{"p":`), tool(1, "b", "g", `{}`), tool(0, "", "", `1}`)},
			want: []string{
				msgStart("gpt-4o", 0),
				blockStart(0, `{"type":"tool_use","id":"a","name":"f","input":{}}`), jsonDelta(0, `{"p":`), blockStop(0),
				blockStart(1, `{"type":"tool_use","id":"b","name":"g","input":{}}`), jsonDelta(1, `{}`),
			},
			feedErr:   2,
			finish:    []string{blockStop(1), aev(`{"type":"error","error":{"type":"api_error","message":"invalid upstream stream: arguments for tool call 0 arrived after another block started; interleaved tool calls cannot be translated"}}`)},
			finishErr: &ProtocolError{Reason: "arguments for tool call 0 arrived after another block started; interleaved tool calls cannot be translated"},
			err:       func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) },
		},
		{
			name: "content and finish in one chunk, refusal",
			in:   []string{oc(`{"role":"assistant","refusal":"I can't"}`, ""), oc(`{"content":"."}`, "stop"), oDone},
			want: []string{
				msgStart("gpt-4o", 0), blockStart(0, textBlock), textDelta(0, "I can't"), textDelta(0, "."), blockStop(0),
				msgDelta("refusal", `{"output_tokens":0}`), msgStop,
			},
		},
		{
			name: "error event mid-stream",
			in:   []string{oRole, oc(`{"content":"a"}`, ""), `{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`},
			want: []string{msgStart("gpt-4o", 0), blockStart(0, textBlock), textDelta(0, "a"), blockStop(0),
				aev(`{"type":"error","error":{"type":"api_error","message":"boom"}}`)},
			err: func(err error) bool { var ue *UpstreamError; return errors.As(err, &ue) && ue.Message == "boom" },
		},
		{
			name:      "cut mid-stream",
			in:        []string{oRole, oc(`{"content":"a"}`, "")},
			want:      []string{msgStart("gpt-4o", 0), blockStart(0, textBlock), textDelta(0, "a")},
			finish:    []string{blockStop(0), aev(`{"type":"error","error":{"type":"api_error","message":"upstream stream ended before it was complete"}}`)},
			finishErr: ErrTruncated,
			err:       func(err error) bool { return err == ErrTruncated },
		},
		{
			name:   "finish and usage without [DONE] ends normally",
			in:     []string{oRole, oc(`{"content":"a"}`, "length"), oUsage},
			want:   []string{msgStart("gpt-4o", 0), blockStart(0, textBlock), textDelta(0, "a"), blockStop(0)},
			finish: []string{msgDelta("max_tokens", `{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7}`), msgStop},
			usage:  ai.Usage{Input: 15, Output: 7, CachedInput: 5, Reasoning: 2},
		},
		{
			name: "Azure's filter-only first chunk waits for one that names the message",
			opts: StreamOptions{MessageID: "msg_req"},
			in: []string{`{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0}]}`,
				oDone},
			want: []string{strings.Replace(msgStart("", 0), `"id":"chatcmpl-1"`, `"id":"msg_req"`, 1), msgDelta("end_turn", `{"output_tokens":0}`), msgStop},
		},
		{
			name: "only [DONE]",
			in:   []string{oDone},
			want: []string{strings.Replace(msgStart("", 0), `"id":"chatcmpl-1"`, `"id":"msg_sluice"`, 1), msgDelta("end_turn", `{"output_tokens":0}`), msgStop},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewAnthropicStream(tt.opts)
			var got []string
			for i, in := range tt.in {
				ev, err := openai.ParseStreamEvent([]byte(in))
				if err != nil {
					t.Fatal(err)
				}
				out, err := s.Feed(ev)
				if (err != nil) != (tt.feedErr > 0 && i == tt.feedErr) {
					t.Fatalf("Feed(%s) error = %v", in, err)
				}
				got = append(got, anthropicData(t, out)...)
			}
			if diff := cmpLines(tt.want, got); diff != "" {
				t.Errorf("Feed output (-want +got):\n%s", diff)
			}
			out, err := s.Finish()
			if (err == nil) != (tt.finishErr == nil) || (err != nil && err.Error() != tt.finishErr.Error()) {
				t.Errorf("Finish() error = %v; want %v", err, tt.finishErr)
			}
			fin := anthropicData(t, out)
			if diff := cmpLines(tt.finish, fin); diff != "" {
				t.Errorf("Finish output (-want +got):\n%s", diff)
			}
			if e := s.Err(); (tt.err == nil) != (e == nil) || (tt.err != nil && !tt.err(e)) {
				t.Errorf("Err() = %v", e)
			}
			if u, _ := s.Usage(); u != tt.usage {
				t.Errorf("Usage() = %+v; want %+v", u, tt.usage)
			}
			m := checkAnthropicWithSDK(t, append(got, fin...))
			if tt.final != nil {
				tt.final(t, m)
			}
			if _, err := s.Feed(openai.StreamEvent{Done: true}); err == nil {
				t.Error("Feed after the end succeeded")
			}
		})
	}
}

func anthropicData(t *testing.T, evs []anthropic.StreamEvent) []string {
	t.Helper()
	var out []string
	for i := range evs {
		b, err := evs[i].AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs[i].Type+" "+string(b))
	}
	return out
}

// checkAnthropicWithSDK decodes each event with the official SDK's stream
// event union and accumulates them into a Message, as the SDK's stream
// reader does; an error event must be last.
func checkAnthropicWithSDK(t *testing.T, events []string) antsdk.Message {
	t.Helper()
	var m antsdk.Message
	for i, line := range events {
		typ, data, _ := strings.Cut(line, " ")
		if typ == "error" {
			if i != len(events)-1 {
				t.Errorf("error event is not last")
			}
			return m
		}
		var ev antsdk.MessageStreamEventUnion
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("SDK cannot decode %s: %v", data, err)
		}
		if ev.Type != typ {
			t.Errorf("event name %q but type %q", typ, ev.Type)
		}
		if i == 0 && typ != "message_start" {
			t.Errorf("first event is %s; want message_start", typ)
		}
		if err := m.Accumulate(ev); err != nil {
			t.Errorf("SDK Accumulate(%s) error = %v", data, err)
		}
	}
	return m
}
