package headers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
)

type hdr = map[string][]string

func build(t testing.TB, cfg string, next plugin.HandlerFunc) plugin.Handler {
	t.Helper()
	mw, err := Kind.Build(plugin.Env{}, json.RawMessage(cfg))
	if err != nil {
		t.Fatalf("Build(%s) = %v", cfg, err)
	}
	return mw(next)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"request only", `{"request":{"set":{"X-A":"1"}}}`, ""},
		{"response only", `{"response":{"remove":["Server"]}}`, ""},
		{"variables", `{"request":{"add":{"X-Real-IP":"$remote_addr","X-Who":"${consumer}@$route","X-Price":"$$5 $"}}}`, ""},
		{"empty", `{}`, "request, response: nothing to do; set at least one of add, set, remove"},
		{"no config", ``, "request, response: nothing to do; set at least one of add, set, remove"},
		{"bad name", `{"request":{"set":{"X A":"1"}}}`, `request.set["X A"]: "X A" is not a valid header name`},
		{"bad remove", `{"response":{"remove":["ok","bad:name"]}}`, `response.remove[1]: "bad:name" is not a valid header name`},
		{"unknown variable", `{"response":{"add":{"X-A":"$remote_adr"}}}`,
			`response.add["X-A"]: unknown variable $remote_adr (known: $remote_addr, $request_id, $route, $consumer, $host; write $$ for a literal $)`},
		{"unterminated", `{"request":{"set":{"X-A":"${host"}}}`, `request.set["X-A"]: unterminated ${ in "${host"`},
		{"newline", `{"request":{"set":{"X-A":"a\r\nX-B: b"}}}`, `request.set["X-A"]: value must not contain CR, LF or NUL`},
		{"host", `{"request":{"set":{"host":"a"}}}`, `request.set["host"]: "host" cannot be changed here; use proxy-rewrite's host`},
		{"content-length", `{"response":{"set":{"Content-Length":"1"}}}`, `response.set["Content-Length"]: "Content-Length" is managed by the gateway and cannot be changed`},
		{"same header twice", `{"request":{"set":{"X-A":"1","x-a":"2"}}}`, `request.set["x-a"]: names the same header as "X-A"`},
		{"several", `{"request":{"set":{"X A":"1"}},"response":{"add":{"Y":"$nope"}}}`,
			"request.set[\"X A\"]: \"X A\" is not a valid header name\n" +
				`response.add["Y"]: unknown variable $nope (known: $remote_addr, $request_id, $route, $consumer, $host; write $$ for a literal $)`},
		{"unknown key", `{"request":{"append":{"X":"1"}}}`, `json: unknown field "append"`},
		{"wrong type", `{"request":{"set":{"X":1}}}`, `request.set: expected string, got number`},
		{"capture", `{"request":{"set":{"X":"$1"}}}`, `request.set["X"]: regex captures like $1 are not supported in header values (write $$ for a literal $)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Kind.Check(json.RawMessage(tt.cfg))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		cfg                string
		reqHeader          hdr
		upstream           hdr // response headers the upstream adds
		wantUp, wantClient hdr
	}{
		{
			name:      "request add remove set",
			cfg:       `{"request":{"add":{"X-Multi":"b","X-Gone":"x"},"remove":["x-gone","Cookie"],"set":{"X-Set":"v","X-Over":"new"}}}`,
			reqHeader: hdr{"X-Multi": {"a"}, "Cookie": {"c=1"}, "X-Over": {"old", "older"}},
			wantUp:    hdr{"X-Multi": {"a", "b"}, "X-Set": {"v"}, "X-Over": {"new"}},
		},
		{
			name: "request variables",
			cfg:  `{"request":{"set":{"X-Real-IP":"$remote_addr","X-Id":"req=$request_id","X-Ctx":"${route}/${consumer}@$host","X-Dollar":"$$x $ end$"}}}`,
			wantUp: hdr{
				"X-Real-Ip": {"203.0.113.9"},
				"X-Id":      {"req=rid-1"},
				"X-Ctx":     {"chat/alice@api.example.org"},
				"X-Dollar":  {"$x $ end$"},
			},
		},
		{
			name:       "response overrides upstream",
			cfg:        `{"response":{"set":{"Server":"sluice","X-Route":"$route"},"remove":["X-Powered-By"],"add":{"Cache-Control":"no-transform"}}}`,
			upstream:   hdr{"Server": {"nginx"}, "X-Powered-By": {"php"}, "Cache-Control": {"private"}},
			wantClient: hdr{"Server": {"sluice"}, "X-Route": {"chat"}, "Cache-Control": {"private", "no-transform"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var up http.Header
			h := build(t, tt.cfg, func(w http.ResponseWriter, r *http.Request) error {
				up = r.Header.Clone()
				for k, v := range tt.upstream {
					for _, s := range v {
						w.Header().Add(k, s)
					}
				}
				w.WriteHeader(200)
				return nil
			})
			r := httptest.NewRequest("GET", "http://api.example.org:8443/", nil)
			for k, v := range tt.reqHeader {
				r.Header[k] = v
			}
			x := &plugin.Exchange{RequestID: "rid-1", Route: "chat", Consumer: "alice", ClientIP: netip.MustParseAddr("203.0.113.9")}
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r); err != nil {
				t.Fatal(err)
			}
			if tt.wantUp == nil {
				tt.wantUp = hdr{}
			}
			if diff := cmp.Diff(tt.wantUp, hdr(up)); diff != "" {
				t.Errorf("upstream headers (-want +got):\n%s", diff)
			}
			if tt.wantClient == nil {
				tt.wantClient = hdr{}
			}
			if diff := cmp.Diff(tt.wantClient, hdr(w.Result().Header)); diff != "" {
				t.Errorf("client headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemoteAddrFallback(t *testing.T) {
	t.Parallel()
	var got string
	h := build(t, `{"request":{"set":{"X-Real-IP":"$remote_addr","X-Host":"$host"}}}`, func(w http.ResponseWriter, r *http.Request) error {
		got = r.Header.Get("X-Real-Ip") + " " + r.Header.Get("X-Host")
		return nil
	})
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8::1]:5555"
	r.Host = "[::1]:80"
	if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
		t.Fatal(err)
	}
	if want := "2001:db8::1 [::1]"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestResponseOnError(t *testing.T) {
	t.Parallel()
	h := build(t, `{"response":{"set":{"X-A":"1"}}}`, func(w http.ResponseWriter, r *http.Request) error {
		return &plugin.Error{Status: 502, Code: "bad_gateway", Public: "upstream failed"}
	})
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err == nil {
		t.Fatal("want the error passed through")
	}
	if got := w.Header().Get("X-A"); got != "1" {
		t.Errorf("X-A = %q; want 1", got)
	}
}

// TestStreaming checks that Flush reaches the client and that headers are
// applied before the first flushed byte, over a real connection.
func TestStreaming(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	h := build(t, `{"response":{"set":{"X-A":"1"}}}`, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		if _, err := w.Write([]byte("data: 1\n\n")); err != nil {
			return err
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		<-release
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(release)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("X-A"); got != "1" {
		t.Errorf("X-A = %q; want 1", got)
	}
	buf := make([]byte, 9)
	if _, err := resp.Body.Read(buf); err != nil || string(buf) != "data: 1\n\n" {
		t.Errorf("first chunk = %q, %v; want it before the handler returns", buf, err)
	}
}

func TestFlushRecorder(t *testing.T) {
	t.Parallel()
	h := build(t, `{"response":{"set":{"X-A":"1"}}}`, func(w http.ResponseWriter, r *http.Request) error {
		w.(http.Flusher).Flush()
		return nil
	})
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if !w.Flushed || w.Result().Header.Get("X-A") != "1" {
		t.Errorf("Flushed = %v, X-A = %q; want true, 1", w.Flushed, w.Result().Header.Get("X-A"))
	}
}

func BenchmarkHeaders(b *testing.B) {
	for _, bc := range []struct{ name, cfg string }{
		{"request-const", `{"request":{"set":{"X-A":"1","X-B":"2"},"remove":["Cookie"]}}`},
		{"request-vars", `{"request":{"set":{"X-Real-IP":"$remote_addr","X-Id":"$request_id"}}}`},
		{"response-const", `{"response":{"set":{"Server":"sluice"},"remove":["X-Powered-By"]}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := build(b, bc.cfg, func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(200)
				return nil
			})
			r := httptest.NewRequest("GET", "/", nil)
			x := &plugin.Exchange{RequestID: "0123456789", ClientIP: netip.MustParseAddr("203.0.113.9")}
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				_ = h.ServeHTTP(w, r)
			}
		})
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}
