package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// got is the part of a response the tests compare.
type got struct {
	Status           string
	StatusCode       int
	Proto            string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Body             string
	Trailer          http.Header
	NoBody           bool
}

func TestResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		wire   string // the response, "\n" becoming CRLF unless bareLF
		bareLF bool
		want   got
	}{
		{
			name: "Content-Length",
			wire: "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello",
			want: got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ContentLength: 5, Body: "hello",
				Header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}}},
		},
		{
			name: "lower-case and duplicate keys",
			wire: "HTTP/1.1 200 OK\ncontent-length: 2\nset-cookie: a=1\nSet-Cookie: b=2\nx-custom-thing:  v \n\nhi",
			want: got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ContentLength: 2, Body: "hi",
				Header: http.Header{"Content-Length": {"2"}, "Set-Cookie": {"a=1", "b=2"}, "X-Custom-Thing": {"v"}}},
		},
		{
			name: "chunked with extension and trailers",
			wire: "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTrailer: X-Sum, X-Late\n\n5;ext=1\nhello\n6\n world\n0\nX-Sum: 42\nX-Other: 1\n\n",
			want: got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ContentLength: -1, TransferEncoding: []string{"chunked"},
				Header: http.Header{}, Body: "hello world", Trailer: http.Header{"X-Sum": {"42"}, "X-Late": nil, "X-Other": {"1"}}},
		},
		{
			name: "until close",
			wire: "HTTP/1.1 200 OK\nContent-Type: text/plain\n\nall of it",
			want: got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ContentLength: -1, Close: true, Body: "all of it",
				Header: http.Header{"Content-Type": {"text/plain"}}},
		},
		{
			name: "HTTP/1.0 keep-alive",
			wire: "HTTP/1.0 200 OK\nConnection: keep-alive\nContent-Length: 2\n\nok",
			want: got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.0", ContentLength: 2, Body: "ok",
				Header: http.Header{"Connection": {"keep-alive"}, "Content-Length": {"2"}}},
		},
		{
			name: "Connection: close",
			wire: "HTTP/1.1 200 OK\nConnection: close\nContent-Length: 2\n\nok",
			want: got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ContentLength: 2, Close: true, Body: "ok",
				Header: http.Header{"Content-Length": {"2"}}},
		},
		{
			name: "204",
			wire: "HTTP/1.1 204 No Content\nX: y\n\n",
			want: got{Status: "204 No Content", StatusCode: 204, Proto: "HTTP/1.1", Header: http.Header{"X": {"y"}}, NoBody: true},
		},
		{
			name: "304 with Content-Length",
			wire: "HTTP/1.1 304 Not Modified\nContent-Length: 10\n\n",
			want: got{Status: "304 Not Modified", StatusCode: 304, Proto: "HTTP/1.1", Header: http.Header{"Content-Length": {"10"}}, NoBody: true},
		},
		{
			name:   "HEAD",
			method: "HEAD",
			wire:   "HTTP/1.1 200 OK\nContent-Length: 1000\n\n",
			want:   got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ContentLength: 1000, Header: http.Header{"Content-Length": {"1000"}}, NoBody: true},
		},
		{
			name: "100 and 103 skipped",
			wire: "HTTP/1.1 100 Continue\n\nHTTP/1.1 103 Early Hints\nLink: </s.css>; rel=preload\n\nHTTP/1.1 200 OK\nContent-Length: 1\n\nx",
			want: got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ContentLength: 1, Body: "x", Header: http.Header{"Content-Length": {"1"}}},
		},
		{
			name:   "no reason phrase, bare LF",
			wire:   "HTTP/1.1 404\nContent-Length: 0\n\n",
			bareLF: true,
			want:   got{Status: "404", StatusCode: 404, Proto: "HTTP/1.1", Header: http.Header{"Content-Length": {"0"}}, NoBody: true},
		},
		{
			name: "duplicate equal Content-Length",
			wire: "HTTP/1.1 200 OK\nContent-Length: 3\nContent-Length: 3\n\nabc",
			want: got{Status: "200 OK", StatusCode: 200, Proto: "HTTP/1.1", ContentLength: 3, Body: "abc", Header: http.Header{"Content-Length": {"3"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wire := tt.wire
			if !tt.bareLF {
				wire = crlf(wire)
			}
			s := newRawServer(t, serveCanned(wire))
			method := tt.method
			if method == "" {
				method = "GET"
			}
			tr := newTransport(t)
			resp, err := tr.RoundTrip(mustRequest(t, method, s.URL()+"/", nil))
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			g := got{Status: resp.Status, StatusCode: resp.StatusCode, Proto: resp.Proto, Header: resp.Header,
				ContentLength: resp.ContentLength, TransferEncoding: resp.TransferEncoding, Close: resp.Close,
				NoBody: resp.Body == http.NoBody}
			if tt.want.Trailer != nil {
				if diff := cmp.Diff(map[string]bool{"X-Sum": true, "X-Late": true}, keysOf(resp.Trailer)); diff != "" {
					t.Errorf("announced trailer before the body (-want +got):\n%s", diff)
				}
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			resp.Body.Close()
			g.Body, g.Trailer = string(b), resp.Trailer
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func keysOf(h http.Header) map[string]bool {
	m := map[string]bool{}
	for k := range h {
		m[k] = true
	}
	return m
}

func TestMalformedResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wire string
	}{
		{"garbage", "garbage\n\n"},
		{"bad status code", "HTTP/1.1 abc OK\n\n"},
		{"two-digit status", "HTTP/1.1 20 OK\n\n"},
		{"unknown version", "HTTP/2.0 200 OK\n\n"},
		{"101 without upgrade", "HTTP/1.1 101 Switching Protocols\n\n"},
		{"bad chunk size", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nzz\nhello\n0\n\n"},
		{"chunk size overflow", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nfffffffffffffffff\nx\n0\n\n"},
		{"chunk without CRLF", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhelloXX0\n\n"},
		{"chunk-size line with bare LF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"},
		{"truncated chunked body", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhel"},
		{"CL and TE", "HTTP/1.1 200 OK\nContent-Length: 5\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n"},
		{"negative CL", "HTTP/1.1 200 OK\nContent-Length: -1\n\n"},
		{"invalid CL", "HTTP/1.1 200 OK\nContent-Length: 12a\n\n"},
		{"empty CL", "HTTP/1.1 200 OK\nContent-Length:\n\n"},
		{"conflicting CL", "HTTP/1.1 200 OK\nContent-Length: 3\nContent-Length: 4\n\nabcd"},
		{"short CL body", "HTTP/1.1 200 OK\nContent-Length: 10\n\nabc"},
		{"gzip TE", "HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\n\n0\n\n"},
		{"obs-fold", "HTTP/1.1 200 OK\nX: a\n  b\nContent-Length: 0\n\n"},
		{"space before colon", "HTTP/1.1 200 OK\nX : a\nContent-Length: 0\n\n"},
		{"NUL in value", "HTTP/1.1 200 OK\nX: a\x00b\nContent-Length: 0\n\n"},
		{"no colon", "HTTP/1.1 200 OK\nNoColon\nContent-Length: 0\n\n"},
		{"header too long", "HTTP/1.1 200 OK\nX: " + strings.Repeat("a", MaxHeaderBytes) + "\n\n"},
		{"bad trailer key", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTrailer: Content-Length\n\n0\n\n"},
		{"EOF in headers", "HTTP/1.1 200 OK\nX: a\n"},
		// A Kelvin sign folds to k under Unicode rules: not "chunked".
		{"unicode chunked", "HTTP/1.1 200 OK\nTransfer-Encoding: chun\u212aed\n\n0\n\n"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
				readHead(br)
				io.WriteString(c, crlf(tt.wire))
			})
			resp, err := newTransport(t).RoundTrip(mustRequest(t, "GET", s.URL(), nil))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatalf("response %q: no error", trunc(tt.wire))
			}
		})
	}
}

func TestMalformedIsTyped(t *testing.T) {
	t.Parallel()
	s := newRawServer(t, serveCanned(crlf("HTTP/1.1 200 OK\nContent-Length: x\n\n")))
	_, err := newTransport(t).RoundTrip(mustRequest(t, "GET", s.URL(), nil))
	if !errors.Is(err, ErrMalformedResponse) {
		t.Errorf("RoundTrip() error = %v; want ErrMalformedResponse", err)
	}
}

// TestMalformedErrorText checks that each malformed case fails for its own
// reason, not for a missing blank line.
func TestMalformedErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, wire, want string
	}{
		{"bare LF chunk line", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", "without CRLF"},
		{"CL and TE", "HTTP/1.1 200 OK\nContent-Length: 5\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n", "both Transfer-Encoding and Content-Length"},
		{"bad chunk size", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nzz\nhello\n0\n\n", "chunk size"},
		{"too long", "HTTP/1.1 200 OK\nX: " + strings.Repeat("a", MaxHeaderBytes) + "\n\n", "header block larger"},
		{"negative CL", "HTTP/1.1 200 OK\nContent-Length: -1\n\n", "Content-Length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newRawServer(t, serveCanned(crlf(tt.wire)))
			resp, err := newTransport(t).RoundTrip(mustRequest(t, "GET", s.URL(), nil))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v; want one containing %q", err, tt.want)
			}
		})
	}
}
