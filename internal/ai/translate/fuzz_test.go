package translate

import (
	"bytes"
	"encoding/json"
	"testing"

	antsdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// FuzzRequests translates arbitrary requests both ways: no panics, and a
// translated request always encodes to JSON its decoder accepts.
func FuzzRequests(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]},` +
		`{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if r, err := openai.DecodeChatRequest(in); err == nil {
			if out, err := ToAnthropicRequest(r, Options{}); err == nil {
				b, err := json.Marshal(out)
				if err != nil {
					t.Fatalf("Marshal(ToAnthropicRequest(%s)) error = %v", in, err)
				}
				if _, err := anthropic.DecodeMessagesRequest(b); err != nil {
					t.Fatalf("translated request %s does not decode: %v", b, err)
				}
			}
		}
		if r, err := anthropic.DecodeMessagesRequest(in); err == nil {
			if out, err := ToOpenAIRequest(r, Options{}); err == nil {
				b, err := json.Marshal(out)
				if err != nil {
					t.Fatalf("Marshal(ToOpenAIRequest(%s)) error = %v", in, err)
				}
				if _, err := openai.DecodeChatRequest(b); err != nil {
					t.Fatalf("translated request %s does not decode: %v", b, err)
				}
			}
		}
	})
}

// FuzzStreams feeds arbitrary event sequences (one event's data per line)
// to both stream translators. Run it with -fuzzminimizetime=2s: its inputs
// are long, and minimizing them with the default budget stalls progress. Whatever the upstream sends, the client's
// stream must end with a terminal event, and an Anthropic client's SDK
// must be able to accumulate every event before it.
func FuzzStreams(f *testing.F) {
	f.Add([]byte(aStart + "\n" + aTextStart + "\n" + aText(0, "hi") + "\n" + aStop0 + "\n" + aEnd + "\n" + aMsgStop))
	f.Add([]byte(oRole + "\n" + tool(0, "a", "f", `{"x":`) + "\n" + tool(0, "", "", "1}") + "\n" + oc(`{}`, "tool_calls") + "\n" + oUsage + "\n[DONE]"))
	f.Add([]byte(oc(`{"content":"a","reasoning_content":"b"}`, "") + "\n" + `{"error":{"message":"x","type":"server_error"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		lines := bytes.Split(in, []byte("\n"))

		os := NewOpenAIStream(StreamOptions{IncludeUsage: true})
		var last openai.StreamEvent
		for _, l := range lines {
			ev, err := anthropic.ParseStreamEvent(l)
			if err != nil {
				continue
			}
			out, err := os.Feed(ev)
			if len(out) > 0 {
				last = out[len(out)-1]
			}
			if err != nil {
				break
			}
		}
		out, _ := os.Finish()
		if len(out) > 0 {
			last = out[len(out)-1]
		}
		if !last.Done && last.Error == nil {
			t.Fatalf("OpenAI stream ended with %+v, not [DONE] or an error", last)
		}

		as := NewAnthropicStream(StreamOptions{})
		var evs []string
		collect := func(out []anthropic.StreamEvent) {
			for i := range out {
				b, err := out[i].AppendJSON(nil)
				if err != nil {
					t.Fatal(err)
				}
				evs = append(evs, out[i].Type+" "+string(b))
			}
		}
		for _, l := range lines {
			ev, err := openai.ParseStreamEvent(l)
			if err != nil {
				continue
			}
			out, err := as.Feed(ev)
			collect(out)
			if err != nil {
				break
			}
		}
		fin, _ := as.Finish()
		collect(fin)
		if len(evs) == 0 {
			t.Fatal("Anthropic stream is empty")
		}
		lastType, _, _ := bytes.Cut([]byte(evs[len(evs)-1]), []byte(" "))
		if string(lastType) != "message_stop" && string(lastType) != "error" {
			t.Fatalf("Anthropic stream ended with %s", evs[len(evs)-1])
		}
		checkSequence(t, evs)
		var m antsdk.Message
		for _, e := range evs {
			typ, data, _ := bytes.Cut([]byte(e), []byte(" "))
			if string(typ) == "error" {
				break
			}
			var ev antsdk.MessageStreamEventUnion
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatalf("SDK cannot decode %s: %v", data, err)
			}
			if err := m.Accumulate(ev); err != nil {
				t.Fatalf("SDK Accumulate(%s) error = %v", data, err)
			}
		}
	})
}

// checkSequence checks the event order Anthropic clients rely on: the
// stream starts with message_start, blocks start at the next free index,
// and deltas and stops address a started block.
func checkSequence(t *testing.T, evs []string) {
	t.Helper()
	blocks := int64(0)
	for i, e := range evs {
		typ, data, _ := bytes.Cut([]byte(e), []byte(" "))
		if string(typ) == "error" {
			return
		}
		var ev anthropic.StreamEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("event %s does not decode: %v", data, err)
		}
		if (i == 0) != (ev.Type == anthropic.EventMessageStart) {
			t.Fatalf("message_start at position %d", i)
		}
		switch ev.Type {
		case anthropic.EventContentBlockStart:
			if ev.Index != blocks {
				t.Fatalf("content_block_start index %d; want %d", ev.Index, blocks)
			}
			blocks++
		case anthropic.EventContentBlockDelta, anthropic.EventContentBlockStop:
			if ev.Index < 0 || ev.Index >= blocks {
				t.Fatalf("%s for index %d of %d blocks", ev.Type, ev.Index, blocks)
			}
		}
	}
}
