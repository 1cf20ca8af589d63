package h1server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/http/httpguts"
)

// memConn is a net.Conn whose peer has sent wire and then closed its side:
// reads drain wire and then return EOF; writes are collected.
type memConn struct {
	in  *strings.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

func newMemConn(wire string) *memConn { return &memConn{in: strings.NewReader(wire)} }

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *memConn) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem:1" }

// testConn returns a conn of srv over nc, ready to read requests.
func testConn(srv *Server, nc net.Conn) *conn {
	c := newConn(&connShared{srv: srv, base: context.Background(), values: context.Background()}, nc)
	c.rbuf = make([]byte, readBufSize)
	c.pend = make([]byte, 0, pendSize)
	c.bw = bufio.NewWriterSize(connWriter{c}, writeBufSize)
	return c
}

// failOnError is a slog handler that fails the test on an Error record: a
// panic the server recovered while it was inside a handler (in the body
// reader, say) would otherwise pass as a handler panic.
type failOnError struct {
	t *testing.T
}

func (h failOnError) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h failOnError) Handle(_ context.Context, r slog.Record) error {
	var stack string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "panic" || a.Key == "stack" {
			stack += a.Value.String() + "\n"
		}
		return true
	})
	h.t.Errorf("server logged %q:\n%s", r.Message, stack)
	return nil
}
func (h failOnError) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h failOnError) WithGroup(string) slog.Handler      { return h }

// FuzzReadRequest feeds arbitrary client bytes to the server. Two checks:
//
//   - The whole server (parse, handler, response, keep-alive) runs over an
//     in-memory connection: it must not panic or hang, and what it writes
//     must parse as HTTP responses.
//   - The first request is parsed by this server and by http.ReadRequest
//     plus net/http's server-side checks: both must accept or both refuse,
//     and accepted requests (and their bodies) must be seen the same, except
//     for the deliberate refusals (errObsFold and the others).
func FuzzReadRequest(f *testing.F) {
	for _, c := range diffCases() {
		if len(c.wire) < 4096 {
			f.Add(c.wire)
		}
	}
	f.Fuzz(func(t *testing.T, wire string) {
		fuzzServe(t, wire)
		fuzzParse(t, wire)
	})
}

func fuzzServe(t *testing.T, wire string) {
	var mu sync.Mutex
	var methods []string
	srv := &Server{
		MaxHeaderBytes: 8 << 10,
		ErrorLog:       slog.New(failOnError{t}),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			methods = append(methods, r.Method)
			mu.Unlock()
			b, _ := io.ReadAll(r.Body)
			switch len(r.URL.Path) % 4 {
			case 0:
				w.Write(b)
			case 1:
				w.Header().Set("Trailer", "X-T")
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				w.Header().Set("X-T", "t")
			case 2:
				w.Write(bytes.Repeat([]byte("y"), 3000))
			case 3:
				w.WriteHeader(http.StatusNoContent)
			}
		}),
	}
	nc := newMemConn(wire)
	c := testConn(srv, nc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.serve()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("server did not finish with the input")
	}
	mu.Lock()
	defer mu.Unlock()
	out := nc.output()
	br := bufio.NewReader(strings.NewReader(out))
	for i := 0; ; i++ {
		if _, err := br.Peek(1); err != nil {
			break
		}
		method := "GET"
		if i < len(methods) {
			method = methods[i]
		}
		req := &http.Request{Method: method}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("response %d does not parse: %v\noutput: %q", i, err, out)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			// Only a response cut by the handler (none here) may end early.
			t.Fatalf("response %d body: %v\noutput: %q", i, err, out)
		}
		if resp.StatusCode == 100 {
			i--
		}
	}
}

// parsedView is what both parsers are compared on.
type parsedView struct {
	Method, RequestURI, Proto string
	URL                       url.URL // User cleared; see UserInfo
	UserInfo                  string
	Host                      string
	Header                    http.Header
	ContentLength             int64
	TransferEncoding          []string
	Close                     bool
	Body                      string
	BodyErr                   bool
	Trailer                   http.Header
}

func viewOf(r *http.Request, body []byte, bodyErr error) parsedView {
	u := *r.URL
	u.User = nil
	return parsedView{Method: r.Method, RequestURI: r.RequestURI, Proto: r.Proto, URL: u, UserInfo: r.URL.User.String(), Host: r.Host,
		Header: r.Header, ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, Close: r.Close,
		Body: string(body), BodyErr: bodyErr != nil, Trailer: r.Trailer}
}

func fuzzParse(t *testing.T, wire string) {
	// net/http: http.ReadRequest and then its server's own checks.
	std, stdErr := http.ReadRequest(bufio.NewReader(strings.NewReader(wire)))
	if stdErr == nil {
		stdErr = stdServerChecks(std, wire)
	}
	srv := &Server{MaxHeaderBytes: 1 << 20}
	c := testConn(srv, newMemConn(wire))
	ex, err := c.readRequest(true)
	if errors.Is(err, errObsFold) || errors.Is(err, errTEAndCL) || errors.Is(err, errTEInHTTP10) {
		return // deliberate refusals
	}
	if (err == nil) != (stdErr == nil) {
		t.Fatalf("h1server error %v, net/http error %v", err, stdErr)
	}
	if err != nil {
		return
	}
	ex.resp.handlerDone.Store(true) // no background read in this test
	ex.body.handlerDone = true
	mine := ex.req
	myBody, myBodyErr := io.ReadAll(mine.Body)
	stdBody, stdBodyErr := io.ReadAll(std.Body)
	var se statusError
	if errors.Is(myBodyErr, errStrictChunk) || errors.Is(myBodyErr, errObsFold) || errors.As(myBodyErr, &se) {
		return // stricter chunk extension and trailer parsing
	}
	if diff := cmp.Diff(viewOf(std, stdBody, stdBodyErr), viewOf(mine, myBody, myBodyErr)); diff != "" {
		t.Fatalf("parsed differently (-net/http +h1server):\n%s\nbody errors: %v / %v", diff, stdBodyErr, myBodyErr)
	}
}

// stdServerChecks are the checks net/http's server adds to ReadRequest.
// ReadRequest drops the Host field, so its values are read again from wire.
func stdServerChecks(req *http.Request, wire string) error {
	if !(req.ProtoMajor == 1 || req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
		return errors.New("unsupported protocol version")
	}
	tp := textproto.NewReader(bufio.NewReader(strings.NewReader(wire)))
	tp.ReadLine()
	raw, _ := tp.ReadMIMEHeader()
	hosts, haveHost := raw["Host"]
	h2 := req.Method == "PRI" && len(raw) == 0 && req.URL.Path == "*" && req.Proto == "HTTP/2.0"
	if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && !h2 && req.Method != "CONNECT" {
		return errors.New("missing required Host header")
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return errors.New("malformed Host header")
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return errors.New("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return errors.New("invalid header value")
			}
		}
	}
	delete(req.Header, "Host")
	return nil
}

// FuzzParseTarget checks the fast path of parseTarget against
// url.ParseRequestURI.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"/", "/a/b?c=d", "/p?", "/a%20b", "/a?b?c", "/a:b@c", "//x", "/a b", "/\x7f", "/a?\x01", "/é", "*", "/a#b", "/a?#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		ex := &exchange{}
		got, err := ex.parseTarget("GET", target)
		want, wantErr := url.ParseRequestURI(target)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("parseTarget(%q) error %v; url.ParseRequestURI error %v", target, err, wantErr)
		}
		if err != nil {
			return
		}
		if got.User.String() != want.User.String() {
			t.Fatalf("parseTarget(%q).User = %v; url.ParseRequestURI: %v", target, got.User, want.User)
		}
		g, w := *got, *want
		g.User, w.User = nil, nil
		if g != w {
			t.Fatalf("parseTarget(%q) = %#v; url.ParseRequestURI = %#v", target, g, w)
		}
	})
}
