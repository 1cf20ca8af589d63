package h1

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDifferential compares what h1.Transport and net/http.Transport
// return for the same exchanges.
func TestDifferential(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("0123456789", 100000)
	tests := []struct {
		name    string
		method  string
		body    string
		stream  bool // unknown-length request body
		handler http.HandlerFunc
	}{
		{name: "small", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("hello"))
		}},
		{name: "empty 200", handler: func(w http.ResponseWriter, r *http.Request) {}},
		{name: "large chunked", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big)) }},
		{name: "large with length", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000000")
			w.Write([]byte(big))
		}},
		{name: "flushed chunks", handler: func(w http.ResponseWriter, r *http.Request) {
			for i := range 5 {
				w.Write([]byte(strings.Repeat("x", i*100+1)))
				w.(http.Flusher).Flush()
			}
		}},
		{name: "announced trailers", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Checksum, X-Count")
			w.Write([]byte("data"))
			w.(http.Flusher).Flush()
			w.Header().Set("X-Checksum", "abc")
			w.Header().Set("X-Count", "1")
		}},
		{name: "unannounced trailer", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("data"))
			w.(http.Flusher).Flush()
			w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
		}},
		{name: "204", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }},
		{name: "304", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(304)
		}},
		{name: "HEAD", method: "HEAD", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "123")
		}},
		{name: "404 error", handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }},
		{name: "redirect not followed", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}},
		{name: "cookies and lower-case keys", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["set-cookie"] = []string{"a=1", "b=2"}
			w.Header()["x-lower"] = []string{"v"}
			w.Header().Set("Pragma", "no-cache")
		}},
		{name: "connection close", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}},
		{name: "103 then 200", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Write([]byte("final"))
		}},
		{name: "POST echo", method: "POST", body: "payload", handler: echo},
		{name: "POST streamed echo", method: "POST", body: big, stream: true, handler: echo},
		{name: "PUT empty", method: "PUT", handler: echo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tt.handler)
			std := &http.Transport{DisableCompression: true}
			t.Cleanup(std.CloseIdleConnections)
			mine := newTransport(t)
			do := func(rt http.RoundTripper) exchangeView {
				method := tt.method
				if method == "" {
					method = "GET"
				}
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
					if tt.stream {
						body = onlyReader{body}
					}
				}
				req := mustRequest(t, method, s.URL+"/path?q=1", body)
				req.Header.Set("User-Agent", "")
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Fatalf("%T: %v", rt, err)
				}
				defer resp.Body.Close()
				announced := sortedKeys(resp.Trailer)
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%T body: %v", rt, err)
				}
				h := resp.Header.Clone()
				h.Del("Date")
				return exchangeView{resp.Status, resp.StatusCode, resp.Proto, h, resp.ContentLength,
					resp.TransferEncoding, resp.Close, string(b), announced, resp.Trailer}
			}
			want, got := do(std), do(mine)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("net/http (-) vs h1 (+):\n%s", diff)
			}
		})
	}
}

type exchangeView struct {
	Status           string
	StatusCode       int
	Proto            string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Body             string
	Announced        []string
	Trailer          http.Header
}

func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Method", r.Method)
	w.Header()["X-Content-Length"] = []string{r.Header.Get("Content-Length")}
	w.Header()["X-Te"] = r.TransferEncoding
	w.Header()["X-User-Agent"] = r.Header["User-Agent"]
	w.Header()["X-Accept-Encoding"] = r.Header["Accept-Encoding"]
	io.Copy(w, r.Body)
}
