package route_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/aitest"
	"github.com/sluicegw/sluice/internal/ai/route"
)

func asErr(err error, target any) bool { return errors.As(err, target) }

var hiParams = oaisdk.ChatCompletionNewParams{Model: "smart", Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("hi")}}

// TestFallback fails the first target in each way that allows a fallback
// and checks that the second serves, before anything reached the client.
func TestFallback(t *testing.T) {
	t.Parallel()
	stall := make(chan struct{}) // never closed: a provider that never answers
	tests := []struct {
		name   string
		fault  aitest.Fault
		refuse bool // the first provider's address refuses connections
		stream bool
		kind   string // the first attempt's failure
	}{
		{name: "500", fault: aitest.Fault{Status: 500}},
		{name: "500 stream", fault: aitest.Fault{Status: 500}, stream: true},
		{name: "429", fault: aitest.Fault{Status: 429}},
		{name: "529 overloaded", fault: aitest.Fault{Status: 529}, stream: true},
		{name: "connection refused", refuse: true},
		{name: "connection dropped", fault: aitest.Fault{Refuse: true}, stream: true},
		{name: "stall before first token", fault: aitest.Fault{StallFirstToken: stall}, stream: true},
		{name: "error event before first token", fault: aitest.Fault{ErrorAfter: 1}, stream: true},
	}
	for _, kind := range []string{"openai", "anthropic"} {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				var first route.Provider
				var firstHits func() []aitest.Request
				if kind == "openai" {
					f := aitest.NewOpenAI(t)
					f.Enqueue(tt.fault)
					first, firstHits = oaiProvider("first", f.URL()), f.Requests
				} else {
					f := aitest.NewAnthropic(t)
					f.Enqueue(tt.fault)
					first, firstHits = antProvider("first", f.URL()), f.Requests
				}
				if tt.refuse {
					first.BaseURL = aitest.RefusedURL(t)
					firstHits = func() []aitest.Request { return make([]aitest.Request, 1) }
				}
				second := aitest.NewOpenAI(t)
				cfg := one([]route.Provider{first, oaiProvider("second", second.URL())},
					route.Target{Provider: "first", Model: "m1"}, route.Target{Provider: "second", Model: "m2"})
				cfg.Timeouts.FirstToken = 200 * time.Millisecond
				fr := newFront(t, cfg)

				var raw *http.Response
				text := ""
				if tt.stream {
					s := fr.openai().Chat.Completions.NewStreaming(context.Background(), hiParams, oaiopt.WithResponseInto(&raw))
					var acc oaisdk.ChatCompletionAccumulator
					for s.Next() {
						acc.AddChunk(s.Current())
					}
					if err := s.Err(); err != nil {
						t.Fatal(err)
					}
					text = acc.Choices[0].Message.Content
				} else {
					res, err := fr.openai().Chat.Completions.New(context.Background(), hiParams, oaiopt.WithResponseInto(&raw))
					if err != nil {
						t.Fatal(err)
					}
					text = res.Choices[0].Message.Content
				}
				if text != aitest.DefaultReply.Text {
					t.Errorf("text = %q", text)
				}
				if p, m := raw.Header.Get(route.HeaderProvider), raw.Header.Get(route.HeaderModel); p != "second" || m != "m2" {
					t.Errorf("served by %s/%s; want second/m2", p, m)
				}
				r := fr.result(t)
				if r.Provider != "second" || r.Attempts != 2 || r.Fallbacks != 1 || r.ErrorKind != "" || r.Usage != aitest.DefaultReply.Usage {
					t.Errorf("Result = %+v", r)
				}
				if n := len(firstHits()); n != 1 {
					t.Errorf("first target saw %d requests; want 1", n)
				}
				if n := len(second.Requests()); n != 1 {
					t.Errorf("second target saw %d requests; want 1", n)
				}
			})
		}
	}
}

// TestNoRetryAfterFirstByte cuts a stream after content reached the
// client: the client gets an error, and nothing is retried.
func TestNoRetryAfterFirstByte(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"openai", "anthropic"} {
		for _, ingress := range []string{"openai", "anthropic"} {
			t.Run(kind+"->"+ingress, func(t *testing.T) {
				t.Parallel()
				var first route.Provider
				var hits func() []aitest.Request
				if kind == "openai" {
					f := aitest.NewOpenAI(t)
					f.Enqueue(aitest.Fault{CutAfter: 3})
					first, hits = oaiProvider("first", f.URL()), f.Requests
				} else {
					f := aitest.NewAnthropic(t)
					f.Enqueue(aitest.Fault{CutAfter: 4})
					first, hits = antProvider("first", f.URL()), f.Requests
				}
				second := aitest.NewOpenAI(t)
				cfg := one([]route.Provider{first, oaiProvider("second", second.URL())},
					route.Target{Provider: "first", Model: "m1"}, route.Target{Provider: "second", Model: "m2"})
				cfg.Retry = route.Retry{Attempts: 3}
				fr := newFront(t, cfg)

				var got string
				var err error
				if ingress == "openai" {
					s := fr.openai().Chat.Completions.NewStreaming(context.Background(), hiParams)
					for s.Next() {
						if ch := s.Current(); len(ch.Choices) > 0 {
							got += ch.Choices[0].Delta.Content
						}
					}
					err = s.Err()
				} else {
					s := fr.anthropic().Messages.NewStreaming(context.Background(), antsdk.MessageNewParams{Model: "smart", MaxTokens: 10,
						Messages: []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("hi"))}})
					for s.Next() {
						if ev := s.Current(); ev.Type == "content_block_delta" {
							got += ev.Delta.Text
						}
					}
					err = s.Err()
				}
				if err == nil || got == "" {
					t.Errorf("stream got %q, err %v; want some content, then an error", got, err)
				}
				if n := len(hits()); n != 1 {
					t.Errorf("first target saw %d requests; want 1", n)
				}
				if n := len(second.Requests()); n != 0 {
					t.Errorf("second target saw %d requests; want 0", n)
				}
				if r := fr.result(t); r.ErrorKind != "stream_cut" || r.Attempts != 1 || r.Status != 200 {
					t.Errorf("Result = %+v", r)
				}
			})
		}
	}
}

// TestStallAfterCommit stops a stream mid-way: between_chunks ends the
// client's stream with an error event in its API's shape.
func TestStallAfterCommit(t *testing.T) {
	t.Parallel()
	for _, ingress := range []string{"openai", "anthropic"} {
		t.Run(ingress, func(t *testing.T) {
			t.Parallel()
			f := aitest.NewOpenAI(t)
			gate := f.Step()
			gate.Release(3) // role chunk and two content chunks, then silence
			cfg := one([]route.Provider{oaiProvider("up", f.URL())}, route.Target{Provider: "up", Model: "m"})
			cfg.Timeouts.BetweenChunks = 100 * time.Millisecond
			fr := newFront(t, cfg)
			var err error
			if ingress == "openai" {
				s := fr.openai().Chat.Completions.NewStreaming(context.Background(), hiParams)
				for s.Next() {
				}
				err = s.Err()
			} else {
				s := fr.anthropic().Messages.NewStreaming(context.Background(), antsdk.MessageNewParams{Model: "smart", MaxTokens: 10,
					Messages: []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("hi"))}})
				for s.Next() {
				}
				err = s.Err()
			}
			if err == nil || !strings.Contains(err.Error(), "stalled") {
				t.Errorf("stream error = %v; want the stall", err)
			}
			if r := fr.result(t); r.ErrorKind != "stream_stalled" || r.Attempts != 1 {
				t.Errorf("Result = %+v", r)
			}
		})
	}
}

// TestRetryAfter: a 429 whose Retry-After exceeds the cap moves on at
// once; with no other target the client gets the 429 and Retry-After.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	first, second := aitest.NewOpenAI(t), aitest.NewOpenAI(t)
	first.Enqueue(aitest.Fault{Status: 429, RetryAfter: "1"}, aitest.Fault{Status: 429, RetryAfter: "7"})
	cfg := route.Config{
		Providers: []route.Provider{oaiProvider("first", first.URL()), oaiProvider("second", second.URL())},
		Models: []route.Model{
			{Name: "smart", Targets: []route.Target{{Provider: "first", Model: "m1"}, {Provider: "second", Model: "m2"}}},
			{Name: "solo", Targets: []route.Target{{Provider: "first", Model: "m1"}}},
		},
		Retry: route.Retry{Attempts: 5, RetryAfterCap: 0},
	}
	fr := newFront(t, cfg)
	if _, err := fr.openai().Chat.Completions.New(context.Background(), hiParams); err != nil {
		t.Fatal(err)
	}
	if n := len(first.Requests()); n != 1 {
		t.Errorf("first target saw %d requests; want 1 (no retry past the cap)", n)
	}
	if r := fr.result(t); r.Provider != "second" || r.Attempts != 2 {
		t.Errorf("Result = %+v", r)
	}

	// The only key of "first" cools down for 1s after the 429: "solo"
	// fails without an upstream call, with the time left as Retry-After.
	params := hiParams
	params.Model = "solo"
	var raw *http.Response
	_, err := fr.openai().Chat.Completions.New(context.Background(), params, oaiopt.WithResponseInto(&raw))
	var apiErr *oaisdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type != "rate_limit_error" {
		t.Fatalf("error = %v; want a 429", err)
	}
	if ra := apiErr.Response.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q; want 1", ra)
	}
	if r := fr.result(t); r.ErrorKind != "rate_limited" || r.Status != 429 || r.Attempts != 0 {
		t.Errorf("Result = %+v", r)
	}
	if n := len(first.Requests()); n != 1 {
		t.Errorf("a cooling key was used: %d requests", n)
	}
}

// TestKeyRotation counts which key each upstream request carried.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	f := aitest.NewOpenAI(t)
	fr := newFront(t, one([]route.Provider{oaiProvider("up", f.URL(), "k1", "k2", "k3")}, route.Target{Provider: "up", Model: "m"}))
	c := fr.openai()
	send := func() {
		t.Helper()
		if _, err := c.Chat.Completions.New(context.Background(), hiParams); err != nil {
			t.Fatal(err)
		}
		fr.result(t)
	}
	for range 3 {
		send()
	}
	// k1 gets a 429 (no Retry-After: the default cooldown): the same
	// request goes on with the next key, k2, and k1 is skipped from then on.
	f.Enqueue(aitest.Fault{Status: 429})
	for range 3 {
		send()
	}
	var keys []string
	for _, r := range f.Requests() {
		keys = append(keys, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}
	if got, want := strings.Join(keys, ","), "k1,k2,k3,k1,k2,k3,k2"; got != want {
		t.Errorf("keys used = %s; want %s", got, want)
	}
}

// TestPassiveHealth ejects a target that failed EjectAfter times in a row.
func TestPassiveHealth(t *testing.T) {
	t.Parallel()
	first, second := aitest.NewOpenAI(t), aitest.NewOpenAI(t)
	first.Enqueue(aitest.Fault{Status: 500}, aitest.Fault{Status: 500})
	cfg := one([]route.Provider{oaiProvider("first", first.URL()), oaiProvider("second", second.URL())},
		route.Target{Provider: "first", Model: "m1"}, route.Target{Provider: "second", Model: "m2"})
	cfg.Health = route.Health{EjectAfter: 2, EjectFor: time.Hour}
	fr := newFront(t, cfg)
	for range 3 {
		if _, err := fr.openai().Chat.Completions.New(context.Background(), hiParams); err != nil {
			t.Fatal(err)
		}
		fr.result(t)
	}
	if n := len(first.Requests()); n != 2 {
		t.Errorf("first target saw %d requests; want 2, then ejected", n)
	}
	if n := len(second.Requests()); n != 3 {
		t.Errorf("second target saw %d requests; want 3", n)
	}
}

// TestAllFailed maps the last upstream failure to the client's status.
func TestAllFailed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault  aitest.Fault
		status int
		kind   string
	}{
		{aitest.Fault{Status: 500}, 502, "upstream_error"},
		{aitest.Fault{Status: 503}, 503, "upstream_error"},
		{aitest.Fault{Status: 529}, 503, "upstream_error"},
		{aitest.Fault{Status: 401}, 502, "upstream_error"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fault.Status), func(t *testing.T) {
			t.Parallel()
			f := aitest.NewAnthropic(t)
			f.Enqueue(tt.fault, tt.fault)
			cfg := one([]route.Provider{antProvider("up", f.URL())}, route.Target{Provider: "up", Model: "m"})
			cfg.Retry = route.Retry{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}
			fr := newFront(t, cfg)
			_, err := fr.anthropic().Messages.New(context.Background(), antsdk.MessageNewParams{Model: "smart", MaxTokens: 10,
				Messages: []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("hi"))}})
			var apiErr *antsdk.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status {
				t.Fatalf("error = %v; want status %d", err, tt.status)
			}
			r := fr.result(t)
			wantAttempts := 2
			if tt.fault.Status == 401 {
				wantAttempts = 1 // 401 is not in retry.on
			}
			if r.ErrorKind != tt.kind || r.Status != tt.status || r.Attempts != wantAttempts {
				t.Errorf("Result = %+v", r)
			}
		})
	}
}

// TestBadInput checks the errors that never reach a provider.
func TestBadInput(t *testing.T) {
	t.Parallel()
	oai, ant := aitest.NewOpenAI(t), aitest.NewAnthropic(t)
	cfg := route.Config{
		Providers: []route.Provider{oaiProvider("oai", oai.URL()), antProvider("ant", ant.URL())},
		Models: []route.Model{
			{Name: "gpt", Targets: []route.Target{{Provider: "oai", Model: "m"}}},
			{Name: "claude", Targets: []route.Target{{Provider: "ant", Model: "m"}}},
		},
		MaxBody: 1 << 10,
	}
	fr := newFront(t, cfg)
	big := `{"model":"gpt","messages":[{"role":"user","content":"` + strings.Repeat("x", 2<<10) + `"}]}`
	tests := []struct {
		name, path, body string
		status           int
		want             string // in the body
	}{
		{"openai invalid JSON", "/v1/chat/completions", `{"model":`, 400, `"type":"invalid_request_error"`},
		{"openai missing model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, 400, `"param":"model"`},
		{"openai unknown model", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 404, `"code":"model_not_found"`},
		{"openai too large", "/v1/chat/completions", big, 413, `"type":"invalid_request_error"`},
		{"openai untranslatable", "/v1/chat/completions", `{"model":"claude","n":2,"messages":[{"role":"user","content":"hi"}]}`, 400, `"param":"n"`},
		{"anthropic invalid JSON", "/v1/messages", `[`, 400, `"type":"error"`},
		{"anthropic missing max_tokens", "/v1/messages", `{"model":"claude","messages":[{"role":"user","content":"hi"}]}`, 400, `"invalid_request_error"`},
		{"anthropic unknown model", "/v1/messages", `{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 404, `"not_found_error"`},
		{"anthropic untranslatable", "/v1/messages", `{"model":"gpt","top_k":5,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 400, `top_k`},
		{"unknown path", "/v1/completions", `{}`, 404, `"code":"unknown_url"`},
	}
	for _, tt := range tests {
		resp, err := http.Post(fr.URL+tt.path, "application/json", bytes.NewReader([]byte(tt.body)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s; want %d with %s", tt.name, resp.StatusCode, b, tt.status, tt.want)
		}
		if r := fr.result(t); r.Status != tt.status || r.ErrorKind == "" || r.Attempts != 0 {
			t.Errorf("%s: Result = %+v", tt.name, r)
		}
	}
	if n := len(oai.Requests()) + len(ant.Requests()); n != 0 {
		t.Errorf("bad input reached a provider %d times", n)
	}
}

// TestUpstreamCallerFault relays a provider's 400 in the ingress shape,
// without fallback.
func TestUpstreamCallerFault(t *testing.T) {
	t.Parallel()
	ant, second := aitest.NewAnthropic(t), aitest.NewOpenAI(t)
	ant.Enqueue(aitest.Fault{Status: 400, Message: "prompt is too long"})
	fr := newFront(t, one([]route.Provider{antProvider("ant", ant.URL()), oaiProvider("second", second.URL())},
		route.Target{Provider: "ant", Model: "m"}, route.Target{Provider: "second", Model: "m"}))
	_, err := fr.openai().Chat.Completions.New(context.Background(), hiParams)
	var apiErr *oaisdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "prompt is too long") {
		t.Errorf("error = %v", err)
	}
	if len(second.Requests()) != 0 {
		t.Error("a caller fault fell back")
	}
	fr.result(t)
}

// TestStreamNotBuffered releases the provider's events one at a time and
// requires the client to have received each before the next is released.
func TestStreamNotBuffered(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"openai", "anthropic"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			reply := aitest.Reply{Text: "aabbccdd", ChunkSize: 2, Usage: ai.Usage{Input: 5, Output: 4}}
			var p route.Provider
			var gate *aitest.Gate
			preamble := 2 // events held until the first content: role chunk + first content
			if kind == "openai" {
				f := aitest.NewOpenAI(t)
				f.SetReply(reply)
				gate, p = f.Step(), oaiProvider("up", f.URL())
			} else {
				f := aitest.NewAnthropic(t)
				f.SetReply(reply)
				gate, p = f.Step(), antProvider("up", f.URL())
				preamble = 3 // message_start, ping, content_block_start
			}
			fr := newFront(t, one([]route.Provider{p}, route.Target{Provider: "up", Model: "m"}))
			gate.Release(preamble)
			s := fr.openai().Chat.Completions.NewStreaming(context.Background(), hiParams)
			next := func() oaisdk.ChatCompletionChunk {
				t.Helper()
				done := make(chan bool, 1)
				go func() { done <- s.Next() }()
				select {
				case ok := <-done:
					if !ok {
						t.Fatalf("stream ended: %v", s.Err())
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the client did not get an event the provider sent: buffered")
				}
				return s.Current()
			}
			if c := next(); c.Choices[0].Delta.Role != "assistant" {
				t.Fatalf("first chunk = %s", c.RawJSON())
			}
			var content []string
			if kind == "openai" {
				content = append(content, next().Choices[0].Delta.Content)
			}
			for _, want := range []string{"bb", "cc", "dd"} {
				if kind == "anthropic" && want == "bb" {
					// content_block_start had no text; "aa" is the first delta.
					gate.Release(1)
					content = append(content, next().Choices[0].Delta.Content)
				}
				gate.Release(1)
				got := next().Choices[0].Delta.Content
				content = append(content, got)
				if got != want {
					t.Fatalf("chunk = %q; want %q", got, want)
				}
			}
			if strings.Join(content, "") != "aabbccdd" {
				t.Errorf("content = %v", content)
			}
			gate.Release(100)
			for s.Next() {
			}
			if s.Err() != nil {
				t.Error(s.Err())
			}
			if r := fr.result(t); r.Usage != reply.Usage {
				t.Errorf("usage = %+v; want %+v", r.Usage, reply.Usage)
			}
		})
	}
}
