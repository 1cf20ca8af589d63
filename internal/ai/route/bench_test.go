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
	body := `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence, please. This is a benchmark request."}],"temperature":0.2,"max_tokens":64}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		r = r.WithContext(plugin.WithExchange(r.Context(), &plugin.Exchange{}))
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r); err != nil || w.Code != 200 {
			b.Fatalf("status %d, err %v", w.Code, err)
		}
	}
}
