package anthropic_test

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
)

// FuzzDecodeMessagesRequest checks that decoding never panics and that a
// decoded request survives encoding and decoding again unchanged.
func FuzzDecodeMessagesRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := anthropic.DecodeMessagesRequest(in)
		if err != nil {
			return
		}
		_ = r.Validate()
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("Marshal(DecodeMessagesRequest(%q)) error = %v", in, err)
		}
		r2, err := anthropic.DecodeMessagesRequest(out)
		if err != nil {
			t.Fatalf("DecodeMessagesRequest(%s) (re-encoded from %q) error = %v", out, in, err)
		}
		out2, err := json.Marshal(r2)
		if err != nil || string(out) != string(out2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", out, out2)
		}
	})
}

// FuzzParseStreamEvent checks that parsing never panics and that an event
// encodes to JSON that parses again.
func FuzzParseStreamEvent(f *testing.F) {
	f.Add([]byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := anthropic.ParseStreamEvent(in)
		if err != nil {
			return
		}
		data, err := ev.AppendJSON(nil)
		if err != nil {
			t.Fatalf("AppendJSON error = %v", err)
		}
		if _, err := anthropic.ParseStreamEvent(data); err != nil {
			t.Fatalf("ParseStreamEvent(%s) (from %q) error = %v", data, in, err)
		}
	})
}
