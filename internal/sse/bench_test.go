package sse

import (
	"io"
	"strings"
	"testing"
)

// benchStream is a realistic mix: Anthropic-style typed events and
// OpenAI-style data-only events.
var benchStream = strings.Repeat(
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello there\"}}\n\n"+
		"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":null}]}\n\n",
	64)

// BenchmarkReader reports the cost of reading one event.
func BenchmarkReader(b *testing.B) {
	src := strings.NewReader(benchStream)
	rd := NewReader(src, nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchStream) / 128))
	for b.Loop() {
		if _, err := rd.Next(); err == io.EOF {
			src.Reset(benchStream)
			rd.srcErr, rd.err = nil, nil
			if _, err := rd.Next(); err != nil {
				b.Fatal(err)
			}
		} else if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriter reports the cost of writing one event.
func BenchmarkWriter(b *testing.B) {
	w := NewWriter(io.Discard)
	ev := Event{Type: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`)}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
}
