package requestid

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
)

var (
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	hexRE  = regexp.MustCompile(`^[0-9a-f]{32}$`)
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
		name, cfg, want string // want "" means valid
	}{
		{"empty", ``, ""},
		{"null", `null`, ""},
		{"all keys", `{"header_name":"X-Trace","include_in_response":false,"algorithm":"hex","trust_incoming":false}`, ""},
		{"bad header", `{"header_name":"X Trace"}`, `header_name: "X Trace" is not a valid header name`},
		{"empty header", `{"header_name":""}`, `header_name: "" is not a valid header name`},
		{"bad algorithm", `{"algorithm":"nanoid"}`, `algorithm: "nanoid" is not one of uuid, hex`},
		{"both", `{"header_name":"a:b","algorithm":"x"}`, "header_name: \"a:b\" is not a valid header name\nalgorithm: \"x\" is not one of uuid, hex"},
		{"unknown key", `{"header":"x"}`, `json: unknown field "header"`},
		{"wrong type", `{"include_in_response":"yes"}`, `include_in_response: expected bool, got string`},
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
				t.Errorf("Check(%s) = %q; want %q", tt.cfg, got, tt.want)
			}
		})
	}
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 129)
	tests := []struct {
		name     string
		cfg      string
		incoming []string // X-Request-Id values sent
		preset   string   // Exchange.RequestID before the plugin
		wantID   string   // exact ID, or "uuid"/"hex" for a generated one
		wantResp bool
	}{
		{"generate uuid", ``, nil, "", "uuid", true},
		{"generate hex", `{"algorithm":"hex"}`, nil, "", "hex", true},
		{"keep incoming", ``, []string{"abc-123"}, "", "abc-123", true},
		{"first of several", ``, []string{"one", "two"}, "", "one", true},
		{"distrust incoming", `{"trust_incoming":false}`, []string{"abc-123"}, "", "uuid", true},
		{"invalid incoming space", ``, []string{"a b"}, "", "uuid", true},
		{"invalid incoming control", ``, []string{"a\tb"}, "", "uuid", true},
		{"invalid incoming non-ascii", ``, []string{"é"}, "", "uuid", true},
		{"invalid incoming too long", ``, []string{long}, "", "uuid", true},
		{"max length kept", ``, []string{long[:128]}, "", long[:128], true},
		{"gateway id reused", ``, nil, "gw-1", "gw-1", true},
		{"no response header", `{"include_in_response":false}`, nil, "", "uuid", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seenHeader, seenX string
			h := build(t, tt.cfg, func(w http.ResponseWriter, r *http.Request) error {
				seenHeader = strings.Join(r.Header.Values("X-Request-Id"), ",")
				seenX = plugin.ExchangeOf(r).RequestID
				return nil
			})
			r := httptest.NewRequest("GET", "/", nil)
			for _, v := range tt.incoming {
				r.Header.Add("X-Request-Id", v)
			}
			x := &plugin.Exchange{RequestID: tt.preset}
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r); err != nil {
				t.Fatal(err)
			}
			switch tt.wantID {
			case "uuid":
				if !uuidRE.MatchString(x.RequestID) {
					t.Errorf("RequestID = %q; want a v4 UUID", x.RequestID)
				}
			case "hex":
				if !hexRE.MatchString(x.RequestID) {
					t.Errorf("RequestID = %q; want 32 hex digits", x.RequestID)
				}
			default:
				if x.RequestID != tt.wantID {
					t.Errorf("RequestID = %q; want %q", x.RequestID, tt.wantID)
				}
			}
			if seenX != x.RequestID || seenHeader != x.RequestID {
				t.Errorf("upstream saw header %q, exchange %q; want %q", seenHeader, seenX, x.RequestID)
			}
			got := w.Result().Header.Values("X-Request-Id")
			var want []string
			if tt.wantResp {
				want = []string{x.RequestID}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("response X-Request-Id (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOnError checks the response header is there when the chain fails.
func TestOnError(t *testing.T) {
	t.Parallel()
	h := build(t, `{"header_name":"x-trace-id"}`, func(w http.ResponseWriter, r *http.Request) error {
		return &plugin.Error{Status: 401, Code: "unauthorized", Public: "no"}
	})
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	if err := h.ServeHTTP(w, r); err == nil {
		t.Fatal("want the error passed through")
	}
	if got := w.Header().Get("X-Trace-Id"); !uuidRE.MatchString(got) {
		t.Errorf("X-Trace-Id = %q; want a UUID", got)
	}
}

func TestUnique(t *testing.T) {
	t.Parallel()
	for _, alg := range []struct {
		name string
		gen  func() string
		re   *regexp.Regexp
	}{{"uuid", newUUID, uuidRE}, {"hex", newHex, hexRE}} {
		t.Run(alg.name, func(t *testing.T) {
			t.Parallel()
			const n = 10000
			seen := make(map[string]bool, n)
			for range n {
				id := alg.gen()
				if !alg.re.MatchString(id) {
					t.Fatalf("%s() = %q; malformed", alg.name, id)
				}
				if seen[id] {
					t.Fatalf("%s() repeated %q", alg.name, id)
				}
				seen[id] = true
			}
		})
	}
}

func TestUniqueConcurrent(t *testing.T) {
	t.Parallel()
	const workers, per = 8, 2000
	ch := make(chan string, workers*per)
	for range workers {
		go func() {
			for range per {
				ch <- newUUID()
			}
		}()
	}
	seen := map[string]bool{}
	for range workers * per {
		id := <-ch
		if seen[id] {
			t.Fatalf("repeated %q", id)
		}
		seen[id] = true
	}
}

func BenchmarkRequestID(b *testing.B) {
	for _, bc := range []struct{ name, cfg, incoming string }{
		{"generate-uuid", ``, ""},
		{"generate-hex", `{"algorithm":"hex"}`, ""},
		{"keep-incoming", ``, "0123456789abcdef"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := build(b, bc.cfg, func(http.ResponseWriter, *http.Request) error { return nil })
			r := httptest.NewRequest("GET", "/", nil)
			x := &plugin.Exchange{}
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			w := &nopWriter{h: http.Header{}}
			incoming := []string{bc.incoming}
			b.ReportAllocs()
			for b.Loop() {
				x.RequestID = ""
				if bc.incoming != "" {
					r.Header["X-Request-Id"] = incoming
				} else {
					delete(r.Header, "X-Request-Id")
				}
				_ = h.ServeHTTP(w, r)
			}
		})
	}
}

func BenchmarkUUIDParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = newUUID()
		}
	})
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}
