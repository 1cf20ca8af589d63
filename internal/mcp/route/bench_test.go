package route

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/mcp/sessionid"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// The benchmarks time one stateless 2026-07-28 tools/call through the
// route (Wrap, then ServeHTTP) to a loopback upstream that answers with
// fixed bytes, the way bench/mcp.sh's raw server does: what is left is the
// route's own cost plus the upstream client's. The front end is not a
// server: the handler writes into a benchWriter, which keeps nothing, so
// the numbers hold no h1server cost. The audit line is formatted as in the
// gateway (slog's JSON handler) and thrown away.
//
//	go test -run '^$' -bench ToolCall -benchmem ./internal/mcp/route

// benchBody is what the Go SDK's client sends for a call of echo (the
// request bench/mcpclient sends).
const benchBody = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{` +
	`"io.modelcontextprotocol/clientCapabilities":{"roots":{"listChanged":true}},` +
	`"io.modelcontextprotocol/clientInfo":{"name":"sluice-bench","version":"1.0.0"},` +
	`"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"name":"echo",` +
	`"arguments":{"text":"The quick brown fox jumps over the lazy dog."}}}`

// benchAnswer is the echo tool's result, as the go-sdk server words it.
const benchAnswer = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text",` +
	`"text":"{\"text\":\"The quick brown fox jumps over the lazy dog.\"}"}],` +
	`"structuredContent":{"text":"The quick brown fox jumps over the lazy dog."}}}`

func BenchmarkToolCall(b *testing.B) {
	resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(benchAnswer)) + "\r\n\r\n" + benchAnswer
	benchToolCall(b, resp)
}

func BenchmarkToolCallSSE(b *testing.B) {
	// One event in one chunk, then the last chunk: the go-sdk's shape.
	event := "event: message\ndata: " + benchAnswer + "\n\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(len(event)), 16) + "\r\n" + event + "\r\n0\r\n\r\n"
	benchToolCall(b, resp)
}

func benchToolCall(b *testing.B, answer string) {
	up := fixedUpstream(b, answer)
	sealer, err := sessionid.New(testKeys)
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{Route: "mcp", Sealer: sealer, Server: Server{Name: "echo", Pool: benchPool(b, "http://"+up), Path: "/mcp"},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	chain := h.Wrap(h)

	body := &benchReqBody{}
	bodyBytes := []byte(benchBody)
	hdr := http.Header{
		"Content-Type":         {"application/json"},
		"Accept":               {"application/json, text/event-stream"},
		"User-Agent":           {"sluice-bench-mcpclient/1.0"},
		"Mcp-Protocol-Version": {"2026-07-28"},
		"Mcp-Method":           {"tools/call"},
		"Mcp-Name":             {"echo"},
	}
	w := &benchWriter{}
	x := &plugin.Exchange{}
	ctx := plugin.WithExchange(benchCtx{}, x)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://gw.example/mcp", body)
	if err != nil {
		b.Fatal(err)
	}
	req.Header = hdr
	run := func() {
		body.Reset(bodyBytes)
		req.ContentLength = int64(len(benchBody))
		*x = plugin.Exchange{Route: "mcp", RequestID: "rid"}
		w.reset()
		if err := chain.ServeHTTP(w, req); err != nil {
			b.Fatal(err)
		}
		if w.status != http.StatusOK || w.n == 0 || x.MCP.Outcome != plugin.MCPOK {
			b.Fatalf("status %d, %d bytes, outcome %q", w.status, w.n, x.MCP.Outcome)
		}
	}
	run() // the upstream connection, pools and caches
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}

func benchPool(b *testing.B, url string) *upstream.Pool {
	ucs := []config.Upstream{{Name: "mcp-bench", Targets: []config.Target{{URL: url}}}}
	config.ApplyDefaults(&config.Config{Upstreams: ucs})
	ucs[0].Retries.Attempts = 0
	p, err := upstream.New(ucs[0], upstream.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

// fixedUpstream serves keep-alive connections on loopback, answering every
// request with answer once it has read the request's head and body.
func fixedUpstream(b *testing.B, answer string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveFixed(c, []byte(answer))
		}
	}()
	return ln.Addr().String()
}

func serveFixed(c net.Conn, answer []byte) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		n := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				break
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		if _, err := c.Write(answer); err != nil {
			return
		}
	}
}

// benchCtx stands in for h1server's request context: never canceled, and
// with an AfterFunc of its own, so the upstream client registers on it
// without the context package's fallback.
type benchCtx struct{ context.Context }

func (benchCtx) Deadline() (deadline time.Time, ok bool) { return }
func (benchCtx) Done() <-chan struct{}                   { return nil }
func (benchCtx) Err() error                              { return nil }
func (benchCtx) Value(any) any                           { return nil }
func (benchCtx) AfterFunc(func()) func() bool            { return benchStop }

func benchStop() bool { return true }

// benchReqBody is a request body that can be refilled without allocating.
type benchReqBody struct{ bytes.Reader }

func (r *benchReqBody) Reset(p []byte) { r.Reader.Reset(p) }
func (*benchReqBody) Close() error     { return nil }

// benchWriter is a ResponseWriter that counts what it is sent.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) reset() {
	if w.h == nil {
		w.h = make(http.Header)
	}
	clear(w.h)
	w.status, w.n = 0, 0
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}

func (w *benchWriter) Flush() {}
