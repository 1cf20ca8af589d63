package translate

import (
	"testing"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

const (
	benchAnthropicDelta = `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the quick brown fox"}}`
	benchOpenAIChunk    = `{"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":" the quick brown fox"},"logprobs":null,"finish_reason":null}],"usage":null}`
)

func startedOpenAIStream(b *testing.B) *OpenAIStream {
	s := NewOpenAIStream(StreamOptions{Now: fixedNow})
	for _, in := range []string{aStart, aTextStart} {
		ev, _ := anthropic.ParseStreamEvent([]byte(in))
		if _, err := s.Feed(ev); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkOpenAIStream is the cost of turning one Anthropic text delta
// into one OpenAI chunk's SSE data, event already parsed.
func BenchmarkOpenAIStream(b *testing.B) {
	s := startedOpenAIStream(b)
	ev, _ := anthropic.ParseStreamEvent([]byte(benchAnthropicDelta))
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out, err := s.Feed(ev)
		if err != nil || len(out) != 1 {
			b.Fatal(err)
		}
		buf, _ = out[0].AppendData(buf[:0])
	}
}

// BenchmarkOpenAIStreamParse adds parsing the upstream event's data.
func BenchmarkOpenAIStreamParse(b *testing.B) {
	s := startedOpenAIStream(b)
	data := []byte(benchAnthropicDelta)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		ev, err := anthropic.ParseStreamEvent(data)
		if err != nil {
			b.Fatal(err)
		}
		out, err := s.Feed(ev)
		if err != nil || len(out) != 1 {
			b.Fatal(err)
		}
		buf, _ = out[0].AppendData(buf[:0])
	}
}

func startedAnthropicStream(b *testing.B) *AnthropicStream {
	s := NewAnthropicStream(StreamOptions{})
	ev, _ := openai.ParseStreamEvent([]byte(benchOpenAIChunk))
	if _, err := s.Feed(ev); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAnthropicStream is the cost of turning one OpenAI content chunk
// into one Anthropic text_delta event's SSE data, chunk already parsed.
func BenchmarkAnthropicStream(b *testing.B) {
	s := startedAnthropicStream(b)
	ev, _ := openai.ParseStreamEvent([]byte(benchOpenAIChunk))
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out, err := s.Feed(ev)
		if err != nil || len(out) != 1 {
			b.Fatal(err)
		}
		buf, _ = out[0].AppendJSON(buf[:0])
	}
}

// BenchmarkAnthropicStreamParse adds parsing the upstream chunk's data.
func BenchmarkAnthropicStreamParse(b *testing.B) {
	s := startedAnthropicStream(b)
	data := []byte(benchOpenAIChunk)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		ev, err := openai.ParseStreamEvent(data)
		if err != nil {
			b.Fatal(err)
		}
		out, err := s.Feed(ev)
		if err != nil || len(out) != 1 {
			b.Fatal(err)
		}
		buf, _ = out[0].AppendJSON(buf[:0])
	}
}
