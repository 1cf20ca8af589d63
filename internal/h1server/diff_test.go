package h1server

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// diffHandler is the handler both servers run in TestDifferential: it
// records what it saw and answers according to the path.
func diffHandler(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		var err error
		if !strings.HasPrefix(r.URL.Path, "/noread") {
			body, err = io.ReadAll(r.Body)
		}
		rec.add(view(r, body, err))
		h := w.Header()
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 10000)))
		case "/cl":
			h.Set("Content-Length", "5")
			w.Write([]byte("hello"))
		case "/flush":
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		case "/trailer":
			h.Set("Trailer", "X-T, Host") // Host may not be a trailer: dropped
			h.Add("Trailer", "X-V")
			w.Write([]byte("data"))
			h.Set("X-T", "1")
			h.Set("Host", "h")
			h.Set(http.TrailerPrefix+"X-U", "2")
		case "/trailer-prefix":
			w.Write([]byte("data"))
			w.(http.Flusher).Flush()
			h.Set(http.TrailerPrefix+"X-U", "2")
		case "/trailer-prefix-early":
			h.Set(http.TrailerPrefix+"X-U", "early")
			w.Write([]byte("data"))
			h.Set(http.TrailerPrefix+"X-U", "late")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
			w.Write([]byte("not allowed"))
		case "/304":
			h.Set("Content-Type", "text/plain")
			h.Set("Etag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		case "/close":
			h.Set("Connection", "close")
			w.Write([]byte("bye"))
		case "/sniff":
			w.Write([]byte("<html><body>hi</body></html>"))
		case "/nosniff":
			h["Content-Type"] = nil
			w.Write([]byte("<html>"))
		case "/1xx":
			h.Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Write([]byte("final"))
		case "/panic":
			w.Write([]byte("partial"))
			panic("boom")
		case "/abort":
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "/keepalive":
			h.Set("Content-Length", "2")
			h.Set("Connection", "keep-alive")
			w.Write([]byte("ok"))
		case "/identity":
			h.Set("Transfer-Encoding", "identity")
			w.Write([]byte("streamed"))
		case "/short":
			h.Set("Content-Length", "10")
			w.Write([]byte("12345"))
		case "/long":
			h.Set("Content-Length", "3")
			if _, err := w.Write([]byte("12345")); err != http.ErrContentLength {
				panic("want ErrContentLength")
			}
		case "/empty":
		case "/hijack":
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			rest := make([]byte, brw.Reader.Buffered())
			brw.Read(rest)
			brw.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
				strconv.Itoa(len(rest)) + "\r\n\r\n" + string(rest))
			brw.Flush()
			c.Close()
		case "/te-cl":
			h.Set("Content-Length", "4")
			h.Set("Transfer-Encoding", "chunked")
			w.Write([]byte("data"))
		case "/twice":
			w.WriteHeader(201)
			w.WriteHeader(202)
			w.Write([]byte("x"))
		case "/crlf-value":
			h.Set("X-Evil", "a\r\nInjected: yes")
			h["Bad Key"] = []string{"v"}
			w.Write([]byte("x"))
		case "/large-flushed":
			for i := range 5 {
				w.Write([]byte(strings.Repeat("y", 1000*i+1)))
				w.(http.Flusher).Flush()
			}
		case "/write-string":
			io.WriteString(w, strings.Repeat("s", 3000))
		default:
			w.Write([]byte("ok"))
		}
	})
}

// diffCase is one raw exchange sent to both servers.
type diffCase struct {
	name    string
	wire    string
	methods []string // request methods in order, for parsing HEAD responses
	// differs, when set, documents a deliberate difference: the responses
	// are not compared with net/http's; want is checked against ours.
	differs string
	want    []string // our response statuses, when differs is set
}

const host = "Host: example.com\r\n"

func get(path string) string { return "GET " + path + " HTTP/1.1\r\n" + host + "\r\n" }

func diffCases() []diffCase {
	big := strings.Repeat("b", 300<<10)
	return []diffCase{
		// Request lines and versions.
		{name: "simple GET", wire: get("/")},
		{name: "query and escapes", wire: get("/a%20b/c?x=1&y=%41")},
		{name: "force query", wire: get("/p?")},
		{name: "reserved chars in path", wire: get("/a:b@c;d=e,f+g$h&i")},
		{name: "unescaped special chars", wire: get("/a!b'(c)*d")},
		{name: "double slash", wire: get("//x/y")},
		{name: "non-ASCII in path", wire: get("/caf\xc3\xa9")},
		{name: "bad escape", wire: get("/%zz")},
		{name: "fragment in target", wire: get("/a#b")},
		{name: "absolute form", wire: "GET http://other.example/p?q=1 HTTP/1.1\r\n" + host + "\r\n"},
		{name: "absolute form https with userinfo", wire: "GET https://u:p@other.example:8443/p HTTP/1.1\r\n" + host + "\r\n"},
		{name: "OPTIONS star", wire: "OPTIONS * HTTP/1.1\r\n" + host + "\r\n"},
		{name: "GET star", wire: "GET * HTTP/1.1\r\n" + host + "\r\n"},
		{name: "CONNECT authority", wire: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"},
		{name: "CONNECT no host header", wire: "CONNECT example.com:443 HTTP/1.1\r\n\r\n"},
		{name: "relative path", wire: "GET a/b HTTP/1.1\r\n" + host + "\r\n"},
		{name: "empty target", wire: "GET  HTTP/1.1\r\n" + host + "\r\n"},
		{name: "control char in target", wire: "GET /a\x01b HTTP/1.1\r\n" + host + "\r\n"},
		{name: "DEL in query", wire: "GET /a?b\x7f HTTP/1.1\r\n" + host + "\r\n"},
		{name: "two spaces", wire: "GET  / HTTP/1.1\r\n" + host + "\r\n"},
		{name: "trailing space", wire: "GET / HTTP/1.1 \r\n" + host + "\r\n"},
		{name: "no version", wire: "GET /\r\n" + host + "\r\n"},
		{name: "lower-case version", wire: "GET / http/1.1\r\n" + host + "\r\n"},
		{name: "HTTP/1.2", wire: "GET / HTTP/1.2\r\n" + host + "\r\n"},
		{name: "HTTP/2.0", wire: "GET / HTTP/2.0\r\n" + host + "\r\n"},
		{name: "HTTP/0.9", wire: "GET / HTTP/0.9\r\n" + host + "\r\n"},
		{name: "HTTP/10.0", wire: "GET / HTTP/10.0\r\n" + host + "\r\n"},
		{name: "h2 preface", wire: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{name: "h2c upgrade header", wire: "GET / HTTP/1.1\r\n" + host + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"},
		{name: "method with slash", wire: "GE/T / HTTP/1.1\r\n" + host + "\r\n"},
		{name: "lower-case method", wire: "get / HTTP/1.1\r\n" + host + "\r\n"},
		{name: "extension method", wire: "PURGE / HTTP/1.1\r\n" + host + "\r\n"},
		{name: "bare LF line endings", wire: "GET / HTTP/1.1\n" + "Host: example.com\n\n"},
		{name: "CR in request line", wire: "GET / HTTP/1.1\rX\r\n" + host + "\r\n"},
		{name: "empty line first", wire: "\r\n" + get("/")},
		{name: "NUL in request line", wire: "GET /\x00 HTTP/1.1\r\n" + host + "\r\n"},

		// Host.
		{name: "HTTP/1.1 without Host", wire: "GET / HTTP/1.1\r\n\r\n"},
		{name: "HTTP/1.1 empty Host", wire: "GET / HTTP/1.1\r\nHost:\r\n\r\n"},
		{name: "HTTP/1.0 without Host", wire: "GET / HTTP/1.0\r\n\r\n", methods: []string{"GET"}},
		{name: "two Host headers", wire: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{name: "Host with space", wire: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
		{name: "Host with slash", wire: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"},
		{name: "Host IPv6 and port", wire: "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"},
		{name: "Host lower-case key", wire: "GET / HTTP/1.1\r\nhost: example.com\r\n\r\n"},

		// Header syntax.
		{name: "headers canonicalized", wire: "GET / HTTP/1.1\r\n" + host + "x-foo-bar: 1\r\nACCEPT-encoding: gzip\r\nx_under: 2\r\n\r\n"},
		{name: "repeated headers", wire: "GET / HTTP/1.1\r\n" + host + "X-A: 1\r\nX-A: 2\r\nx-a: 3\r\n\r\n"},
		{name: "value whitespace trimmed", wire: "GET / HTTP/1.1\r\n" + host + "X-A: \t v  w \t\r\n\r\n"},
		{name: "empty value", wire: "GET / HTTP/1.1\r\n" + host + "X-A:\r\n\r\n"},
		{name: "obs-text in value", wire: "GET / HTTP/1.1\r\n" + host + "X-A: caf\xc3\xa9\xff\r\n\r\n"},
		{name: "space before colon", wire: "GET / HTTP/1.1\r\n" + host + "X-A : 1\r\n\r\n"},
		{name: "tab before colon", wire: "GET / HTTP/1.1\r\n" + host + "X-A\t: 1\r\n\r\n"},
		{name: "no colon", wire: "GET / HTTP/1.1\r\n" + host + "X-A 1\r\n\r\n"},
		{name: "empty name", wire: "GET / HTTP/1.1\r\n" + host + ": 1\r\n\r\n"},
		{name: "NUL in value", wire: "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n"},
		{name: "CR in value", wire: "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n"},
		{name: "DEL in value", wire: "GET / HTTP/1.1\r\n" + host + "X-A: a\x7fb\r\n\r\n"},
		{name: "non-token name", wire: "GET / HTTP/1.1\r\n" + host + "X(A): 1\r\n\r\n"},
		{name: "UTF-8 name", wire: "GET / HTTP/1.1\r\n" + host + "X-\xc3\xa9: 1\r\n\r\n"},
		{name: "leading space first header", wire: "GET / HTTP/1.1\r\n Host: example.com\r\n\r\n"},
		{name: "pragma no-cache", wire: "GET / HTTP/1.1\r\n" + host + "Pragma: no-cache\r\n\r\n"},
		{name: "huge header", wire: "GET / HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"},
		{name: "many headers within limit", wire: "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-Many: 0123456789\r\n", 2000) + "\r\n"},
		{name: "header just under the limit", wire: "GET / HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 1<<20-100) + "\r\n\r\n"},
		{name: "truncated head", wire: "GET / HTTP/1.1\r\n" + host},
		{name: "only a request line, then EOF", wire: "GET / HTTP/1.1\r\n"},
		{name: "nothing", wire: ""},
		{name: "garbage", wire: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},

		// Framing and smuggling attempts.
		{name: "content-length body", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello", methods: []string{"POST"}},
		{name: "content-length zero", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n"},
		{name: "duplicate equal content-length", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "duplicate padded content-length", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\ncontent-length:  5 \r\n\r\nhello"},
		{name: "conflicting content-length", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
		{name: "content-length list", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 5, 5\r\n\r\nhello"},
		{name: "content-length plus sign", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\nhello"},
		{name: "content-length negative", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n"},
		{name: "content-length hex", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x5\r\n\r\nhello"},
		{name: "content-length empty", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length:\r\n\r\n"},
		{name: "content-length overflow", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999\r\n\r\n"},
		{name: "content-length max int64", wire: "POST /noread HTTP/1.1\r\n" + host + "Content-Length: 9223372036854775807\r\n\r\nabc"},
		{name: "content-length short body", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 10\r\n\r\nhello",
			differs: "the body ended early (the client half-closed), so the response says Connection: close; " +
				"net/http treats the truncated body as read and offers keep-alive", want: []string{"200 OK"}},
		{name: "GET with body", wire: "GET / HTTP/1.1\r\n" + host + "Content-Length: 3\r\n\r\nabc" + get("/second"), methods: []string{"GET", "GET"}},
		{name: "chunked body", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
		{name: "chunked upper-case", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "chunked with extensions", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d\"\r\nhello\r\n0;x\r\n\r\n"},
		{name: "chunk size with trailing space", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"},
		{name: "chunk size space before ext", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5 ;a\r\nhello\r\n0\r\n\r\n"},
		{name: "chunked with trailers", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTrailer: X-Sum, x-count\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Count: 1\r\nX-Extra: 2\r\n\r\n"},
		{name: "trailer forbidden key", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n"},
		{name: "trailer header without chunked", wire: "POST / HTTP/1.1\r\n" + host + "Trailer: X-A\r\nContent-Length: 1\r\n\r\nx"},
		{name: "bad trailer line", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nX A: 1\r\n\r\n",
			differs: "a trailer field name with a space fails the body read; net/http's textproto accepts it " +
				"(its server refuses the same name in the header)", want: []string{"200 OK"}},
		{name: "trailer too long", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-A: " + strings.Repeat("t", 5000) + "\r\n\r\n"},
		{name: "bad chunk size", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{name: "empty chunk size", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk size overflow", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk size 16 digits", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n"},
		{name: "negative chunk size", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk 0x prefix", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk bare LF", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"},
		{name: "chunk data too long", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk missing CRLF after data", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n"},
		{name: "chunked truncated", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhel"},
		{name: "chunked then pipelined", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" + get("/second"), methods: []string{"POST", "GET"}},
		{name: "chunked padding abuse", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1;"+strings.Repeat("e", 100)+"\r\nx\r\n", 300) + "0\r\n\r\n"},
		{name: "TE gzip", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n"},
		{name: "TE gzip, chunked", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
		{name: "TE chunked twice", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "TE identity", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\n\r\n"},
		{name: "TE xchunked", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
		{name: "TE chunked with Kelvin sign", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chun\xe2\x84\xaaed\r\n\r\n0\r\n\r\n"},
		{name: "TE empty", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n\r\n"},
		{name: "TE with space padding", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:  chunked \r\n\r\n0\r\n\r\n"},
		{name: "TE obs-fold", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
			differs: "obs-fold is rejected instead of unfolded (RFC 9112 5.2 allows both); unfolding is how " +
				"folded framing headers get past front ends", want: []string{"400 Bad Request"}},
		{name: "obs-fold in ordinary header", wire: "GET / HTTP/1.1\r\n" + host + "X-A: 1\r\n 2\r\n\r\n",
			differs: "obs-fold is rejected", want: []string{"400 Bad Request"}},
		{name: "TE and CL", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			differs: "net/http drops the Content-Length and reads chunked; a front end that framed by the " +
				"length would see another request (RFC 9112 6.1 allows rejecting)", want: []string{"400 Bad Request"}},
		{name: "TE in HTTP/1.0", wire: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
			differs: "net/http ignores Transfer-Encoding in HTTP/1.0 and reads the Content-Length; RFC 9112 6.1 " +
				"says the framing is faulty", want: []string{"400 Bad Request"}},
		{name: "chunk extension with control byte", wire: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n",
			differs: "net/http ignores chunk extensions unread; control bytes in them are refused here",
			want:    []string{"200 OK"}}, // the handler sees a body read error; the response is still 200

		// Keep-alive, pipelining, HTTP/1.0.
		{name: "pipelined", wire: get("/one") + get("/two") + get("/three")},
		{name: "pipelined with close", wire: "GET /one HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n" + get("/two")},
		{name: "close token in list", wire: "GET /one HTTP/1.1\r\n" + host + "Connection: keep-alive, Close\r\n\r\n" + get("/two")},
		{name: "HTTP/1.0 closes", wire: "GET /one HTTP/1.0\r\n\r\n" + "GET /two HTTP/1.0\r\n\r\n"},
		{name: "HTTP/1.0 keep-alive small body", wire: "GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + "GET /two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
		{name: "HTTP/1.0 keep-alive streamed body", wire: "GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + "GET /two HTTP/1.0\r\n\r\n"},
		{name: "HTTP/1.0 keep-alive handler says keep-alive", wire: "GET /keepalive HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + "GET /two HTTP/1.0\r\n\r\n"},
		{name: "HTTP/1.0 flushed", wire: "GET /flush HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
		{name: "CRLF after POST body", wire: "POST / HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\nhi\r\n" + get("/two"), methods: []string{"POST", "GET"}},
		{name: "CRLF after GET", wire: get("/") + "\r\n" + get("/two")},

		// Bodies the handler leaves unread.
		{name: "unread small body", wire: "POST /noread HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello" + get("/two"), methods: []string{"POST", "GET"}},
		{name: "unread big body", wire: "POST /noread HTTP/1.1\r\n" + host + "Content-Length: 307200\r\n\r\n" + big + get("/two"), methods: []string{"POST", "GET"}},
		{name: "unread big chunked body", wire: "POST /noread HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n4b000\r\n" + big + "\r\n0\r\n\r\n" + get("/two"), methods: []string{"POST", "GET"}},
		{name: "unread body, big response", wire: "POST /noread HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nhello", methods: []string{"POST"}},
		{name: "unread body with connection close", wire: "POST /noread HTTP/1.1\r\n" + host + "Connection: close\r\nContent-Length: 5\r\n\r\nhello"},

		// Expect.
		{name: "expect 100-continue", wire: "POST / HTTP/1.1\r\n" + host + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + get("/two"), methods: []string{"POST", "GET"}},
		{name: "expect 100-continue unread", wire: "POST /noread HTTP/1.1\r\n" + host + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" + get("/two"), methods: []string{"POST", "GET"}},
		{name: "expect 100-continue no body", wire: "GET / HTTP/1.1\r\n" + host + "Expect: 100-continue\r\n\r\n" + get("/two")},
		{name: "expect 100-continue HTTP/1.0", wire: "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "expect other", wire: "POST / HTTP/1.1\r\n" + host + "Expect: something\r\nContent-Length: 5\r\n\r\nhello"},

		// Responses.
		{name: "big response", wire: get("/big") + get("/two")},
		{name: "declared length", wire: get("/cl") + get("/two")},
		{name: "flushed response", wire: get("/flush") + get("/two")},
		{name: "large flushed", wire: get("/large-flushed")},
		{name: "WriteString", wire: get("/write-string")},
		{name: "trailers", wire: get("/trailer") + get("/two")},
		{name: "trailer prefix after flush", wire: get("/trailer-prefix") + get("/two")},
		{name: "trailer prefix before write", wire: get("/trailer-prefix-early") + get("/two")},
		{name: "trailers HTTP/1.0", wire: "GET /trailer HTTP/1.0\r\n\r\n"},
		{name: "204 write refused", wire: get("/204") + get("/two")},
		{name: "304", wire: get("/304") + get("/two")},
		{name: "handler Connection close", wire: get("/close") + get("/two")},
		{name: "sniffed type", wire: get("/sniff")},
		{name: "sniffing suppressed", wire: get("/nosniff")},
		{name: "early hints", wire: get("/1xx") + get("/two")},
		{name: "early hints HTTP/1.0", wire: "GET /1xx HTTP/1.0\r\n\r\n",
			differs: "no 1xx response to an HTTP/1.0 client (RFC 9110 15.2); net/http sends it",
			want:    []string{"200 OK"}},
		{name: "panic", wire: get("/panic") + get("/two")},
		{name: "abort handler", wire: get("/abort") + get("/two")},
		{name: "identity TE", wire: get("/identity") + get("/two")},
		{name: "short write closes", wire: get("/short") + get("/two")},
		{name: "long write refused", wire: get("/long") + get("/two")},
		{name: "empty response", wire: get("/empty") + get("/two")},
		{name: "HEAD", wire: "HEAD / HTTP/1.1\r\n" + host + "\r\n" + get("/two"), methods: []string{"HEAD", "GET"}},
		{name: "HEAD big", wire: "HEAD /big HTTP/1.1\r\n" + host + "\r\n" + get("/two"), methods: []string{"HEAD", "GET"}},
		{name: "HEAD empty", wire: "HEAD /empty HTTP/1.1\r\n" + host + "\r\n" + get("/two"), methods: []string{"HEAD", "GET"}},
		{name: "HEAD declared length", wire: "HEAD /cl HTTP/1.1\r\n" + host + "\r\n" + get("/two"), methods: []string{"HEAD", "GET"}},
		{name: "TE and CL from handler", wire: get("/te-cl") + get("/two")},
		{name: "WriteHeader twice", wire: get("/twice") + get("/two")},
		{name: "header injection", wire: get("/crlf-value")},
		{name: "hijack", wire: get("/hijack") + "leftover"},
	}
}

// TestDifferential sends each case's bytes to net/http.Server and to this
// server, running the same handler, and compares the responses and what
// the handler saw.
func TestDifferential(t *testing.T) {
	t.Parallel()
	stdRec, myRec := new(recorder), new(recorder)
	_, stdAddr := startStd(t, diffHandler(stdRec))
	_, myAddr := startServer(t, diffHandler(myRec))
	for _, tt := range diffCases() {
		t.Run(tt.name, func(t *testing.T) {
			// Sequential: the recorders are shared.
			stdOut, stdErr := rawExchange(t, stdAddr, tt.wire)
			stdSeen := stdRec.take()
			myOut, myErr := rawExchange(t, myAddr, tt.wire)
			mySeen := myRec.take()
			if myErr != nil {
				t.Fatalf("reading our response: %v (net/http: %v)", myErr, stdErr)
			}
			stdResp := parseResponses(stdOut, tt.methods)
			myResp := parseResponses(myOut, tt.methods)
			if tt.differs != "" {
				var got []string
				for _, r := range myResp {
					got = append(got, r.Status)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("deliberate difference (%s): statuses (-want +got):\n%s\nnet/http answered %q", tt.differs, diff, statuses(stdResp))
				}
				return
			}
			if diff := cmp.Diff(stdResp, myResp); diff != "" {
				t.Errorf("responses differ (-net/http +h1server):\n%s\nraw net/http: %q\nraw h1server: %q", diff, trunc(stdOut), trunc(myOut))
			}
			if diff := cmp.Diff(stdSeen, mySeen); diff != "" {
				t.Errorf("handler saw different requests (-net/http +h1server):\n%s", diff)
			}
		})
	}
}

func statuses(rs []respView) []string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Status)
	}
	return s
}
