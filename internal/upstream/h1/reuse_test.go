package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t *testing.T, tr *Transport, url string) (string, *http.Response) {
	t.Helper()
	resp, err := tr.RoundTrip(mustRequest(t, "GET", url, nil))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s body: %v", url, err)
	}
	return string(b), resp
}

func TestReuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		n       int
		post    bool
		want    int32 // connections accepted
	}{
		{"content-length", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }, 10, false, 1},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		}, 10, false, 1},
		{"post", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) }, 10, true, 1},
		{"connection close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			w.Write([]byte("hi"))
		}, 3, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tt.handler)
			tr := newTransport(t)
			for i := range tt.n {
				var req *http.Request
				if tt.post {
					req = mustRequest(t, "POST", s.URL, strings.NewReader(fmt.Sprint(i)))
				} else {
					req = mustRequest(t, "GET", s.URL, nil)
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if got := s.conns.Load(); got != tt.want {
				t.Errorf("%d requests used %d connections; want %d", tt.n, got, tt.want)
			}
		})
	}
}

// TestEarlyClose: closing a body before EOF keeps the connection when the
// rest is small and buffered, closes it otherwise, and never breaks the
// next request.
func TestEarlyClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		size      int
		wantConns int32
	}{
		{"small body drained", 100, 1},
		{"large body closed", 1 << 20, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(strings.Repeat("z", tt.size)))
			})
			tr := newTransport(t)
			resp, err := tr.RoundTrip(mustRequest(t, "GET", s.URL, nil))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 10)
			io.ReadFull(resp.Body, buf)
			if err := resp.Body.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			if err := resp.Body.Close(); err != nil {
				t.Errorf("second Close() = %v", err)
			}
			if _, err := resp.Body.Read(buf); err == nil {
				t.Error("Read after Close succeeded")
			}
			if body, _ := get(t, tr, s.URL); len(body) != tt.size {
				t.Errorf("next body has %d bytes; want %d", len(body), tt.size)
			}
			if got := s.conns.Load(); got != tt.wantConns {
				t.Errorf("connections = %d; want %d", got, tt.wantConns)
			}
		})
	}
}

// TestStaleRetry: the upstream closed the idle connection; the next
// request is retried on a new one. Run with and without the idle probe so
// both defences are exercised.
func TestStaleRetry(t *testing.T) {
	t.Parallel()
	for _, probe := range []time.Duration{-1, time.Nanosecond} {
		t.Run(fmt.Sprintf("probe=%v", probe), func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); w.Write([]byte("ok")) })
			tr := newTransport(t)
			tr.probeAfter = probe
			for range 3 {
				if body, _ := get(t, tr, s.URL); body != "ok" {
					t.Fatalf("body = %q", body)
				}
				s.CloseClientConnections()
				time.Sleep(20 * time.Millisecond) // let the FIN arrive
			}
			if got := s.conns.Load(); got != 3 {
				t.Errorf("connections = %d; want 3", got)
			}
		})
	}
}

// upstreamThatDropsSecond serves the first request on each connection and,
// on the second, reads the head and part of the body and then resets the
// connection, as an upstream that timed the connection out would.
func upstreamThatDropsSecond(t *testing.T) *rawServer {
	return newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, ok := readHead(br); !ok {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.CopyN(io.Discard, req.Body, 10)
		c.(*net.TCPConn).SetLinger(0)
	})
}

func TestNoRetryAfterBodySent(t *testing.T) {
	t.Parallel()
	s := upstreamThatDropsSecond(t)
	tr := newTransport(t)
	tr.probeAfter = -1
	get(t, tr, s.URL())
	body := &closeTracker{Reader: strings.NewReader(strings.Repeat("p", 1000))}
	req := mustRequest(t, "POST", s.URL(), body)
	req.ContentLength = 1000
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("POST on a dropped connection succeeded; want an error")
	}
	if got := s.conns.Load(); got != 1 {
		t.Errorf("connections = %d; want 1 (no retry once the body was read)", got)
	}
	if !body.closed.Load() {
		t.Error("request body not closed")
	}
}

func TestRetryBodiless(t *testing.T) {
	t.Parallel()
	s := upstreamThatDropsSecond(t)
	tr := newTransport(t)
	tr.probeAfter = -1
	get(t, tr, s.URL())
	if body, _ := get(t, tr, s.URL()); body != "ok" {
		t.Errorf("body = %q; want ok", body)
	}
	if got := s.conns.Load(); got != 2 {
		t.Errorf("connections = %d; want 2 (one retry)", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	tr := newTransport(t)
	tr.IdleTimeout = 30 * time.Millisecond
	get(t, tr, s.URL)
	deadline := time.Now().Add(2 * time.Second)
	for {
		tr.mu.Lock()
		n := len(tr.idle)
		sweeping := tr.sweeping
		tr.mu.Unlock()
		if n == 0 && !sweeping {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle pool still holds %d hosts (sweeping %v)", n, sweeping)
		}
		time.Sleep(10 * time.Millisecond)
	}
	get(t, tr, s.URL)
	if got := s.conns.Load(); got != 2 {
		t.Errorf("connections = %d; want 2", got)
	}
}

func TestMaxIdlePerHost(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	tr := newTransport(t)
	tr.MaxIdlePerHost = 2
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			resp, err := tr.RoundTrip(mustRequest(t, "GET", s.URL, nil))
			if err != nil {
				t.Error(err)
				return
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
		})
	}
	for s.conns.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	tr.mu.Lock()
	n := len(tr.idle[strings.TrimPrefix(s.URL, "http://")].conns)
	tr.mu.Unlock()
	if n != 2 {
		t.Errorf("idle connections = %d; want 2", n)
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.URL.Query().Get("i"))
		w.Write(b)
	})
	tr := newTransport(t)
	tr.MaxIdlePerHost = 3
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := fmt.Sprintf("%d-%d", g, i)
				var req *http.Request
				if i%2 == 0 {
					req = mustRequest(t, "POST", s.URL+"/?i="+id, strings.NewReader(id))
				} else {
					req = mustRequest(t, "POST", s.URL+"/?i="+id, onlyReader{strings.NewReader(id)})
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != id || resp.Header.Get("X-Echo") != id {
					t.Errorf("request %s: body %q, echo %q, err %v", id, b, resp.Header.Get("X-Echo"), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCloseDuringRead: Close from another goroutine unblocks a Read that
// waits for the upstream.
func TestCloseDuringRead(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	tr := newTransport(t)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", s.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	resp.Body.Read(buf)
	errc := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	within(t, 2*time.Second, "Close", func() { resp.Body.Close() })
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrBodyReadAfterClose) {
			t.Errorf("blocked Read returned %v; want ErrBodyReadAfterClose", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
}

func TestAliveProbe(t *testing.T) {
	t.Parallel()
	closeNow := make(chan struct{})
	s := newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) { <-closeNow })
	tr := newTransport(t)
	c, err := tr.dial(t.Context(), strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if !c.alive() {
		t.Error("alive() = false on an open connection; want true")
	}
	close(closeNow)
	deadline := time.Now().Add(2 * time.Second)
	for c.alive() {
		if time.Now().After(deadline) {
			t.Fatal("alive() = true after the upstream closed; want false")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
