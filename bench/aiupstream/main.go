// Command aiupstream is the AI benchmark's provider: a fake
// OpenAI-compatible chat completions endpoint with a fixed latency and a
// fixed answer, in OpenAI's wire format, so that the benchmark measures the
// gateways in front of it and not a model.
//
//	POST /v1/chat/completions  {"stream": false}  -> one chat.completion with usage
//	POST /v1/chat/completions  {"stream": true}   -> text/event-stream:
//	     a role chunk, then the content chunks (one word each, the first one
//	     right after the role chunk, the others -chunk-interval apart), a
//	     finish chunk, a usage chunk when stream_options.include_usage is
//	     true, and data: [DONE]; every event is flushed on its own
//	GET  /v1/models                              -> the model list
//
// A stream has -chunks content chunks, or max_tokens (or
// max_completion_tokens) of them when the request asks for fewer; then its
// finish_reason is "length", as OpenAI's is. -latency delays every answer
// before its first byte (the headers and the first event of a stream).
//
// Its cost per request is kept small (pre-built answer, one JSON decode of
// the request) because it shares a CPU with the gateway under test.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"
)

// words are the stream's tokens, one per content chunk, used in turn.
var words = []string{
	" Sure", "!", " Here", " is", " a", " short", " answer", " about", " gateways", ":",
	" a", " gateway", " sits", " between", " clients", " and", " providers", ",", " routing", " each",
	" request", " to", " a", " model", ",", " counting", " tokens", " and", " failing", " over",
	" when", " a", " provider", " is", " down", ".",
}

// answer is the non-streaming completion's text.
const answer = "Sure! A gateway sits between clients and model providers: it routes each " +
	"request to a model, keeps the provider keys out of the clients, counts the tokens " +
	"of every answer for budgets and bills, and fails over to another provider when one " +
	"is slow or down, without the client noticing."

const (
	completionID = "chatcmpl-BenchA1b2C3d4E5f6G7h8I9j0KlMnOp"
	fingerprint  = "fp_b376dfbbd5"
	created      = 1767225600 // 2026-01-01T00:00:00Z: fixed, so every answer is the same
)

type server struct {
	latency  time.Duration
	chunks   int
	interval time.Duration
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18500", "listen address (host:port)")
	latency := flag.Duration("latency", 0, "fixed delay before every answer's first byte (e.g. 0 or 2ms)")
	chunks := flag.Int("chunks", 20, "content chunks per stream, unless the request's max_tokens asks for fewer")
	interval := flag.Duration("chunk-interval", time.Millisecond, "gap between a stream's content chunks after the first")
	flag.Parse()
	if *chunks < 1 || *chunks > 1_000_000 || *latency < 0 || *interval < 0 {
		fmt.Fprintln(os.Stderr, "aiupstream: -chunks must be 1..1000000, -latency and -chunk-interval not negative")
		os.Exit(2)
	}
	s := &server{latency: *latency, chunks: *chunks, interval: *interval}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("GET /v1/models", models)
	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.SetFlags(0)
	log.Printf("aiupstream: listening on %s (latency %s, %d chunks %s apart, GOMAXPROCS=%d)",
		*addr, *latency, *chunks, *interval, runtime.GOMAXPROCS(0))
	log.Fatal(srv.ListenAndServe())
}

// chatRequest is the part of a chat completion request the fake reads.
type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int `json:"max_tokens"`
	MaxCompletionTokens int `json:"max_completion_tokens"`
}

func (s *server) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		writeError(w, "the request body must be a JSON chat completion request with a model")
		return
	}
	// A rough, deterministic prompt size: about four bytes per token.
	prompt := max(len(body)/4, 1)
	if s.latency > 0 {
		time.Sleep(s.latency)
	}
	if !req.Stream {
		s.complete(w, req.Model, prompt)
		return
	}
	n, finish := s.chunks, "stop"
	if m := req.MaxCompletionTokens; m > 0 && m < n {
		n, finish = m, "length"
	} else if m := req.MaxTokens; m > 0 && m < n {
		n, finish = m, "length"
	}
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s.stream(w, r, req.Model, prompt, n, finish, usage)
}

func (s *server) complete(w http.ResponseWriter, model string, prompt int) {
	b := make([]byte, 0, 1024)
	b = append(b, `{"id":"`+completionID+`","object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = strconv.AppendQuote(b, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	b = strconv.AppendQuote(b, answer)
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],`...)
	b = appendUsage(b, prompt, 52)
	b = append(b, `,"service_tier":"default","system_fingerprint":"`+fingerprint+`"}`...)
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	h["X-Request-Id"] = []string{"req_bench"}
	_, _ = w.Write(b)
}

func (s *server) stream(w http.ResponseWriter, r *http.Request, model string, prompt, n int, finish string, usage bool) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream; charset=utf-8"}
	h["Cache-Control"] = []string{"no-cache"}
	h["X-Request-Id"] = []string{"req_bench"}
	w.WriteHeader(http.StatusOK)

	// Every chunk carries "usage":null when usage was asked for, as
	// OpenAI's do.
	head := make([]byte, 0, 256)
	head = append(head, `data: {"id":"`+completionID+`","object":"chat.completion.chunk","created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = strconv.AppendQuote(head, model)
	head = append(head, `,"service_tier":"default","system_fingerprint":"`+fingerprint+`","choices":`...)
	tail := "}\n\n"
	if usage {
		tail = `,"usage":null}` + "\n\n"
	}
	b := make([]byte, 0, 512)
	send := func(choices string, extra ...string) bool {
		b = append(b[:0], head...)
		b = append(b, choices...)
		for _, e := range extra {
			b = append(b, e...)
		}
		b = append(b, tail...)
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}

	if !send(`[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]`) {
		return
	}
	var t *time.Timer
	for i := 0; i < n; i++ {
		if i > 0 && s.interval > 0 {
			if t == nil {
				t = time.NewTimer(s.interval)
			} else {
				t.Reset(s.interval)
			}
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if !send(`[{"index":0,"delta":{"content":"`, words[i%len(words)], `"},"logprobs":null,"finish_reason":null}]`) {
			return
		}
	}
	if !send(`[{"index":0,"delta":{},"logprobs":null,"finish_reason":"`, finish, `"}]`) {
		return
	}
	if usage {
		b = append(b[:0], head...)
		b = append(b, `[],`...)
		b = appendUsage(b, prompt, n)
		b = append(b, "}\n\n"...)
		if _, err := w.Write(b); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
	if _, err := io.WriteString(w, "data: [DONE]\n\n"); err == nil {
		_ = rc.Flush()
	}
}

// appendUsage appends a "usage" member in OpenAI's shape.
func appendUsage(b []byte, prompt, completion int) []byte {
	b = append(b, `"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt+completion), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},`+
		`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,`+
		`"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
	return b
}

func models(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":%d,"owned_by":"system"}]}`, created)
}

// writeError answers 400 in OpenAI's error shape.
func writeError(w http.ResponseWriter, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "param": nil, "code": nil,
	}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b)
}
