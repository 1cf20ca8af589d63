package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

// waiter is what the MCP route's SSE framer looks for on a body.
type waiter interface {
	Ready() bool
	Wait()
}

// TestWait: Wait returns once the next bytes are at hand, with the
// connection's read buffer pooled meanwhile, and a Close or a canceled
// context ends it early, as they end a blocked Read.
func TestWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(resp *http.Response, cancel context.CancelFunc)
		want error // of the Read after Wait
	}{
		{"next chunk", nil, nil},
		{"close", func(resp *http.Response, _ context.CancelFunc) { resp.Body.Close() }, http.ErrBodyReadAfterClose},
		{"cancel", func(_ *http.Response, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := make(chan struct{})
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("a"))
				w.(http.Flusher).Flush()
				select {
				case <-next:
					w.Write([]byte("b"))
				case <-r.Context().Done():
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := newTransport(t).RoundTrip(mustRequest(t, "GET", s.URL, nil).WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			w, ok := resp.Body.(waiter)
			if !ok {
				t.Fatalf("body %T has no Ready and Wait", resp.Body)
			}
			buf := make([]byte, 10)
			if n, err := resp.Body.Read(buf); n != 1 || err != nil {
				t.Fatalf("first Read = %d, %v; want 1, nil", n, err)
			}
			if w.Ready() {
				t.Fatal("Ready before the upstream sent more")
			}
			done := make(chan struct{})
			go func() { w.Wait(); close(done) }()
			select {
			case <-done:
				t.Fatal("Wait returned before the upstream sent more")
			case <-time.After(50 * time.Millisecond):
			}
			if tt.end == nil {
				close(next)
			} else {
				tt.end(resp, cancel)
			}
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("Wait still blocked")
			}
			n, err := resp.Body.Read(buf)
			if tt.want == nil {
				if string(buf[:n]) != "b" || (err != nil && err != io.EOF) {
					t.Fatalf("Read after Wait = %q, %v; want \"b\"", buf[:n], err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read after Wait = %v; want %v", err, tt.want)
			}
		})
	}
}
