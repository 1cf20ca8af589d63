package route_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/plugin"
)

// fixedProvider answers every request with one chat completion, in
// process, so the benchmark measures the route, not a network.
type fixedProvider struct{ body []byte }

func (f fixedProvider) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body)), Request: r}, nil
}

// BenchmarkChat is one non-streaming OpenAI chat request through the route
// to an OpenAI-type provider: decode, map the model, encode the upstream
// request, read the answer's usage, write it.
func BenchmarkChat(b *testing.B) {
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today? I am a benchmark answer of a realistic length."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":17,"total_tokens":41,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`)
	h, err := route.New(route.Config{
		Providers: []route.Provider{{Name: "fake", Type: route.TypeOpenAICompatible, BaseURL: "http://fake.invalid/v1", APIKeys: []string{"k"}}},
		Models:    []route.Model{{Name: "gpt-4o-mini", Targets: []route.Target{{Provider: "fake", Model: "gpt-4o-mini"}}}},
		Transport: fixedProvider{answer},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(chatBody))
		r = r.WithContext(plugin.WithExchange(r.Context(), &plugin.Exchange{}))
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r); err != nil || w.Code != 200 {
			b.Fatalf("status %d, err %v", w.Code, err)
		}
	}
}

// chatBody is the client request of the chat benchmarks.
const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence, please. This is a benchmark request."}],"temperature":0.2,"max_tokens":64}`

// BenchmarkChatHTTP is BenchmarkChat with the provider behind a loopback
// HTTP server and the route's own transport, so the upstream connection
// (write, read, keep-alive) is part of what is measured.
func BenchmarkChatHTTP(b *testing.B) {
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today? I am a benchmark answer of a realistic length."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":17,"total_tokens":41,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	defer up.Close()
	benchHTTP(b, up.URL, chatBody, "application/json")
}

// BenchmarkChatStreamHTTP is one streaming chat request relayed from a
// loopback provider: five content chunks, the usage chunk and [DONE].
func BenchmarkChatStreamHTTP(b *testing.B) {
	var stream bytes.Buffer
	for _, w := range []string{"Hello", "!", " How", " can", " I help?"} {
		stream.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"` + w + `"},"finish_reason":null}]}` + "\n\n")
	}
	stream.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n")
	stream.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":5,"total_tokens":29}}` + "\n\n")
	stream.WriteString("data: [DONE]\n\n")
	events := stream.Bytes()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(events)
	}))
	defer up.Close()
	body := strings.Replace(chatBody, `"max_tokens":64`, `"max_tokens":64,"stream":true,"stream_options":{"include_usage":true}`, 1)
	benchHTTP(b, up.URL, body, "text/event-stream")
}

func benchHTTP(b *testing.B, upURL, body, wantType string) {
	h, err := route.New(route.Config{
		Providers: []route.Provider{{Name: "fake", Type: route.TypeOpenAICompatible, BaseURL: upURL + "/v1", APIKeys: []string{"k"}}},
		Models:    []route.Model{{Name: "gpt-4o-mini", Targets: []route.Target{{Provider: "fake", Model: "gpt-4o-mini"}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		r = r.WithContext(plugin.WithExchange(r.Context(), &plugin.Exchange{}))
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r); err != nil || w.Code != 200 || w.Header().Get("Content-Type") != wantType {
			b.Fatalf("status %d, type %q, err %v: %s", w.Code, w.Header().Get("Content-Type"), err, w.Body)
		}
	}
}
