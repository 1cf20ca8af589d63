// Package aitest provides fake LLM providers for tests: an OpenAI-compatible
// server that can play OpenAI, Azure OpenAI, Gemini's OpenAI-compatible
// endpoint, DeepSeek or an Ollama/vLLM server (see Dialect), and an
// Anthropic server, built on httptest, that speak each wire format exactly
// (paths, authentication, chunk and event shapes, usage, error bodies,
// Retry-After), log what they receive, and can inject faults: an error
// status, a refused connection, a stall before the first token, a stream
// cut or failed midway, and a step mode in which each stream event waits
// for the test to release it, so a test can prove a stream is relayed
// without buffering.
//
// Fakes never sleep: stalls and steps wait on channels the test controls,
// or on the request's cancellation.
package aitest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/sse"
)

// Reply is what a fake answers to a successful request.
type Reply struct {
	Text      string
	Reasoning string // OpenAI reasoning_content; Anthropic thinking
	ToolCalls []ToolCall
	// Stop is the finish reason in the provider's own terms ("stop",
	// "tool_calls" / "end_turn", "tool_use", ...). Empty means the natural
	// one for the content.
	Stop  string
	Usage ai.Usage
	// ChunkSize splits Text, Reasoning and tool arguments into stream
	// deltas of at most this many bytes (never inside a UTF-8 sequence).
	// Zero means 5.
	ChunkSize int
}

// ToolCall is a tool call in a Reply.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // a JSON object
}

// DefaultReply is the Reply of a new fake.
var DefaultReply = Reply{
	Text:  "Hello from the fake provider.",
	Usage: ai.Usage{Input: 12, Output: 7},
}

// Fault changes how a fake answers one request. The zero Fault answers
// normally.
type Fault struct {
	// Status, if set, answers with this status and the provider's error
	// body (Type and Message, defaulting from the status).
	Status  int
	Type    string
	Message string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Refuse closes the connection without an answer, as a server that
	// crashed would.
	Refuse bool
	// StallHeaders, if set, holds the response, headers included, until it
	// is closed or the request is cancelled.
	StallHeaders <-chan struct{}
	// StallFirstToken, if set, holds a stream after its preamble (headers,
	// message_start and ping, or the role chunk) and before the first
	// content event, until it is closed or the request is cancelled. A
	// non-streaming answer waits before its headers.
	StallFirstToken <-chan struct{}
	// CutAfter, if positive, ends a stream after this many events without
	// its proper ending: the connection is aborted, so the client sees an
	// unexpected EOF (or, with CleanCut, a clean end of body).
	CutAfter int
	CleanCut bool
	// ErrorAfter, if positive, sends the provider's in-stream error event
	// (Type and Message, default overloaded) after this many events and ends
	// the stream.
	ErrorAfter int
}

// Request is a request a fake received, and the status it answered.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Status is the status the fake answered with, set when it wrote its
	// headers (0 until then, or for a refused connection).
	Status int
}

// Gate releases stream events one by one in step mode.
type Gate struct {
	tokens chan struct{}
	sent   chan int
}

// Release lets n more events be written.
func (g *Gate) Release(n int) {
	for range n {
		g.tokens <- struct{}{}
	}
}

// Sent receives the number of events written so far (1, 2, ...) after each
// event is written and flushed.
func (g *Gate) Sent() <-chan int { return g.sent }

// core is what both fakes share: the fault queue, the reply, the request
// log and step mode.
type core struct {
	srv *httptest.Server

	// auth, if set, checks a request's credentials against key before
	// anything else and answers the provider's own error when they are
	// wrong; it reports whether to go on.
	auth func(w http.ResponseWriter, r *http.Request, key string) bool

	mu       sync.Mutex
	reply    Reply
	faults   []Fault
	requests []Request
	gate     *Gate
	seq      int
	key      string
}

func (c *core) start(t testing.TB, h http.Handler) {
	c.reply = DefaultReply
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		i := len(c.requests)
		c.requests = append(c.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
		key := c.key
		c.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rw := &recorder{ResponseWriter: w, c: c, i: i}
		if key != "" && c.auth != nil && !c.auth(rw, r, key) {
			return
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(c.srv.Close)
}

// RequireKey makes the fake authenticate every request as the provider it
// plays does, with key as the only valid API key: a request without it is
// refused with the provider's own error body (see each fake) before any
// Fault applies. Without RequireKey a fake accepts any credentials, or
// none, as Ollama does.
func (c *core) RequireKey(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key = key
}

// recorder notes the status a fake answers in its request log. It unwraps
// for http.ResponseController and passes Flush and Hijack through.
type recorder struct {
	http.ResponseWriter
	c     *core
	i     int
	wrote bool
}

func (w *recorder) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		w.c.mu.Lock()
		w.c.requests[w.i].Status = status
		w.c.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// URL returns the fake's base URL, without a path ("http://127.0.0.1:port").
func (c *core) URL() string { return c.srv.URL }

// Close shuts the fake down; it also happens at the end of the test.
func (c *core) Close() { c.srv.Close() }

// SetReply sets the answer to successful requests.
func (c *core) SetReply(r Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reply = r
}

// Enqueue adds faults for the next requests, one per request, in order.
// A request that finds the queue empty is answered normally.
func (c *core) Enqueue(faults ...Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, faults...)
}

// Requests returns the requests received so far.
func (c *core) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// Step turns on step mode and returns its gate: from now on every stream
// event waits for one Release before it is written. Headers are written
// and flushed at once.
func (c *core) Step() *Gate {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = &Gate{tokens: make(chan struct{}, 1024), sent: make(chan int, 1024)}
	return c.gate
}

// next takes the fault for a request (if any) and a sequence number.
func (c *core) next() (Fault, Reply, *Gate, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	var f Fault
	if len(c.faults) > 0 {
		f, c.faults = c.faults[0], c.faults[1:]
	}
	return f, c.reply, c.gate, c.seq
}

// wait blocks until ch is closed or the request is cancelled, and reports
// whether to go on.
func wait(r *http.Request, ch <-chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-r.Context().Done():
		return false
	}
}

// refuse closes the client connection without a response.
func refuse(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// stream writes the events of one streamed answer, applying step mode and
// the stream faults. errEvent builds the provider's error event.
type stream struct {
	w        *sse.Writer
	r        *http.Request
	f        Fault
	gate     *Gate
	n        int
	stalled  bool
	errEvent func(Fault) sse.Event
	ended    bool
}

// event writes one event; it returns false when the stream must stop
// (cut, failed or cancelled).
func (s *stream) event(ev sse.Event) bool {
	if s.ended {
		return false
	}
	if s.f.CutAfter > 0 && s.n >= s.f.CutAfter {
		s.ended = true
		if !s.f.CleanCut {
			panic(http.ErrAbortHandler)
		}
		return false
	}
	if s.f.ErrorAfter > 0 && s.n >= s.f.ErrorAfter {
		s.ended = true
		_ = s.w.WriteEvent(s.errEvent(s.f))
		return false
	}
	if s.gate != nil {
		select {
		case <-s.gate.tokens:
		case <-s.r.Context().Done():
			s.ended = true
			return false
		}
	}
	if err := s.w.WriteEvent(ev); err != nil {
		s.ended = true
		return false
	}
	s.n++
	if s.gate != nil {
		s.gate.sent <- s.n
	}
	return true
}

// content marks the end of the preamble: a StallFirstToken fault waits here.
func (s *stream) content() bool {
	if s.stalled || s.ended {
		return !s.ended
	}
	s.stalled = true
	if !wait(s.r, s.f.StallFirstToken) {
		s.ended = true
	}
	return !s.ended
}

// pieces splits s into pieces of at most n bytes, never inside a rune.
func pieces(s string, n int) []string {
	if n <= 0 {
		n = 5
	}
	var out []string
	for len(s) > 0 {
		i := min(n, len(s))
		for i < len(s) && i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		if i == 0 {
			_, i = utf8.DecodeRuneInString(s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// RefusedURL returns the URL of a local address that refuses connections:
// a listener opened and closed again.
func RefusedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// created is the fixed "created" time of OpenAI answers, for stable tests.
const created = 1700000000

func readBody(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }
