package h1

import (
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seen is what the upstream received.
type seen struct {
	Method, RequestURI, Host string
	Header                   http.Header
	ContentLength            int64
	TransferEncoding         []string
	Body                     string
}

func TestRoundTripRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func(base string) *http.Request
		want  seen
	}{
		{
			name:  "GET with query",
			build: func(base string) *http.Request { return mustRequest(t, "GET", base+"/a/b?x=1&y=%20", nil) },
			want:  seen{Method: "GET", RequestURI: "/a/b?x=1&y=%20", Header: http.Header{}},
		},
		{
			name: "RawPath kept",
			build: func(base string) *http.Request {
				r := mustRequest(t, "GET", base, nil)
				r.URL.Path, r.URL.RawPath = "/a b/c/d", "/a%20b/c%2Fd"
				return r
			},
			want: seen{Method: "GET", RequestURI: "/a%20b/c%2Fd", Header: http.Header{}},
		},
		{
			name:  "empty path is /",
			build: func(base string) *http.Request { return mustRequest(t, "GET", base, nil) },
			want:  seen{Method: "GET", RequestURI: "/", Header: http.Header{}},
		},
		{
			name: "Host from req.Host, multi-valued header, empty User-Agent",
			build: func(base string) *http.Request {
				r := mustRequest(t, "GET", base+"/h", nil)
				r.Host = "example.com:8080"
				r.Header["X-Multi"] = []string{"a", "b"}
				r.Header["X-Empty-Slice"] = []string{}
				r.Header.Set("User-Agent", "")
				return r
			},
			want: seen{Method: "GET", RequestURI: "/h", Host: "example.com:8080", Header: http.Header{"X-Multi": {"a", "b"}}},
		},
		{
			name: "User-Agent passed, not defaulted",
			build: func(base string) *http.Request {
				r := mustRequest(t, "GET", base+"/ua", nil)
				r.Header.Set("User-Agent", "curl/8")
				return r
			},
			want: seen{Method: "GET", RequestURI: "/ua", Header: http.Header{"User-Agent": {"curl/8"}}},
		},
		{
			name:  "POST with Content-Length",
			build: func(base string) *http.Request { return mustRequest(t, "POST", base+"/p", strings.NewReader("hello")) },
			want:  seen{Method: "POST", RequestURI: "/p", Header: http.Header{"Content-Length": {"5"}}, ContentLength: 5, Body: "hello"},
		},
		{
			name: "PUT chunked",
			build: func(base string) *http.Request {
				return mustRequest(t, "PUT", base+"/c", onlyReader{strings.NewReader(strings.Repeat("x", 40000))})
			},
			want: seen{Method: "PUT", RequestURI: "/c", Header: http.Header{}, ContentLength: -1, TransferEncoding: []string{"chunked"}, Body: strings.Repeat("x", 40000)},
		},
		{
			name: "large Content-Length body",
			build: func(base string) *http.Request {
				r := mustRequest(t, "POST", base+"/big", onlyReader{strings.NewReader(strings.Repeat("y", 100000))})
				r.ContentLength = 100000
				return r
			},
			want: seen{Method: "POST", RequestURI: "/big", Header: http.Header{"Content-Length": {"100000"}}, ContentLength: 100000, Body: strings.Repeat("y", 100000)},
		},
		{
			name:  "POST without body sends Content-Length: 0",
			build: func(base string) *http.Request { return mustRequest(t, "POST", base+"/e", nil) },
			want:  seen{Method: "POST", RequestURI: "/e", Header: http.Header{"Content-Length": {"0"}}},
		},
		{
			name:  "HEAD",
			build: func(base string) *http.Request { return mustRequest(t, "HEAD", base+"/head", nil) },
			want:  seen{Method: "HEAD", RequestURI: "/head", Header: http.Header{}},
		},
		{
			name: "Close adds Connection: close",
			build: func(base string) *http.Request {
				r := mustRequest(t, "GET", base+"/close", nil)
				r.Close = true
				return r
			},
			want: seen{Method: "GET", RequestURI: "/close", Header: http.Header{"Connection": {"close"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan seen, 1)
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- seen{r.Method, r.RequestURI, r.Host, r.Header, r.ContentLength, r.TransferEncoding, string(b)}
				w.Write([]byte("ok"))
			})
			req := tt.build(s.URL)
			resp, err := newTransport(t).RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantBody := "ok"
			if req.Method == "HEAD" {
				wantBody = ""
			}
			if err != nil || string(body) != wantBody {
				t.Fatalf("body = %q, %v; want %q", body, err, wantBody)
			}
			want := tt.want
			if want.Host == "" {
				want.Host = strings.TrimPrefix(s.URL, "http://")
			}
			if diff := cmp.Diff(want, <-got); diff != "" {
				t.Errorf("upstream saw (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChunkedRequestStreams proves each Read of a streamed body is sent at
// once: the upstream reads the first chunk before the second exists.
func TestChunkedRequestStreams(t *testing.T) {
	t.Parallel()
	gotFirst := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 6)
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "first-" {
			t.Errorf("first chunk = %q, %v", buf, err)
		}
		close(gotFirst)
		rest, _ := io.ReadAll(r.Body)
		w.Write(append(buf, rest...))
	})
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("first-"))
		select {
		case <-gotFirst:
			pw.Write([]byte("second"))
			pw.Close()
		case <-time.After(5 * time.Second):
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
	}()
	req := mustRequest(t, "POST", s.URL, pr)
	resp, err := newTransport(t).RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v (the first chunk was held back)", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "first-second" {
		t.Errorf("body = %q; want first-second", b)
	}
}

func TestRequestBodyClosed(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	tests := []struct {
		name    string
		url     string
		body    string
		cl      int64
		wantErr bool
	}{
		{"success", s.URL, "abc", 3, false},
		{"short body", s.URL, "abc", 10, true},
		{"dial error", "http://127.0.0.1:1", "abc", 3, true},
		{"invalid header", s.URL, "abc", 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := &closeTracker{Reader: strings.NewReader(tt.body)}
			req := mustRequest(t, "POST", tt.url, body)
			req.ContentLength = tt.cl
			if tt.name == "invalid header" {
				req.Header.Set("X-Bad", "a\r\nInjected: 1")
			}
			resp, err := newTransport(t).RoundTrip(req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RoundTrip() error = %v; want error %v", err, tt.wantErr)
			}
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if !body.closed.Load() {
				t.Error("request body not closed")
			}
		})
	}
}

func TestSupports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		url    string
		method string
		header http.Header
		mod    func(*http.Request)
		want   bool
	}{
		{name: "plain GET", url: "http://a/", method: "GET", want: true},
		{name: "https", url: "https://a/", method: "GET", want: false},
		{name: "CONNECT", url: "http://a/", method: "CONNECT", want: false},
		{name: "upgrade", url: "http://a/", method: "GET", header: http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"}}, want: false},
		{name: "Upgrade header alone", url: "http://a/", method: "GET", header: http.Header{"Upgrade": {"h2c"}}, want: false},
		{name: "100-continue", url: "http://a/", method: "POST", header: http.Header{"Expect": {"100-Continue"}}, want: false},
		{name: "trailers", url: "http://a/", method: "POST", mod: func(r *http.Request) { r.Trailer = http.Header{"X": nil} }, want: false},
		{name: "gzip TE", url: "http://a/", method: "POST", mod: func(r *http.Request) { r.TransferEncoding = []string{"gzip", "chunked"} }, want: false},
		{name: "chunked TE", url: "http://a/", method: "POST", mod: func(r *http.Request) { r.TransferEncoding = []string{"chunked"} }, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, _ := url.Parse(tt.url)
			r := &http.Request{Method: tt.method, URL: u, Header: tt.header}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			if tt.mod != nil {
				tt.mod(r)
			}
			if got := Supports(r); got != tt.want {
				t.Errorf("Supports(%s) = %v; want %v", tt.name, got, tt.want)
			}
		})
	}
}

func sortedKeys(h http.Header) []string {
	var ks []string
	for k := range h {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
