package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestDialRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = newTransport(t).RoundTrip(mustRequest(t, "GET", "http://"+addr+"/", nil))
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "dial" {
		t.Fatalf("RoundTrip() error = %#v; want *net.OpError with Op dial", err)
	}
}

func TestDialCancelled(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	tr.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	req := mustRequest(t, "GET", "http://upstream.invalid/", nil).WithContext(ctx)
	var err error
	within(t, 2*time.Second, "RoundTrip", func() { _, err = tr.RoundTrip(req) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip() error = %v; want context.Canceled", err)
	}
}

func TestDialTimeout(t *testing.T) {
	t.Parallel()
	tr := newTransport(t)
	tr.DialTimeout = 30 * time.Millisecond
	tr.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("dial context has no deadline")
		}
		<-ctx.Done() // a connect that hangs
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	var err error
	within(t, 2*time.Second, "RoundTrip", func() { _, err = tr.RoundTrip(mustRequest(t, "GET", "http://x/", nil)) })
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "dial" {
		t.Errorf("RoundTrip() error = %v; want a dial *net.OpError", err)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	tr := newTransport(t)
	tr.ResponseHeaderTimeout = 50 * time.Millisecond
	start := time.Now()
	_, err := tr.RoundTrip(mustRequest(t, "GET", s.URL, nil))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("RoundTrip() error = %v; want a net.Error with Timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("timed out after %v; want about 50ms", d)
	}
}

// TestResponseHeaderTimeoutNotOnBody: the timeout covers the headers only.
func TestResponseHeaderTimeoutNotOnBody(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		time.Sleep(150 * time.Millisecond)
		w.Write([]byte("b"))
	})
	tr := newTransport(t)
	tr.ResponseHeaderTimeout = 50 * time.Millisecond
	if body, _ := get(t, tr, s.URL); body != "ab" {
		t.Errorf("body = %q; want ab", body)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		headerSent bool // cancel while reading the body rather than the headers
		ctx        func() (context.Context, func())
	}{
		{"awaiting headers", false, stdCancelCtx},
		{"reading body", true, stdCancelCtx},
		{"awaiting headers/AfterFunc method", false, newFuncCtx},
		{"reading body/AfterFunc method", true, newFuncCtx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			upstreamSawClose := make(chan struct{})
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.headerSent {
					w.Write([]byte("partial"))
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done(): // the server noticed the connection close
					close(upstreamSawClose)
				case <-time.After(5 * time.Second):
				}
			})
			tr := newTransport(t)
			ctx, cancel := tt.ctx()
			req := mustRequest(t, "GET", s.URL, nil).WithContext(ctx)
			var err error
			within(t, 2*time.Second, "cancelled request", func() {
				time.AfterFunc(50*time.Millisecond, cancel)
				var resp *http.Response
				resp, err = tr.RoundTrip(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error = %v; want context.Canceled", err)
			}
			select {
			case <-upstreamSawClose:
			case <-time.After(2 * time.Second):
				t.Error("upstream did not see the connection close")
			}
		})
	}
}

// TestCancelAfterBodyDone: a context cancelled after the body was read must
// not poison the pooled connection.
func TestCancelAfterBodyDone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, func())
	}{
		{"context.WithCancel", stdCancelCtx},
		{"AfterFunc method", newFuncCtx},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
			tr := newTransport(t)
			for range 5 {
				ctx, cancel := tc.ctx()
				resp, err := tr.RoundTrip(mustRequest(t, "GET", s.URL, nil).WithContext(ctx))
				if err != nil {
					t.Fatal(err)
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
				if fc, ok := ctx.(*funcCtx); ok && fc.registered == 0 {
					t.Error("AfterFunc was not called; the transport should watch the context through it")
				}
				cancel()
			}
			if got := s.conns.Load(); got != 1 {
				t.Errorf("connections = %d; want 1", got)
			}
		})
	}
}

func stdCancelCtx() (context.Context, func()) {
	return context.WithCancel(context.Background())
}

// funcCtx is a cancelable context of a type the context package does not
// know, with an AfterFunc method (as Sluice's request contexts have),
// which the transport uses to watch it.
type funcCtx struct {
	context.Context // Background, for Deadline and Value
	mu              sync.Mutex
	done            chan struct{}
	err             error
	funcs           map[int]func()
	next            int
	registered      int // AfterFunc calls
}

func newFuncCtx() (context.Context, func()) {
	c := &funcCtx{Context: context.Background(), done: make(chan struct{}), funcs: map[int]func(){}}
	return c, c.cancel
}

func (c *funcCtx) Done() <-chan struct{} { return c.done }

func (c *funcCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *funcCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	c.registered++
	c.next++
	id := c.next
	c.funcs[id] = f
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.funcs[id]
		delete(c.funcs, id)
		return ok
	}
}

func (c *funcCtx) cancel() {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = context.Canceled
	close(c.done)
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for _, f := range funcs {
		f()
	}
}

func TestContextDeadline(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := newTransport(t).RoundTrip(mustRequest(t, "GET", s.URL, nil).WithContext(ctx))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v; want context.DeadlineExceeded", err)
	}
}

// TestEarlyResponse: an upstream that answers 413 and stops reading a large
// body; the response is returned rather than the write error.
func TestEarlyResponse(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	})
	body := &closeTracker{Reader: io.LimitReader(zeros{}, 64<<20)}
	req := mustRequest(t, "POST", s.URL, body)
	req.ContentLength = 64 << 20
	var resp *http.Response
	var err error
	within(t, 5*time.Second, "RoundTrip", func() { resp, err = newTransport(t).RoundTrip(req) })
	if err != nil {
		t.Logf("RoundTrip() error = %v (the upstream reset before its response was read)", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d; want 413", resp.StatusCode)
	}
	if !body.closed.Load() {
		t.Error("request body not closed")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
