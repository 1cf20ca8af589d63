package h1server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServer serves h with an h1server.Server on a loopback port and
// returns its address; the server is closed when the test ends.
func startServer(t testing.TB, h http.Handler, configure ...func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}
	for _, f := range configure {
		f(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v; want http.ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

// startStd serves h with net/http.Server, configured like startServer.
func startStd(t testing.TB, h http.Handler, configure ...func(*http.Server)) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
		ErrorLog: quietLog()}
	for _, f := range configure {
		f(s)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

// rawExchange sends wire to addr, half-closes the connection and reads
// until the server closes it (or 5 seconds pass).
func rawExchange(t testing.TB, addr, wire string) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, wire); err != nil {
		// The server may close before reading everything (431 and the like).
		_ = err
	}
	c.(*net.TCPConn).CloseWrite()
	var out bytes.Buffer
	_, err = io.Copy(&out, c)
	if isReset(err) {
		err = nil // an RST after the response (unread request bytes) is not a failure
	}
	return out.String(), err
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// respView is what a client can tell about one response.
type respView struct {
	Status        string
	Proto         string
	Header        http.Header
	ContentLength int64
	Chunked       bool
	Close         bool
	Body          string
	BodyErr       string
	Trailer       http.Header
}

// parseResponses reads the responses in out, methods[i] being the method
// of the i-th request (for HEAD). A trailing fragment that is not a whole
// response is reported as an extra entry with BodyErr set.
func parseResponses(out string, methods []string) []respView {
	br := bufio.NewReader(strings.NewReader(out))
	var views []respView
	for i := 0; ; i++ {
		if _, err := br.Peek(1); err != nil {
			return views
		}
		method := "GET"
		if i < len(methods) {
			method = methods[i]
		}
		req, _ := http.NewRequest(method, "http://x/", nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			rest, _ := io.ReadAll(br)
			return append(views, respView{BodyErr: "unparsable: " + err.Error(), Body: string(rest)})
		}
		b, err := io.ReadAll(resp.Body)
		v := respView{Status: resp.Status, Proto: resp.Proto, Header: resp.Header, ContentLength: resp.ContentLength,
			Chunked: len(resp.TransferEncoding) > 0, Close: resp.Close, Body: string(b), Trailer: resp.Trailer}
		if err != nil {
			v.BodyErr = err.Error()
		}
		v.Header.Del("Date")
		if len(v.Header) == 0 {
			v.Header = nil
		}
		views = append(views, v)
		if resp.StatusCode/100 == 1 && resp.StatusCode != 101 {
			i-- // an informational response precedes the same request's final one
		}
		if err != nil || resp.StatusCode == 101 {
			rest, _ := io.ReadAll(br)
			if len(rest) > 0 {
				views = append(views, respView{Body: "after: " + string(rest)})
			}
			return views
		}
	}
}

// seen is what a handler saw of a request.
type seen struct {
	Method, RequestURI, Proto string
	URL                       string
	Path, RawPath, RawQuery   string
	Scheme, URLHost, Opaque   string
	ForceQuery                bool
	Host                      string
	Header                    http.Header
	ContentLength             int64
	TransferEncoding          []string
	Close                     bool
	HasRemoteAddr             bool
	NoBody                    bool
	Body                      string
	BodyErr                   bool
	Trailer                   http.Header
}

// recorder collects what the handlers saw.
type recorder struct {
	mu   sync.Mutex
	seen []seen
}

func (r *recorder) add(s seen) {
	r.mu.Lock()
	r.seen = append(r.seen, s)
	r.mu.Unlock()
}

func (r *recorder) take() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.seen
	r.seen = nil
	return s
}

func view(r *http.Request, body []byte, err error) seen {
	s := seen{Method: r.Method, RequestURI: r.RequestURI, Proto: r.Proto, URL: r.URL.String(),
		Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery, Scheme: r.URL.Scheme,
		URLHost: r.URL.Host, Opaque: r.URL.Opaque, ForceQuery: r.URL.ForceQuery, Host: r.Host,
		Header: r.Header.Clone(), ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding,
		Close: r.Close, HasRemoteAddr: r.RemoteAddr != "", NoBody: r.Body == http.NoBody,
		Body: string(body), BodyErr: err != nil, Trailer: r.Trailer.Clone()}
	if len(s.Header) == 0 {
		s.Header = nil
	}
	return s
}

// quietLog drops net/http's log lines (it logs the panics the tests cause).
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
