package airatelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	antopt "github.com/anthropics/anthropic-sdk-go/option"
	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"

	"github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/tokens"
)

// front serves an ai route with the mock provider behind uses, as the
// gateway does: the chain wrapped by the route's Wrap, the caller
// identified as consumer, and a plugin's error written by the route's
// WriteError (in the client's API shape) when nothing was written.
func front(t *testing.T, consumer string, uses ...plugin.Use) *httptest.Server {
	t.Helper()
	h, err := route.New(route.Config{
		Providers: []route.Provider{{Name: "local", Type: route.TypeMock}},
		Models:    []route.Model{{Name: "*", Targets: []route.Target{{Provider: "local"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	chain := h.Wrap(plugin.Chain(uses, h))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &plugin.Exchange{RequestID: "req-test", Route: "llm", Start: time.Now()}
		x.Identify(&plugin.Consumer{Name: consumer}, "test")
		r = r.WithContext(plugin.WithExchange(r.Context(), x))
		tw := &trackingWriter{ResponseWriter: w}
		var pe *plugin.Error
		if err := chain.ServeHTTP(tw, r); errors.As(err, &pe) && !tw.wrote {
			h.WriteError(tw, r, pe, x.RequestID)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// trackingWriter notes whether anything was written, as the gateway's
// recorder does.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *trackingWriter) Flush() {
	w.wrote = true
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestThroughRoute runs the plugin in front of the real ai route and its
// mock provider, with the official SDKs as clients: usage of plain and
// streamed answers is charged, and the refusal reaches each SDK as its
// own rate-limit error.
func TestThroughRoute(t *testing.T) {
	t.Parallel()
	_, o := fresh()
	hs := aiEnv(t, "llm")
	srv := front(t, "alice", plugintest.Use(t, kindWith(o), hs.Env, `{"tokens":40,"window":"1h"}`))
	oai := oaisdk.NewClient(oaiopt.WithBaseURL(srv.URL+"/v1"), oaiopt.WithAPIKey("k"), oaiopt.WithMaxRetries(0))
	params := oaisdk.ChatCompletionNewParams{Model: "demo", Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("hello there")}}
	ctx := context.Background()

	// The mock provider reports 1 + 2 input and 7 + 2 output tokens.
	const used = 12
	est := int64(tokens.New().Messages("demo", []tokens.Message{{Role: "user", Text: "hello there"}}))
	rateLimit := func(resp *http.Response) string { return resp.Header.Get("RateLimit") }
	want := func(r int64) string { return fmt.Sprintf(`"ai-rate-limiting";r=%d;t=3600`, r) }

	var raw *http.Response
	if _, err := oai.Chat.Completions.New(ctx, params, oaiopt.WithResponseInto(&raw)); err != nil {
		t.Fatal(err)
	}
	if got := rateLimit(raw); got != want(40-est) {
		t.Errorf("first answer: RateLimit = %q; want %q", got, want(40-est))
	}
	stream := oai.Chat.Completions.NewStreaming(ctx, params)
	var text strings.Builder
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 {
			text.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil || !strings.Contains(text.String(), "hello there") {
		t.Fatalf("stream: %q, %v", text.String(), err)
	}
	if _, err := oai.Chat.Completions.New(ctx, params, oaiopt.WithResponseInto(&raw)); err != nil {
		t.Fatal(err)
	}
	if got := rateLimit(raw); got != want(40-2*used-est) {
		t.Errorf("third answer: RateLimit = %q; want %q (the stream's usage charged)", got, want(40-2*used-est))
	}

	// 36 used: the fourth does not fit.
	_, err := oai.Chat.Completions.New(ctx, params)
	var apiErr *oaisdk.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("fourth request: error %v; want an *openai.Error", err)
	}
	if apiErr.StatusCode != 429 || apiErr.Type != "rate_limit_error" || apiErr.Code != "rate_limited" ||
		apiErr.Message != "token rate limit exceeded" {
		t.Errorf("fourth request: %d type %q code %q message %q; want 429 rate_limit_error rate_limited",
			apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Message)
	}
	if ra := apiErr.Response.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q; want the seconds to the window's end", ra)
	}

	// An Anthropic client on the same route gets Anthropic's error shape.
	ant := antsdk.NewClient(antopt.WithBaseURL(srv.URL), antopt.WithAPIKey("k"), antopt.WithMaxRetries(0))
	_, err = ant.Messages.New(ctx, antsdk.MessageNewParams{Model: "demo", MaxTokens: 100,
		Messages: []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("hello there"))}})
	var antErr *antsdk.Error
	if !errors.As(err, &antErr) || antErr.StatusCode != 429 || !strings.Contains(antErr.RawJSON(), `"rate_limit_error"`) {
		t.Fatalf("anthropic request: error %v; want a 429 rate_limit_error", err)
	}

	if got := hs.Counts(); got["allowed"] != 3 || got["rejected"] != 2 {
		t.Errorf("decisions = %v; want 3 allowed, 2 rejected", got)
	}
}
