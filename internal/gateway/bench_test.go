package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/h1server"
	"github.com/sluicegw/sluice/internal/metrics"
)

// discardWriter is a minimal ResponseWriter so the benchmark measures the
// gateway, not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkProxyRequest measures one proxied GET through the edge handler
// (routing, exchange, metrics, proxy loop, upstream transport) against a real
// loopback upstream. allocs/op is the gateway's plus the HTTP client
// transport's; the upstream server runs in-process too, so ns/op includes it.
func BenchmarkProxyRequest(b *testing.B) {
	for _, bc := range []struct {
		name   string
		access bool
	}{{"bare", false}, {"access_log", true}} {
		b.Run(bc.name, func(b *testing.B) {
			up := upstreamServer(&testing.T{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte("{}"))
			}))
			defer up.Close()
			cfg := loadConfig(b, simple("", up.URL), testKinds)
			m := metrics.New()
			opts := Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: m}
			if bc.access {
				opts.AccessLog = slog.New(slog.NewJSONHandler(io.Discard, nil))
			}
			gw, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			if ps := gw.Apply(cfg); len(ps) > 0 {
				b.Fatal(ps)
			}
			defer gw.Close(b.Context())
			h := gw.Handler(0, 60*time.Second) // the default body_idle_timeout
			req, _ := http.NewRequest("GET", "http://bench.local/users/42?x=1", nil)
			req.RemoteAddr = "127.0.0.1:5555"
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := req.Clone(req.Context())
				r.RequestURI = r.URL.RequestURI()
				w := &discardWriter{h: make(http.Header, 4)}
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkServeRequest measures one proxied GET through a whole plain
// listener as bench/run.sh configures it (h1server, the edge, the proxy,
// the h1 upstream client, body_idle_timeout on), over a keep-alive
// connection from a client that allocates nothing, to an upstream that
// parses nothing and allocates nothing. So allocs/op is Sluice's own per
// request; ns/op includes both ends and the kernel. Run with -cpu 1 to
// match the pinned setup.
func BenchmarkServeRequest(b *testing.B) {
	for _, bc := range []struct {
		name   string
		access bool
	}{{"bare", false}, {"access_log", true}} {
		b.Run(bc.name, func(b *testing.B) {
			up := floorUpstream(b)
			opts := Options{Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New()}
			if bc.access {
				opts.AccessLog = slog.New(slog.NewJSONHandler(io.Discard, nil))
			}
			gw, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			if ps := gw.Apply(loadConfig(b, simple("", "http://"+up), testKinds)); len(ps) > 0 {
				b.Fatal(ps)
			}
			defer gw.Close(b.Context())
			h, reqCtx := gw.h1Handler(0, 60*time.Second)
			srv := &h1server.Server{Handler: h, RequestContext: reqCtx, WriteIdleTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(ln)
			defer srv.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReaderSize(c, 16<<10)
			req := []byte("GET /users/42?x=1 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := readResponse(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readResponse reads one response with a Content-Length body, allocating
// nothing.
func readResponse(br *bufio.Reader) error {
	cl, first := -1, true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return fmt.Errorf("status line %q", line)
			}
			first = false
			continue
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			cl = 0
			for _, d := range bytes.TrimSpace(v) {
				cl = cl*10 + int(d-'0')
			}
		}
	}
	if cl < 0 {
		return errors.New("response without Content-Length")
	}
	_, err := br.Discard(cl)
	return err
}

// floorUpstream answers every request with a fixed 2-byte JSON response,
// parsing only what framing needs: an upstream that costs next to nothing.
func floorUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for { // GETs only: the head ends the request
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
