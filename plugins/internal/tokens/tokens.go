// Package tokens estimates how many tokens a prompt will use, offline, so
// that a request can be admitted against a token limit before the provider
// reports real usage.
//
// It runs OpenAI's byte-pair encodings (tiktoken's o200k_base and
// cl100k_base, embedded in the binary by github.com/tiktoken-go/tokenizer;
// nothing is downloaded). For OpenAI models the counts are exact for text;
// for every other vendor's model (Claude, Gemini, DeepSeek, Llama, Mistral
// ...) they are an estimate, since those tokenizers are not public or not
// embedded: o200k_base is used as a stand-in, and it typically lands within
// a few tens of percent of the real count. Callers that need the real
// number take it from the provider's usage report afterwards.
package tokens

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer/codec"
)

// Estimator counts tokens offline. It is safe for concurrent use; build one
// and share it.
//
// Each encoding is loaded on first use, because building its vocabulary map
// is slow and a gateway that serves only some models never needs the other
// one: o200k_base takes about 15 ms and 7 MiB of heap, cl100k_base about
// 6 ms and 3.5 MiB (measured on the CI machine's kind). The vocabularies
// are process-wide, shared by every Estimator. The first Count of each
// encoding pays the load; later ones cost 60 to 120 µs per KiB of text.
type Estimator struct {
	o200k, cl100k lazyCodec
}

// lazyCodec builds a codec once, on first use.
type lazyCodec struct {
	once  sync.Once
	build func() *codec.Codec
	c     *codec.Codec
}

func (l *lazyCodec) get() *codec.Codec {
	l.once.Do(func() { l.c = l.build() })
	return l.c
}

// New returns an Estimator. It is cheap: no vocabulary is loaded until the
// first Count or Messages that needs it.
func New() *Estimator {
	// The codec package is used directly, rather than tokenizer.Get, so that
	// only these two vocabularies are linked into the binary.
	return &Estimator{
		o200k:  lazyCodec{build: codec.NewO200kBase},
		cl100k: lazyCodec{build: codec.NewCl100kBase},
	}
}

// Count returns the number of tokens of text for the given model.
//
// The encoding follows tiktoken's model table: cl100k_base for gpt-3.5 and
// gpt-4 (but not gpt-4o, gpt-4.1 or gpt-4.5) and text-embedding-* models;
// o200k_base for gpt-4o, gpt-4.1, gpt-5, the o1/o3/o4 families and every
// model it does not know. Other vendors' models get o200k_base as an
// approximation (see the package comment). Special tokens such as
// "<|endoftext|>" in text are counted as ordinary text, as a provider
// counts them in a user's prompt.
func (e *Estimator) Count(model, text string) int {
	return count(e.codecFor(model), text)
}

// Message is one chat message for estimation: its role ("system", "user",
// "assistant", "tool") and its text content.
type Message struct{ Role, Text string }

// Per OpenAI's cookbook "How to count tokens with tiktoken": each message is
// framed as <|start|>{role}\n{content}<|end|>\n, 3 tokens besides the role
// and content, and every reply is primed with <|start|>assistant<|message|>,
// 3 more.
const (
	tokensPerMessage = 3
	tokensPerReply   = 3
)

// Messages estimates a chat request's prompt tokens the way OpenAI's
// cookbook counts them: for each message 3 tokens of framing plus its role
// and text, and 3 tokens that prime the reply. Tool definitions, images and
// message names are not counted; the result is an estimate that matches the
// OpenAI API for plain text messages.
func (e *Estimator) Messages(model string, msgs []Message) int {
	c := e.codecFor(model)
	n := tokensPerReply
	for _, m := range msgs {
		n += tokensPerMessage + count(c, m.Role) + count(c, m.Text)
	}
	return n
}

// ExactBytes bounds the text counted exactly per call: the encoder costs
// about 0.1 ms per KiB, so a megabyte prompt would cost 100 ms before the
// request is admitted. Past this many bytes, the rest counts at four bytes
// per token, the usual average for English text.
const ExactBytes = 32 << 10

// count is Count for an already chosen codec.
func count(c *codec.Codec, text string) int {
	if text == "" {
		return 0
	}
	rest := 0
	if len(text) > ExactBytes {
		cut := ExactBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut-- // never split a UTF-8 sequence
		}
		text, rest = text[:cut], (len(text)-cut+3)/4
	}
	n, err := c.Count(text)
	if err != nil {
		// The codec fails only if its splitting expression does, which a
		// string cannot make it do; fall back to four bytes per token
		// rather than admit a request as free.
		n = (len(text) + 3) / 4
	}
	return n + rest
}

// codecFor returns the encoding of model, loading it on first use.
func (e *Estimator) codecFor(model string) *codec.Codec {
	if usesCL100k(model) {
		return e.cl100k.get()
	}
	return e.o200k.get()
}

// usesCL100k reports whether model is one of OpenAI's cl100k_base models:
// gpt-3.5*, gpt-4 and its dated and -turbo/-32k variants, and the
// text-embedding models, fine-tuned ones included. A provider prefix
// ("openai/", "azure/") is ignored.
func usesCL100k(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	m = strings.TrimPrefix(m, "ft:")
	switch {
	case strings.HasPrefix(m, "gpt-3.5"), strings.HasPrefix(m, "gpt-35"), strings.HasPrefix(m, "text-embedding-"):
		return true
	case m == "gpt-4", strings.HasPrefix(m, "gpt-4-"):
		return true
	}
	return false
}
