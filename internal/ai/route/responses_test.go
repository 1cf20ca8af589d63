package route_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	oaisdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/sluicegw/sluice/internal/ai/route"
)

// TestResponsesAPI: POST /v1/responses through the route with the OpenAI
// SDK's Responses client, not streaming and streaming, with usage read
// from the answer and the final event.
func TestResponsesAPI(t *testing.T) {
	f := newFront(t, one([]route.Provider{{Name: "local", Type: route.TypeMock}}, route.Target{Provider: "local", Model: "mock-1"}))
	ctx := context.Background()
	params := responses.ResponseNewParams{
		Model:        "smart",
		Instructions: oaisdk.String("be brief"),
		Input:        responses.ResponseNewParamsInputUnion{OfString: oaisdk.String("hello responses")},
	}
	res, err := f.openai().Responses.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.OutputText(), "You said: hello responses") {
		t.Errorf("output = %q", res.OutputText())
	}
	r := f.result(t)
	if !r.UsageKnown || r.Usage.Input != res.Usage.InputTokens || r.Usage.Output != res.Usage.OutputTokens || r.Operation != "responses" {
		t.Errorf("result = %+v; want the answer's usage %+v", r, res.Usage)
	}

	stream := f.openai().Responses.NewStreaming(ctx, params)
	var text strings.Builder
	var last string
	for stream.Next() {
		ev := stream.Current()
		if ev.Type == "response.output_text.delta" {
			text.WriteString(ev.Delta)
		}
		last = ev.Type
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != res.OutputText() || last != "response.completed" {
		t.Errorf("stream text %q (last event %s); want %q ending in response.completed", text.String(), last, res.OutputText())
	}
	if r := f.result(t); !r.UsageKnown || r.Usage.Output != res.Usage.OutputTokens || !r.Stream {
		t.Errorf("stream result = %+v", r)
	}
}

// TestResponsesFallback: a provider whose stream starts with
// response.created and then fails has not committed: Sluice moves on to
// the next target and the client sees only the good stream.
func TestResponsesFallback(t *testing.T) {
	var calls atomic.Int32
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/v1/responses" || r.Header.Get("Authorization") != "Bearer sk-bad" {
			t.Errorf("upstream got %s with %q", r.URL.Path, r.Header.Get("Authorization"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"r\",\"status\":\"in_progress\"}}\n\n")
		fmt.Fprint(w, "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"boom\",\"param\":null,\"sequence_number\":1}\n\n")
	}))
	defer bad.Close()
	f := newFront(t, one([]route.Provider{oaiProvider("bad", bad.URL), {Name: "local", Type: route.TypeMock}},
		route.Target{Provider: "bad", Model: "gpt-x"}, route.Target{Provider: "local", Model: "mock-1"}))
	stream := f.openai().Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model: "smart", Input: responses.ResponseNewParamsInputUnion{OfString: oaisdk.String("again")},
	})
	n := 0
	for stream.Next() {
		if stream.Current().Type == "error" {
			t.Error("the client saw the failed target's error event")
		}
		n++
	}
	if err := stream.Err(); err != nil || n == 0 {
		t.Fatalf("stream: %d events, err %v", n, err)
	}
	r := f.result(t)
	if calls.Load() != 1 || r.Fallbacks != 1 || r.Provider != "local" {
		t.Errorf("calls %d, result %+v; want one failed call and a fallback to local", calls.Load(), r)
	}
}

// TestResponsesNeedsOpenAITarget: the Responses API is never translated,
// so a model whose targets all speak Anthropic refuses it before any call.
func TestResponsesNeedsOpenAITarget(t *testing.T) {
	f := newFront(t, one([]route.Provider{antProvider("claude", "http://127.0.0.1:1")}, route.Target{Provider: "claude", Model: "c"}))
	_, err := f.openai().Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "smart", Input: responses.ResponseNewParamsInputUnion{OfString: oaisdk.String("x")},
	})
	var apiErr *oaisdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "model_not_supported" {
		t.Errorf("err = %v; want a 400 model_not_supported", err)
	}
}
