package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzReadResponse serves arbitrary bytes as the upstream's answer over
// net.Pipe. The transport must return a response or an error, never panic,
// and never hang (deadlines bound every read).
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\nX:  a \r\n\r\n",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, wire string, head bool) {
		tr := &Transport{
			ResponseHeaderTimeout: time.Second,
			Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
				client, upstream := net.Pipe()
				go func() {
					defer upstream.Close()
					go io.Copy(io.Discard, upstream) // the request
					upstream.SetWriteDeadline(time.Now().Add(2 * time.Second))
					io.WriteString(upstream, wire)
				}()
				return client, nil
			},
		}
		defer tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		method := "GET"
		if head {
			method = "HEAD"
		}
		req, _ := http.NewRequestWithContext(ctx, method, "http://fuzz.test/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			if resp != nil {
				t.Fatal("response and error both set")
			}
			return
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 || resp.StatusCode/100 == 1 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		if resp.ContentLength >= 0 && resp.Body != http.NoBody && n > resp.ContentLength {
			t.Fatalf("read %d bytes of a %d-byte body", n, resp.ContentLength)
		}
		resp.Body.Close()
		if ctx.Err() != nil {
			t.Fatalf("hung until the context deadline")
		}
	})
}
