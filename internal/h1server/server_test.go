package h1server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor is a test guard, not a timing assertion: it fails a test that
// would otherwise hang.
const waitFor = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestStreamingOrder checks that Flush sends each event at once: the
// handler writes event N+1 only after the client has read event N, so any
// buffering would deadlock (and time out).
func TestStreamingOrder(t *testing.T) {
	t.Parallel()
	ack := make(chan struct{})
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 5 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			if err := rc.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
				return
			}
			select {
			case <-ack:
			case <-r.Context().Done():
				return
			}
		}
	}))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://"+addr+"/sse", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if te := resp.TransferEncoding; len(te) != 1 || te[0] != "chunked" {
		t.Errorf("TransferEncoding = %q; want chunked", te)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 5 {
		lines := make(chan string, 1)
		go func() {
			l, _ := br.ReadString('\n')
			br.ReadString('\n') // the blank line ending the event
			lines <- l
		}()
		if got, want := recv(t, lines, fmt.Sprintf("event %d", i)), fmt.Sprintf("data: event %d\n", i); got != want {
			t.Fatalf("event %d = %q; want %q", i, got, want)
		}
		ack <- struct{}{}
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("after the events: %q", rest)
	}
}

// TestClientDisconnectCancelsContext covers the background read: a client
// that goes away while its handler runs cancels r.Context(), for a
// bodiless request and for one whose body the handler has read.
func TestClientDisconnectCancelsContext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		wire string
	}{
		{"GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"POST read body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"},
		{"chunked body", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{})
			errs := make(chan [2]error, 1)
			_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body)
				close(started)
				<-r.Context().Done()
				errs <- [2]error{r.Context().Err(), context.Cause(r.Context())}
			}))
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, tc.wire)
			recv(t, started, "handler start")
			c.Close()
			got := recv(t, errs, "context cancellation")
			if got[0] != context.Canceled || got[1] != context.Canceled {
				t.Errorf("Err, Cause = %v, %v; want context.Canceled twice", got[0], got[1])
			}
		})
	}
}

// TestBackgroundReadArmedLate covers what the delay of the background
// read (bgDelay) must not change: a read deadline the handler set before
// the read is armed still ends the request (as net/http: the pending read
// fails, which cancels the context), and a handler that hijacks before
// the timer fires gets every byte the client sends afterwards.
func TestBackgroundReadArmedLate(t *testing.T) {
	t.Parallel()
	t.Run("handler's read deadline kept", func(t *testing.T) {
		t.Parallel()
		errs := make(chan error, 1)
		_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Passes after the background read is armed, and is not cleared by it.
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(5 * bgDelay))
			select {
			case <-r.Context().Done():
				errs <- r.Context().Err()
			case <-time.After(waitFor):
				errs <- errors.New("context not canceled")
			}
		}))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if err := recv(t, errs, "handler"); err != context.Canceled {
			t.Errorf("Err = %v; want context.Canceled", err)
		}
	})
	t.Run("hijack before arming", func(t *testing.T) {
		t.Parallel()
		_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer c.Close()
			time.Sleep(3 * bgDelay) // the timer would have fired by now
			brw.WriteString("ready\n")
			brw.Flush()
			line, err := brw.ReadString('\n')
			if err != nil {
				t.Errorf("read after hijack: %v", err)
			}
			brw.WriteString(strings.ToUpper(line))
			brw.Flush()
		}))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitFor))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		if line, err := br.ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("first line %q, %v; want ready", line, err)
		}
		io.WriteString(c, "late\n")
		if line, err := br.ReadString('\n'); err != nil || line != "LATE\n" {
			t.Errorf("echo %q, %v; want LATE", line, err)
		}
	})
}

// TestContextCanceledAfterHandler checks the request context ends when
// the handler returns, that children derived from it are canceled through
// AfterFunc (more of them than the context holds inline, one stopped), and
// that the base context's values are visible.
func TestContextCanceledAfterHandler(t *testing.T) {
	t.Parallel()
	type key struct{}
	for _, tc := range []struct {
		name string
		base func(net.Listener) context.Context // nil: context.Background
		want any                                // ctx.Value(key{})
	}{
		{"base with a value", func(net.Listener) context.Context {
			return context.WithValue(context.Background(), key{}, "base")
		}, "base"},
		{"no BaseContext", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctxs := make(chan context.Context, 1)
			children := make(chan context.Context, 1)
			ran := make(chan int, 3)
			_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				if got := ctx.Value(key{}); got != tc.want {
					t.Errorf("base value = %v; want %v", got, tc.want)
				}
				if la, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr); !ok || la.String() == "" {
					t.Errorf("LocalAddrContextKey = %v", ctx.Value(http.LocalAddrContextKey))
				}
				child, cancel := context.WithTimeout(ctx, time.Hour)
				_ = cancel
				context.AfterFunc(ctx, func() { ran <- 1 })
				stopped := context.AfterFunc(ctx, func() { ran <- 2 })
				context.AfterFunc(ctx, func() { ran <- 3 })
				if !stopped() { // deregistered: must not run or leak
					t.Error("stop = false before the handler returned")
				}
				ctxs <- ctx
				children <- child
			}), func(s *Server) { s.BaseContext = tc.base })
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ctx := recv(t, ctxs, "handler")
			child := recv(t, children, "handler")
			recv(t, ctx.Done(), "request context cancellation")
			recv(t, child.Done(), "child context cancellation")
			if ctx.Err() != context.Canceled || child.Err() != context.Canceled {
				t.Errorf("Err = %v, child %v; want context.Canceled", ctx.Err(), child.Err())
			}
			if got := context.Cause(ctx); got != context.Canceled {
				t.Errorf("Cause = %v; want context.Canceled", got)
			}
			sum := recv(t, ran, "AfterFunc") + recv(t, ran, "AfterFunc")
			if sum != 4 {
				t.Errorf("AfterFuncs run: sum of ids %d; want 1+3", sum)
			}
			select {
			case id := <-ran:
				t.Errorf("stopped AfterFunc %d ran", id)
			default:
			}
		})
	}
}

// TestRequestContext: the context RequestContext returns is r.Context(),
// and it is canceled with the request's when the handler returns.
func TestRequestContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctxs := make(chan context.Context, 1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Context().Value(key{}); got != "per request" {
			t.Errorf("value = %v; want per request", got)
		}
		ctxs <- r.Context()
	}), func(s *Server) {
		s.RequestContext = func(ctx context.Context) context.Context {
			return context.WithValue(ctx, key{}, "per request")
		}
	})
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx := recv(t, ctxs, "handler")
	recv(t, ctx.Done(), "request context cancellation")
}

// TestBaseContextCancel checks that canceling the base context cancels the
// requests in flight.
func TestBaseContextCancel(t *testing.T) {
	t.Parallel()
	base, cancel := context.WithCancelCause(context.Background())
	started := make(chan struct{})
	errs := make(chan error, 1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		errs <- r.Context().Err()
	}), func(s *Server) { s.BaseContext = func(net.Listener) context.Context { return base } })
	go http.Get("http://" + addr + "/")
	recv(t, started, "handler start")
	cancel(errors.New("shutting down"))
	if err := recv(t, errs, "cancellation"); err != context.Canceled {
		t.Errorf("Err = %v; want context.Canceled", err)
	}
}

// TestShutdown: idle connections are closed at once, an active request
// finishes (with Connection: close) before Shutdown returns, and Serve
// returns http.ErrServerClosed.
func TestShutdown(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		w.Write([]byte("done"))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve(ln) }()
	addr := ln.Addr().String()

	// An idle keep-alive connection.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idleBR := bufio.NewReader(idle)
	resp, err := http.ReadResponse(idleBR, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)

	// An active request.
	active, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer active.Close()
	io.WriteString(active, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	recv(t, started, "slow handler")

	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- s.Shutdown(context.Background()) }()
	if err := recv(t, serveErr, "Serve to return"); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v; want http.ErrServerClosed", err)
	}
	// The idle connection is closed by the server.
	idle.SetReadDeadline(time.Now().Add(waitFor))
	if n, err := idleBR.Read(make([]byte, 1)); err == nil {
		t.Errorf("idle connection read %d bytes; want EOF", n)
	}
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned %v while a request was active", err)
	default:
	}
	close(release)
	active.SetReadDeadline(time.Now().Add(waitFor))
	resp, err = http.ReadResponse(bufio.NewReader(active), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "done" || !resp.Close {
		t.Errorf("active response: body %q, Close %v; want done with Connection: close", body, resp.Close)
	}
	if err := recv(t, shutdownErr, "Shutdown"); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v; want http.ErrServerClosed", err)
	}
}

// TestShutdownContextExpires: Shutdown gives up with ctx's error, and
// Close then ends the active connection and cancels its request.
func TestShutdownContextExpires(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	canceled := make(chan struct{})
	s, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(canceled)
	}))
	go http.Get("http://" + addr + "/")
	recv(t, started, "handler")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != context.Canceled {
		t.Errorf("Shutdown = %v; want context.Canceled", err)
	}
	s.Close()
	recv(t, canceled, "request cancellation after Close")
}

// TestHijackEcho is a WebSocket-like upgrade: the handler hijacks, answers
// 101 and echoes lines, including those the client sent right behind its
// request head (which must come out of the returned reader).
func TestHijackEcho(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "no upgrade", http.StatusBadRequest)
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
			t.Errorf("Write after Hijack = %v; want http.ErrHijacked", err)
		}
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(strings.ToUpper(line))
			brw.Flush()
		}
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "echo" || resp.Header.Get("Connection") != "Upgrade" {
		t.Fatalf("response %d %v; want 101 with Upgrade and Connection", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"early", "hello", "world"} {
		if msg != "early" {
			io.WriteString(c, msg+"\n")
		}
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.ToUpper(msg) + "\n"; line != want {
			t.Errorf("echo = %q; want %q", line, want)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	recv(t, done, "handler end")
}

// TestAdoptHeader: a header map handed over before WriteHeader is the one
// sent (the old map's fields are not); afterwards it is refused.
func TestAdoptHeader(t *testing.T) {
	t.Parallel()
	type adopter interface{ AdoptHeader(http.Header) bool }
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Old", "1")
		h := http.Header{"X-New": {"2"}, "Content-Type": {"text/plain"}}
		if !w.(adopter).AdoptHeader(h) {
			t.Error("AdoptHeader before WriteHeader = false")
		}
		if w.Header().Get("X-New") != "2" {
			t.Errorf("Header() after AdoptHeader = %v", w.Header())
		}
		w.WriteHeader(http.StatusAccepted)
		if w.(adopter).AdoptHeader(http.Header{"X-Late": {"3"}}) {
			t.Error("AdoptHeader after WriteHeader = true")
		}
		w.Write([]byte("ok"))
	}))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-New") != "2" || resp.Header.Get("Content-Type") != "text/plain" ||
		resp.Header.Get("X-Old") != "" || resp.Header.Get("X-Late") != "" {
		t.Errorf("response %d %v; want 202 with X-New and Content-Type only", resp.StatusCode, resp.Header)
	}
}

// TestKeepAliveReuse drives the server with net/http's client: every
// request after the first must reuse the one connection, whatever the
// request and response framing.
func TestKeepAliveReuse(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			// Read first: once the header goes out the unread body is
			// discarded (without EnableFullDuplex), as with net/http.
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		case "/noread":
		case "/big":
			w.Write(bytes.Repeat([]byte("z"), 100<<10))
		case "/flush":
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		case "/trailer":
			w.Header().Set("Trailer", "X-T")
			w.Write([]byte("t"))
			w.Header().Set("X-T", "v")
		default:
			w.Write([]byte("ok"))
		}
	}))
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	type reqSpec struct {
		method, path string
		body         io.Reader
		want         string
	}
	specs := []reqSpec{
		{"GET", "/", nil, "ok"},
		{"POST", "/echo", strings.NewReader("payload"), "payload"},
		{"POST", "/echo", io.MultiReader(strings.NewReader("chunk"), strings.NewReader("ed")), "chunked"},
		{"POST", "/noread", strings.NewReader(strings.Repeat("n", 10<<10)), ""},
		{"GET", "/big", nil, strings.Repeat("z", 100<<10)},
		{"GET", "/flush", nil, "ab"},
		{"GET", "/trailer", nil, "t"},
		{"HEAD", "/big", nil, ""},
		{"PUT", "/echo", bytes.NewReader(bytes.Repeat([]byte("p"), 50<<10)), strings.Repeat("p", 50<<10)},
	}
	var reused []bool
	for round := range 3 {
		for _, sp := range specs {
			req, _ := http.NewRequest(sp.method, "http://"+addr+sp.path, sp.body)
			if sp.body != nil {
				if _, ok := sp.body.(io.Seeker); !ok {
					req.ContentLength = -1
				}
			}
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) },
			}))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("round %d %s %s: %v", round, sp.method, sp.path, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != sp.want && !(round > 0 && sp.body != nil) {
				t.Errorf("%s %s: body %d bytes, err %v", sp.method, sp.path, len(b), err)
			}
			if sp.path == "/trailer" && resp.Trailer.Get("X-T") != "v" {
				t.Errorf("trailer = %v", resp.Trailer)
			}
			if sb, ok := sp.body.(interface {
				Seek(int64, int) (int64, error)
			}); ok {
				sb.Seek(0, io.SeekStart)
			}
		}
	}
	for i, r := range reused {
		if r != (i > 0) {
			t.Errorf("request %d: reused = %v; want %v", i, r, i > 0)
		}
	}
}

// TestExpectContinue: the client waits for 100 Continue before sending the
// body, which the server sends when the handler first reads; a handler
// that answers without reading gets no 100 and the connection closes.
func TestExpectContinue(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reject" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 100 {
		t.Fatalf("got %v, %v; want 100 Continue first", resp, err)
	}
	io.WriteString(c, "hello")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" || resp.Close {
		t.Errorf("body %q, Close %v; want hello, keep-alive", b, resp.Close)
	}
	io.WriteString(c, "POST /reject HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || !resp.Close {
		t.Errorf("got %d, Close %v; want 403 and Connection: close", resp.StatusCode, resp.Close)
	}
}

// TestResponseController checks every ResponseController method works or
// fails cleanly: deadlines, Flush, full duplex (echo while reading).
func TestResponseController(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/deadlines":
			if err := rc.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
				t.Errorf("SetReadDeadline: %v", err)
			}
			if err := rc.SetWriteDeadline(time.Now().Add(time.Hour)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			io.ReadAll(r.Body)
			w.Write([]byte("ok"))
		case "/read-timeout":
			rc.SetReadDeadline(time.Now().Add(-time.Second))
			_, err := io.ReadAll(r.Body)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("body read after past deadline: %v; want a timeout", err)
			}
			w.Write([]byte("timeout"))
		case "/duplex":
			if err := rc.EnableFullDuplex(); err != nil {
				t.Errorf("EnableFullDuplex: %v", err)
			}
			w.WriteHeader(200)
			rc.Flush()
			br := bufio.NewReader(r.Body)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				w.Write([]byte(strings.ToUpper(line)))
				rc.Flush()
			}
		}
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /deadlines HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		t.Errorf("deadlines: %q", b)
	}
	// The read deadline the handler set must not cut the idle wait short,
	// nor a later request: this one reuses the connection.
	io.WriteString(c, "POST /read-timeout HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)

	// Full duplex on a fresh connection: each line is answered before the
	// next is sent.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(waitFor))
	br2 := bufio.NewReader(c2)
	io.WriteString(c2, "POST /duplex HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	resp, err = http.ReadResponse(br2, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bufio.NewReader(resp.Body)
	for _, m := range []string{"one", "two"} {
		fmt.Fprintf(c2, "%x\r\n%s\n\r\n", len(m)+1, m)
		line, err := body.ReadString('\n')
		if err != nil || line != strings.ToUpper(m)+"\n" {
			t.Fatalf("duplex echo = %q, %v", line, err)
		}
	}
	io.WriteString(c2, "0\r\n\r\n")
	if rest, err := io.ReadAll(body); err != nil || len(rest) != 0 {
		t.Errorf("duplex end: %q, %v", rest, err)
	}
}

// TestPanicLogged: a handler panic is logged through ErrorLog and closes
// the connection; http.ErrAbortHandler is not logged.
func TestPanicLogged(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	}), func(s *Server) { s.ErrorLog = logger })
	for _, p := range []string{"/abort", "/boom"} {
		out, err := rawExchange(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if err != nil || out != "" {
			t.Errorf("%s: got %q, %v; want the connection closed with no response", p, out, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if s := logs.String(); !strings.Contains(s, "boom") || strings.Contains(s, "abort") || strings.Count(s, "panic serving") != 1 {
		t.Errorf("log = %q; want one panic entry, for boom", s)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTimeouts: IdleTimeout closes a keep-alive connection that sends
// nothing, ReadHeaderTimeout one that stalls inside a head. Both close
// silently, as net/http does.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		func(s *Server) { s.IdleTimeout, s.ReadHeaderTimeout = 50*time.Millisecond, 50*time.Millisecond })
	for _, wire := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitFor))
		io.WriteString(c, wire)
		out, err := io.ReadAll(c)
		c.Close()
		if err != nil || strings.Count(string(out), "HTTP/1.1 200") != 1 || !strings.HasSuffix(string(out), "\r\n\r\n") {
			t.Errorf("%q: got %q, %v; want one response, then close", wire, out, err)
		}
	}
}

// TestDeadlinesDoNotLeak: a body that arrives after ReadHeaderTimeout (on
// the first and on a keep-alive request) is still read, and a write
// deadline a handler set does not fail a later response on the connection
// (here its 100 Continue), as with net/http.
func TestDeadlinesDoNotLeak(t *testing.T) {
	t.Parallel()
	const short = 50 * time.Millisecond
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if r.URL.Path == "/set-write-deadline" {
			// As the gateway's body_idle_timeout does before each write.
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(short))
		}
		w.Write(b)
	}), func(s *Server) { s.ReadHeaderTimeout, s.IdleTimeout = short, time.Minute })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(c)
	roundTrip := func(head, body string) string {
		t.Helper()
		io.WriteString(c, head)
		time.Sleep(4 * short) // past the header timeout and the write deadline
		io.WriteString(c, body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 100 {
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	if got := roundTrip("POST /set-write-deadline HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", "first"); got != "200 first" {
		t.Errorf("first request: %s", got)
	}
	if got := roundTrip("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n", "second"); got != "200 second" {
		t.Errorf("second request: %s", got)
	}
}

// TestAnswerWhileBodyReadElsewhere: the handler returns while a goroutine
// it started (as an upstream transport's writer would be) is blocked
// reading the body. The response goes out at once with Connection: close,
// and the blocked read ends with an error rather than holding the
// connection (net/http waits for the read).
func TestAnswerWhileBodyReadElsewhere(t *testing.T) {
	t.Parallel()
	readErr := make(chan error, 1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := make(chan struct{})
		go func() {
			close(started)
			_, err := io.ReadAll(r.Body)
			readErr <- err
		}()
		<-started
		time.Sleep(10 * time.Millisecond) // let the reader block on the missing bytes
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitFor))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 || !resp.Close {
		t.Errorf("got %d, Close %v; want 413 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := recv(t, readErr, "the body reader to end"); err == nil {
		t.Error("the abandoned body read succeeded; want an error")
	}
}

// deadlineConn records deadline changes.
type deadlineConn struct {
	*memConn
	set  []time.Time // read deadlines
	setW []time.Time // write deadlines
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

// TestSetIdleDeadline: the idle deadline is set for the first wait, left
// alone when the one in place is less than 1/64 of IdleTimeout early, and
// set again after any other read deadline.
func TestSetIdleDeadline(t *testing.T) {
	t.Parallel()
	const idle = time.Hour
	for _, tc := range []struct {
		name string
		rd   func() int64 // conn.rd before the wait
		want bool         // a deadline is set
	}{
		{"none set", func() int64 { return 0 }, true},
		{"another deadline", func() int64 { return rdOther }, true},
		{"idle, just set", func() int64 { return time.Now().Add(idle).UnixNano() }, false},
		{"idle, 1/128 early", func() int64 { return time.Now().Add(idle - idle/128).UnixNano() }, false},
		{"idle, 1/32 early", func() int64 { return time.Now().Add(idle - idle/32).UnixNano() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nc := &deadlineConn{memConn: newMemConn("")}
			c := testConn(&Server{}, nc)
			c.rd.Store(tc.rd())
			before := c.rd.Load()
			c.setIdleDeadline(idle)
			if got := len(nc.set) == 1; got != tc.want {
				t.Fatalf("deadline set = %v (%v); want %v", got, nc.set, tc.want)
			}
			if tc.want {
				if at := c.rd.Load(); at != nc.set[0].UnixNano() || time.Until(nc.set[0]) > idle {
					t.Errorf("rd = %d after setting %v", at, nc.set[0])
				}
			} else if c.rd.Load() != before {
				t.Errorf("rd changed from %d to %d without a deadline set", before, c.rd.Load())
			}
		})
	}
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.setW = append(c.setW, t)
	return nil
}

// TestPushWriteDeadline: before a write, the WriteIdleTimeout deadline is
// set unless the handler set one, or the one in place is less than 1/64
// of the timeout early.
func TestPushWriteDeadline(t *testing.T) {
	t.Parallel()
	const idle = time.Hour
	for _, tc := range []struct {
		name string
		wd   func() int64 // conn.wd before the write
		want bool         // a deadline is set
	}{
		{"none set", func() int64 { return 0 }, true},
		{"the handler's", func() int64 { return wdHandler }, false},
		{"ours, just set", func() int64 { return time.Now().Add(idle).UnixNano() }, false},
		{"ours, 1/128 early", func() int64 { return time.Now().Add(idle - idle/128).UnixNano() }, false},
		{"ours, 1/32 early", func() int64 { return time.Now().Add(idle - idle/32).UnixNano() }, true},
		{"ours, expired", func() int64 { return time.Now().Add(-time.Second).UnixNano() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nc := &deadlineConn{memConn: newMemConn("")}
			c := testConn(&Server{}, nc)
			c.wd.Store(tc.wd())
			before := c.wd.Load()
			c.pushWriteDeadline(idle)
			if got := len(nc.setW) == 1; got != tc.want {
				t.Fatalf("deadline set = %v (%v); want %v", got, nc.setW, tc.want)
			}
			if tc.want {
				if at := c.wd.Load(); at != nc.setW[0].UnixNano() || time.Until(nc.setW[0]) > idle {
					t.Errorf("wd = %d after setting %v", at, nc.setW[0])
				}
			} else if c.wd.Load() != before {
				t.Errorf("wd changed from %d to %d without a deadline set", before, c.wd.Load())
			}
		})
	}
}

// TestWriteIdleTimeout: a client that stops reading is cut after
// WriteIdleTimeout (the handler's write fails and its context ends); a
// response that keeps moving is not, however long it lasts; a deadline
// the handler sets wins over the server's.
func TestWriteIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 100 * time.Millisecond
	chunk := []byte(strings.Repeat("x", 64<<10))
	errs := make(chan error, 1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/stalled": // up to 256 MiB: far more than socket buffers hold
			for i := 0; i < 4096; i++ {
				if _, err := w.Write(chunk); err != nil {
					errs <- r.Context().Err()
					return
				}
			}
			errs <- errors.New("every write succeeded")
		case "/moving": // 4 times the timeout in all, never idle for long
			for i := 0; i < 8; i++ {
				fmt.Fprintf(w, "data: %d\n\n", i)
				rc.Flush()
				time.Sleep(idle / 2)
			}
		case "/handler-deadline":
			rc.SetWriteDeadline(time.Now().Add(-time.Second))
			w.Write([]byte("late"))
			errs <- rc.Flush()
		}
	}), func(s *Server) { s.WriteIdleTimeout = idle })

	t.Run("stalled client", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /stalled HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
		if err := recv(t, errs, "the stalled write"); err != context.Canceled {
			t.Errorf("after the failed write: context %v; want context.Canceled", err)
		}
	})
	t.Run("moving response", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/moving")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || strings.Count(string(b), "data: ") != 8 {
			t.Errorf("stream cut: %d events, %v", strings.Count(string(b), "data: "), err)
		}
	})
	t.Run("handler's deadline", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /handler-deadline HTTP/1.1\r\nHost: x\r\n\r\n")
		var ne net.Error
		if err := recv(t, errs, "the flush"); !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("flush past the handler's deadline = %v; want a timeout", err)
		}
	})
	t.Run("error reply after an idle wait", func(t *testing.T) {
		// The deadline of the first response has passed when the bad
		// request comes; the 400 must still go out.
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitFor))
		br := bufio.NewReader(c)
		io.WriteString(c, "GET /moving HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		time.Sleep(3 * idle)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 400 ") {
			t.Errorf("after the idle wait: %q, %v; want a 400", line, err)
		}
	})
}
