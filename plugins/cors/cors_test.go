package cors

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
)

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
	tests := []struct {
		name, cfg, want string
	}{
		{"defaults", ``, ""},
		{"full", `{"allow_origins":["https://a.example.org","http://b.example.org:8080"],"allow_methods":["GET","POST"],"allow_headers":["Authorization"],"expose_headers":["X-Total"],"max_age":600,"allow_credential":true}`, ""},
		{"comma strings", `{"allow_origins":"https://a.example.org,https://b.example.org","allow_methods":"GET,POST"}`, ""},
		{"regex only", `{"allow_origins_by_regex":["https://.*\\.example\\.org"]}`, ""},
		{"double star with credentials", `{"allow_origins":"**","allow_methods":"**","allow_headers":"**","allow_credential":true}`, ""},
		{"max_age -1", `{"max_age":-1}`, ""},
		{"ipv6 origin", `{"allow_origins":["http://[::1]:3000"]}`, ""},
		{"bad origin scheme", `{"allow_origins":["https://ok.example.org","http://ok2.example.org","htp://x"]}`,
			`allow_origins[2]: "htp://x" is not a valid origin (want scheme://host[:port], scheme http or https)`},
		{"origin with path", `{"allow_origins":["https://a.example.org/app"]}`,
			`allow_origins[0]: "https://a.example.org/app" is not a valid origin (want scheme://host[:port], scheme http or https)`},
		{"origin no host", `{"allow_origins":["https://"]}`,
			`allow_origins[0]: "https://" is not a valid origin (want scheme://host[:port], scheme http or https)`},
		{"origin bad port", `{"allow_origins":["https://a:99999"]}`,
			`allow_origins[0]: "https://a:99999" is not a valid origin (want scheme://host[:port], scheme http or https)`},
		{"star not alone", `{"allow_origins":["*","https://a.example.org"]}`, `allow_origins[0]: "*" must be the only entry`},
		{"bad regex", `{"allow_origins_by_regex":["(["]}`, "allow_origins_by_regex[0]: error parsing regexp: missing closing ]: `[`"},
		{"bad method", `{"allow_methods":["GET","P OST"]}`, `allow_methods[1]: "P OST" is not a valid token`},
		{"bad header", `{"allow_headers":["X-Ok",""]}`, `allow_headers[1]: "" is not a valid token`},
		{"double star expose", `{"expose_headers":["**"]}`, `expose_headers[0]: "**" is not supported here`},
		{"max_age", `{"max_age":-2}`, `max_age: -2 must be -1 (no caching) or more`},
		{"credentials with defaults", `{"allow_credential":true}`,
			"allow_origins: \"*\" is not allowed when allow_credential is true; list the values (or use \"**\" where supported)\n" +
				"allow_methods: \"*\" is not allowed when allow_credential is true; list the values (or use \"**\" where supported)\n" +
				"allow_headers: \"*\" is not allowed when allow_credential is true; list the values (or use \"**\" where supported)"},
		{"credentials with star expose", `{"allow_origins":"https://a.example.org","allow_methods":"GET","allow_headers":"X","expose_headers":"*","allow_credential":true}`,
			`expose_headers: "*" is not allowed when allow_credential is true; list the values (or use "**" where supported)`},
		{"unknown key", `{"timing_allow_origins":"*"}`, `json: unknown field "timing_allow_origins"`},
		{"wrong list type", `{"allow_origins":5}`, `allow_origins: expected []string, got number`},
		{"wrong max_age", `{"max_age":"5"}`, `max_age: expected int, got string`},
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

const listed = `{"allow_origins":["https://App.Example.org:443","http://localhost:3000"],"allow_methods":"GET,POST","allow_headers":"Authorization,Content-Type","expose_headers":"X-Total","max_age":600,"allow_credential":true}`

func TestBehaviour(t *testing.T) {
	t.Parallel()
	type hdr = map[string][]string
	tests := []struct {
		name       string
		cfg        string
		method     string
		reqHeader  hdr
		upstream   hdr // headers the upstream sets before writing
		wantStatus int
		wantNext   bool
		wantHeader hdr // CORS headers and Vary on the response
	}{
		{
			name: "default star", cfg: ``, method: "GET",
			reqHeader:  hdr{"Origin": {"https://any.example.org"}},
			wantStatus: 200, wantNext: true,
			wantHeader: hdr{"Access-Control-Allow-Origin": {"*"}},
		},
		{
			name: "no origin", cfg: listed, method: "GET",
			wantStatus: 200, wantNext: true,
			wantHeader: hdr{"Vary": {"Origin"}},
		},
		{
			name: "listed origin", cfg: listed, method: "GET",
			reqHeader:  hdr{"Origin": {"https://app.example.org"}},
			wantStatus: 200, wantNext: true,
			wantHeader: hdr{
				"Access-Control-Allow-Origin":      {"https://app.example.org"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Expose-Headers":    {"X-Total"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name: "disallowed origin", cfg: listed, method: "GET",
			reqHeader:  hdr{"Origin": {"https://evil.example.com"}},
			wantStatus: 200, wantNext: true,
			wantHeader: hdr{"Vary": {"Origin"}},
		},
		{
			name: "upstream cors headers replaced", cfg: listed, method: "GET",
			reqHeader: hdr{"Origin": {"http://localhost:3000"}},
			upstream: hdr{
				"Access-Control-Allow-Origin":      {"*"},
				"Access-Control-Allow-Credentials": {"false"},
				"Vary":                             {"Accept-Encoding"},
			},
			wantStatus: 200, wantNext: true,
			wantHeader: hdr{
				"Access-Control-Allow-Origin":      {"http://localhost:3000"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Expose-Headers":    {"X-Total"},
				"Vary":                             {"Accept-Encoding", "Origin"},
			},
		},
		{
			name: "preflight allowed", cfg: listed, method: "OPTIONS",
			reqHeader: hdr{
				"Origin":                         {"https://app.example.org"},
				"Access-Control-Request-Method":  {"POST"},
				"Access-Control-Request-Headers": {"content-type"},
			},
			wantStatus: 204,
			wantHeader: hdr{
				"Access-Control-Allow-Origin":      {"https://app.example.org"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Methods":     {"GET,POST"},
				"Access-Control-Allow-Headers":     {"Authorization,Content-Type"},
				"Access-Control-Max-Age":           {"600"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name: "preflight disallowed", cfg: listed, method: "OPTIONS",
			reqHeader:  hdr{"Origin": {"https://evil.example.com"}, "Access-Control-Request-Method": {"POST"}},
			wantStatus: 204,
			wantHeader: hdr{"Vary": {"Origin"}},
		},
		{
			name: "preflight defaults", cfg: ``, method: "OPTIONS",
			reqHeader:  hdr{"Origin": {"https://a.example.org"}, "Access-Control-Request-Method": {"PUT"}},
			wantStatus: 204,
			wantHeader: hdr{
				"Access-Control-Allow-Origin":  {"*"},
				"Access-Control-Allow-Methods": {"*"},
				"Access-Control-Allow-Headers": {"*"},
				"Access-Control-Max-Age":       {"5"},
			},
		},
		{
			name: "plain options proxied", cfg: listed, method: "OPTIONS",
			reqHeader:  hdr{"Origin": {"https://app.example.org"}},
			wantStatus: 200, wantNext: true,
			wantHeader: hdr{
				"Access-Control-Allow-Origin":      {"https://app.example.org"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Expose-Headers":    {"X-Total"},
				"Vary":                             {"Origin"},
			},
		},
		{
			name: "regex match", cfg: `{"allow_origins_by_regex":["https://[a-z]+\\.example\\.org"]}`, method: "GET",
			reqHeader:  hdr{"Origin": {"https://shop.example.org"}},
			wantStatus: 200, wantNext: true,
			wantHeader: hdr{"Access-Control-Allow-Origin": {"https://shop.example.org"}, "Vary": {"Origin"}},
		},
		{
			name: "regex is anchored", cfg: `{"allow_origins_by_regex":["https://[a-z]+\\.example\\.org"]}`, method: "GET",
			reqHeader:  hdr{"Origin": {"https://shop.example.org.evil.com"}},
			wantStatus: 200, wantNext: true,
			wantHeader: hdr{"Vary": {"Origin"}},
		},
		{
			name: "echo everything", cfg: `{"allow_origins":"**","allow_methods":"**","allow_headers":"**","max_age":-1,"allow_credential":true}`, method: "OPTIONS",
			reqHeader: hdr{
				"Origin":                         {"https://x.example.net"},
				"Access-Control-Request-Method":  {"DELETE"},
				"Access-Control-Request-Headers": {"x-a,x-b"},
			},
			wantStatus: 204,
			wantHeader: hdr{
				"Access-Control-Allow-Origin":      {"https://x.example.net"},
				"Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Methods":     {allMethods},
				"Access-Control-Allow-Headers":     {"x-a,x-b"},
				"Access-Control-Max-Age":           {"0"},
				"Vary":                             {"Origin, Access-Control-Request-Headers"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			h := build(t, tt.cfg, func(w http.ResponseWriter, r *http.Request) error {
				called = true
				for k, v := range tt.upstream {
					for _, s := range v {
						w.Header().Add(k, s) // as httputil.ReverseProxy copies headers
					}
				}
				w.WriteHeader(200)
				return nil
			})
			r := httptest.NewRequest(tt.method, "/", nil)
			for k, v := range tt.reqHeader {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r); err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.wantStatus || called != tt.wantNext {
				t.Errorf("status %d, next called %v; want %d, %v", w.Code, called, tt.wantStatus, tt.wantNext)
			}
			if diff := cmp.Diff(tt.wantHeader, hdr(w.Result().Header)); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOnError checks CORS headers reach error responses, so browsers can
// read a 401 or 429 body.
func TestOnError(t *testing.T) {
	t.Parallel()
	h := build(t, listed, func(w http.ResponseWriter, r *http.Request) error {
		return &plugin.Error{Status: 401, Code: "unauthorized", Public: "no"}
	})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://app.example.org")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r); err == nil {
		t.Fatal("want the error passed through")
	}
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example.org" {
		t.Errorf("Access-Control-Allow-Origin = %q; want the origin", got)
	}
}

func TestFlush(t *testing.T) {
	t.Parallel()
	h := build(t, listed, func(w http.ResponseWriter, r *http.Request) error {
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		_, err := w.Write([]byte("data: 1\n\n"))
		return err
	})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://app.example.org")
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r); err != nil {
		t.Fatal(err)
	}
	if !w.Flushed {
		t.Error("Flush did not reach the underlying writer")
	}
	if got := w.Result().Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.org" {
		t.Errorf("Access-Control-Allow-Origin after flush = %q", got)
	}
}

func BenchmarkCORS(b *testing.B) {
	for _, bc := range []struct {
		name, method string
		hdr          map[string]string
	}{
		{"no-origin", "GET", nil},
		{"allowed", "GET", map[string]string{"Origin": "https://app.example.org"}},
		{"disallowed", "GET", map[string]string{"Origin": "https://evil.example.com"}},
		{"preflight", "OPTIONS", map[string]string{"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := build(b, listed, func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(200)
				return nil
			})
			r := httptest.NewRequest(bc.method, "/", nil)
			for k, v := range bc.hdr {
				r.Header.Set(k, v)
			}
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				_ = h.ServeHTTP(w, r)
			}
		})
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}
