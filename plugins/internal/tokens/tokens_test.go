package tokens

import (
	"strings"
	"sync"
	"testing"
)

// est is shared by the tests, as a gateway shares one Estimator; the
// vocabularies load once per process anyway.
var est = New()

// Expected counts come from OpenAI's cookbook "How to count tokens with
// tiktoken", which prints them from tiktoken itself, except "hello world".
func TestCount(t *testing.T) {
	t.Parallel()
	const japanese = "お誕生日おめでとう" // 9 tokens in cl100k_base, 8 in o200k_base
	tests := []struct {
		model, text string
		want        int
	}{
		{"gpt-4o", "", 0},
		{"gpt-4o", "hello world", 2},
		{"gpt-4", "hello world", 2},
		{"gpt-4o-mini", "tiktoken is great!", 6},
		{"gpt-4", "antidisestablishmentarianism", 6},
		{"gpt-4o", "antidisestablishmentarianism", 6},
		{"gpt-4", "2 + 2 = 4", 7},
		{"gpt-4o", "2 + 2 = 4", 7},

		// The Japanese string tells the two encodings apart.
		{"gpt-4", japanese, 9},
		{"gpt-4-0613", japanese, 9},
		{"gpt-4-turbo", japanese, 9},
		{"openai/gpt-4-32k", japanese, 9},
		{"ft:gpt-4-0613:acme::abc123", japanese, 9},
		{"gpt-3.5-turbo", japanese, 9},
		{"gpt-35-turbo", japanese, 9}, // Azure's spelling
		{"ft:gpt-3.5-turbo-0125:acme::abc123", japanese, 9},
		{"text-embedding-3-small", japanese, 9},
		{"text-embedding-3-large", japanese, 9},
		{"text-embedding-ada-002", japanese, 9},
		{"GPT-4", japanese, 9},
		{"gpt-4o", japanese, 8},
		{"gpt-4o-2024-08-06", japanese, 8},
		{"gpt-4.1-mini", japanese, 8},
		{"gpt-4.5-preview", japanese, 8},
		{"gpt-5", japanese, 8},
		{"gpt-5-nano", japanese, 8},
		{"o1", japanese, 8},
		{"o3-mini", japanese, 8},
		{"o4-mini", japanese, 8},
		{"chatgpt-4o-latest", japanese, 8},
		{"gpt-40", japanese, 8}, // not gpt-4: unknown, so o200k_base
		{"claude-sonnet-4-5", japanese, 8},
		{"gemini-2.5-flash", japanese, 8},
		{"deepseek-chat", japanese, 8},
		{"llama3.1:8b", japanese, 8},
		{"", japanese, 8},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.text, func(t *testing.T) {
			t.Parallel()
			if got := est.Count(tt.model, tt.text); got != tt.want {
				t.Errorf("Count(%q, %q) = %d; want %d", tt.model, tt.text, got, tt.want)
			}
		})
	}
}

func TestCountEdgeCases(t *testing.T) {
	t.Parallel()
	// Special tokens are user text here, so they cost what their characters
	// cost rather than the one token a tokenizer allowing them would give.
	if got := est.Count("gpt-4o", "<|endoftext|>"); got <= 1 {
		t.Errorf("Count(%q) = %d; want it counted as text (> 1)", "<|endoftext|>", got)
	}
	// Invalid UTF-8 must neither panic nor count as free.
	if got := est.Count("gpt-4o", "abc \xff\xfe\xfd def"); got < 3 {
		t.Errorf("Count(invalid UTF-8) = %d; want at least 3", got)
	}
	// Long runs of one character take the codec's quadratic-merge guard
	// (mergePairsHeap); the count is still exact and fast.
	long := strings.Repeat("a", 100_000)
	if got := est.Count("gpt-4o", long); got < 100_000/16 || got > 100_000 {
		t.Errorf("Count(100000 x 'a') = %d; want a plausible count", got)
	}
	if got := est.Count("gpt-4o", strings.Repeat(" ", 100_000)+"x"); got < 1 || got > 100_000 {
		t.Errorf("Count(100000 spaces) = %d; want a plausible count", got)
	}
}

// cookbookMessages is the cookbook's example chat (section 6). The cookbook
// reports 129 prompt tokens for gpt-3.5-turbo and gpt-4 and 124 for gpt-4o
// and gpt-4o-mini, both from its function and from the OpenAI API.
var cookbookMessages = []struct{ role, name, content string }{
	{"system", "", "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
	{"system", "example_user", "New synergies will help drive top-line growth."},
	{"system", "example_assistant", "Things working well together will increase revenue."},
	{"system", "example_user", "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
	{"system", "example_assistant", "Let's talk later when we're less busy about how to do better."},
	{"user", "", "This late pivot means we don't have time to boil the ocean for the client deliverable."},
}

func TestMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model string
		want  int
	}{
		{"gpt-3.5-turbo", 129},
		{"gpt-4-0613", 129},
		{"gpt-4", 129},
		{"gpt-4o", 124},
		{"gpt-4o-mini", 124},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			t.Parallel()
			// Message has no name, so add what the cookbook charges for one:
			// its tokens plus 1.
			var msgs []Message
			names := 0
			for _, m := range cookbookMessages {
				msgs = append(msgs, Message{Role: m.role, Text: m.content})
				if m.name != "" {
					names += est.Count(tt.model, m.name) + 1
				}
			}
			if got := est.Messages(tt.model, msgs) + names; got != tt.want {
				t.Errorf("Messages(%q, cookbook example) + names = %d; want %d", tt.model, got, tt.want)
			}
		})
	}

	// 3 framing + "user" (1) + "hello world" (2), and 3 to prime the reply.
	if got := est.Messages("gpt-4o", []Message{{Role: "user", Text: "hello world"}}); got != 9 {
		t.Errorf("Messages(gpt-4o, hello world) = %d; want 9", got)
	}
	if got := est.Messages("gpt-4o", nil); got != 3 {
		t.Errorf("Messages(gpt-4o, nil) = %d; want 3", got)
	}
}

// TestConcurrent runs first uses of both encodings in parallel on a fresh
// Estimator; with -race it checks the lazy loading.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	e := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			model := "gpt-4o"
			want := 8
			if i%2 == 1 {
				model, want = "gpt-4", 9
			}
			for range 50 {
				if got := e.Count(model, "お誕生日おめでとう"); got != want {
					t.Errorf("Count(%q) = %d; want %d", model, got, want)
					return
				}
				if got := e.Messages(model, []Message{{"user", "hello world"}}); got != 9 {
					t.Errorf("Messages(%q) = %d; want 9", model, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// prompt1K is about 1 KB of ordinary English prose with some code-like text.
var prompt1K = func() string {
	var b strings.Builder
	parts := []string{
		"You are a helpful assistant for Sluice, an API gateway. ",
		"Answer the user's question about routes, plugins and upstreams in plain English. ",
		"If the configuration is invalid, name the key and the fix, e.g. routes[chat].plugins[0](key-auth).header: must not be empty. ",
		"The gateway proxies OpenAI- and Anthropic-compatible requests, fails over between providers, ",
		"and counts tokens so that limits hold before the provider answers. ",
	}
	for i := 0; b.Len() < 1024; i++ {
		b.WriteString(parts[i%len(parts)])
	}
	return b.String()[:1024]
}()

func BenchmarkCount(b *testing.B) {
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		b.Run(model, func(b *testing.B) {
			est.Count(model, "warm up") // load the vocabulary outside the timing
			b.SetBytes(int64(len(prompt1K)))
			b.ReportAllocs()
			for b.Loop() {
				est.Count(model, prompt1K)
			}
		})
	}
}

func BenchmarkCountParallel(b *testing.B) {
	est.Count("gpt-4o", "warm up")
	b.SetBytes(int64(len(prompt1K)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			est.Count("gpt-4o", prompt1K)
		}
	})
}
