package mocking

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
)

func build(t testing.TB, cfg string) plugin.Handler {
	t.Helper()
	mw, err := Kind.Build(plugin.Env{}, json.RawMessage(cfg))
	if err != nil {
		t.Fatalf("Build(%s) = %v", cfg, err)
	}
	return mw(plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		t.Error("mocking called next")
		return nil
	}))
}

func TestKind(t *testing.T) {
	t.Parallel()
	if !Kind.Terminal || Kind.Name != "mocking" || Kind.Phase != plugin.Transform {
		t.Errorf("Kind = %+v; want terminal mocking in transform", Kind)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"defaults", ``, ""},
		{"full", `{"response_status":201,"content_type":"text/plain","response_example":"hi {{.Method}}","response_headers":{"X-A":"1"},"delay":"10ms","with_mock_header":false}`, ""},
		{"delay seconds", `{"delay":1.5}`, ""},
		{"204 no body", `{"response_status":204}`, ""},
		{"bad status", `{"response_status":100}`, "response_status: 100 is not a final status (200 to 599)"},
		{"body on 204", `{"response_status":204,"response_example":"x"}`, "response_example: must be empty for status 204, which has no body"},
		{"parse error", `{"response_example":"{\n  \"a\": {{.Method}},\n  \"b\": {{.Path}\n}"}`, `response_example: line 3: bad character U+007D '}'`},
		{"unknown function", `{"response_example":"{{nope .Method}}"}`, `response_example: line 1: function "nope" not defined`},
		{"unknown field", `{"response_example":"line1\n{{.Nope}}"}`, `response_example: line 2: can't evaluate field Nope in type *mocking.data`},
		{"bad header", `{"response_headers":{"X A":"1","Content-Length":"3","X-B":"a\nb"}}`,
			"response_headers[\"Content-Length\"]: \"Content-Length\" is set by the gateway\n" +
				"response_headers[\"X A\"]: \"X A\" is not a valid header name\n" +
				`response_headers["X-B"]: value must not contain CR, LF or NUL`},
		{"bad delay", `{"delay":"5 seconds"}`, `delay: "5 seconds" is not a duration (use seconds, or a string like "250ms")`},
		{"negative delay", `{"delay":-1}`, `delay: -1s must not be negative`},
		{"delay wrong type", `{"delay":true}`, `delay: expected mocking.Duration, got non-number`},
		{"unknown key", `{"response_schema":{}}`, `json: unknown field "response_schema"`},
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
		name, cfg  string
		wantStatus int
		wantHeader map[string][]string
		wantBody   string
	}{
		{"defaults", ``, 200,
			map[string][]string{"Content-Type": {"application/json;charset=utf8"}, "Content-Length": {"0"}, "X-Mock-By": {"Sluice"}}, ""},
		{"fixed", `{"response_status":503,"content_type":"text/plain","response_example":"down","response_headers":{"retry-after":"5"},"with_mock_header":false}`, 503,
			map[string][]string{"Content-Type": {"text/plain"}, "Content-Length": {"4"}, "Retry-After": {"5"}}, "down"},
		{"template", `{"response_example":"{\"m\":\"{{.Method}}\",\"p\":\"{{.Path}}\",\"h\":\"{{.Host}}\",\"q\":\"{{.Query.Get \"q\"}}\",\"ua\":\"{{.Header \"User-Agent\"}}\",\"id\":\"{{.Param \"id\"}}\",\"rid\":\"{{.RequestID}}\",\"route\":\"{{.Route}}\",\"ip\":\"{{.RemoteAddr}}\"}"}`, 200,
			map[string][]string{"Content-Type": {"application/json;charset=utf8"}, "Content-Length": {"129"}, "X-Mock-By": {"Sluice"}},
			`{"m":"POST","p":"/users/7","h":"api.example.org","q":"go","ua":"test/1","id":"7","rid":"r-1","route":"users","ip":"198.51.100.7"}`},
		{"no content type", `{"content_type":"","response_example":"<b>","with_mock_header":false}`, 200,
			map[string][]string{"Content-Length": {"3"}, "Content-Type": nil}, "<b>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := build(t, tt.cfg)
			r := httptest.NewRequest("POST", "http://api.example.org/users/7?q=go", nil)
			r.Header.Set("User-Agent", "test/1")
			x := &plugin.Exchange{RequestID: "r-1", Route: "users", ClientIP: netip.MustParseAddr("198.51.100.7")}
			x.AddParam("id", "7")
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r); err != nil {
				t.Fatal(err)
			}
			res := w.Result()
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status = %d; want %d", res.StatusCode, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.wantHeader, map[string][]string(res.Header)); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q; want %q", got, tt.wantBody)
			}
		})
	}
}

func TestTemplateExecError(t *testing.T) {
	t.Parallel()
	h := build(t, `{"response_example":"{{index .Query.q 5}}"}`)
	w := httptest.NewRecorder()
	err := h.ServeHTTP(w, httptest.NewRequest("GET", "/?q=1", nil))
	var pe *plugin.Error
	if !errors.As(err, &pe) || pe.Status != 500 || pe.Code != "mock_template_failed" {
		t.Fatalf("err = %v; want a 500 mock_template_failed", err)
	}
	if w.Body.Len() != 0 {
		t.Errorf("body = %q; the plugin must not write on error", w.Body)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	h := build(t, `{"delay":"30ms"}`)
	start := time.Now()
	if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered after %v; want at least 30ms", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h = build(t, `{"delay":60}`)
	err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	var pe *plugin.Error
	if !errors.As(err, &pe) || pe.Status != 499 {
		t.Errorf("cancelled request: err = %v; want a 499", err)
	}
}

func BenchmarkMocking(b *testing.B) {
	for _, bc := range []struct{ name, cfg string }{
		{"fixed", `{"response_example":"{\"ok\":true}"}`},
		{"template", `{"response_example":"{\"path\":\"{{.Path}}\",\"id\":\"{{.RequestID}}\"}"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := build(b, bc.cfg)
			r := httptest.NewRequest("GET", "/x", nil)
			r = r.WithContext(plugin.WithExchange(r.Context(), &plugin.Exchange{RequestID: "r-1"}))
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
