package openai_test

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/internal/ai/openai"
)

// FuzzDecodeChatRequest checks that decoding never panics and that a
// decoded request survives encoding and decoding again unchanged.
func FuzzDecodeChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := openai.DecodeChatRequest(in)
		if err != nil {
			return
		}
		_ = r.Validate()
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("Marshal(DecodeChatRequest(%q)) error = %v", in, err)
		}
		r2, err := openai.DecodeChatRequest(out)
		if err != nil {
			t.Fatalf("DecodeChatRequest(%s) (re-encoded from %q) error = %v", out, in, err)
		}
		out2, err := json.Marshal(r2)
		if err != nil || string(out) != string(out2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", out, out2)
		}
	})
}

// FuzzParseStreamEvent checks that parsing never panics and that a parsed
// chunk encodes to JSON that parses again.
func FuzzParseStreamEvent(f *testing.F) {
	f.Add([]byte(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x","tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{"}}]},"finish_reason":null}]}`))
	f.Add([]byte(`[DONE]`))
	f.Add([]byte(`{"error":{"message":"m","type":"t","param":null,"code":1}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := openai.ParseStreamEvent(in)
		if err != nil {
			return
		}
		data, err := ev.AppendData(nil)
		if err != nil {
			t.Fatalf("AppendData error = %v", err)
		}
		if _, err := openai.ParseStreamEvent(data); err != nil {
			t.Fatalf("ParseStreamEvent(%s) (from %q) error = %v", data, in, err)
		}
	})
}
