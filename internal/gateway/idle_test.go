package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// withIdle sets the listener's body_idle_timeout in a simple() config.
func withIdle(cfg, idle string) string {
	return strings.Replace(cfg, "listeners: [{addr: 127.0.0.1:0}]", "listeners: [{addr: 127.0.0.1:0, body_idle_timeout: "+idle+"}]", 1)
}

// A stream that keeps moving runs far past body_idle_timeout: the deadline
// is about progress, not total time.
func TestIdleTimeoutNeverCutsAMovingStream(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 8; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond) // 400ms in all, 4x the idle timeout
		}
	}))
	h := start(t, withIdle(simple("", up.URL), "100ms"))
	resp, err := http.Get(h.url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || strings.Count(string(b), "data: ") != 8 {
		t.Fatalf("stream cut: %d events, err %v", strings.Count(string(b), "data: "), err)
	}
}

// A client that stops sending its body is answered 408 after
// body_idle_timeout instead of holding the connection and the upstream.
func TestIdleTimeoutCutsAStalledUpload(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
	}))
	for _, tc := range []struct{ name, head string }{
		{"known length", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly a little"},
		{"chunked", "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, withIdle(simple("    passive: {max_failures: 1}\n", up.URL), "150ms"))
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprint(conn, tc.head)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				t.Fatalf("no answer to a stalled upload: %v", err)
			}
			if !strings.Contains(line, " 408 ") {
				t.Fatalf("status line %q; want 408", line)
			}
			// The client's stall is not the upstream's failure: with
			// max_failures 1, counting it would eject the only target.
			gauge := h.metric(`sluice_upstream_target_healthy{target="` + up.URL + `",upstream="up"}`)
			if !strings.HasSuffix(gauge, " 1") {
				t.Fatalf("upstream health after a client's stall = %q; want 1", gauge)
			}
		})
	}
}

// A client that stops reading a large response is cut after
// body_idle_timeout, and the upstream request is canceled.
func TestIdleTimeoutCutsAClientThatStopsReading(t *testing.T) {
	t.Parallel()
	canceled := make(chan struct{})
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 4096; i++ { // up to 256 MiB: far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				close(canceled)
				return
			}
			select {
			case <-r.Context().Done():
				close(canceled)
				return
			default:
			}
		}
	}))
	h := start(t, withIdle(simple("", up.URL), "200ms"))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	// Never read.
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream still streaming to a client that stopped reading 10s ago")
	}
}
