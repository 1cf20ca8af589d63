package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/metrics"
)

// discardWriter is a minimal ResponseWriter so the benchmark measures the
// gateway, not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkProxyRequest measures one proxied GET through the edge handler
// (routing, exchange, metrics, proxy loop, upstream transport) against a real
// loopback upstream. allocs/op is the gateway's plus the HTTP client
// transport's; the upstream server runs in-process too, so ns/op includes it.
func BenchmarkProxyRequest(b *testing.B) {
	for _, bc := range []struct {
		name   string
		access bool
	}{{"bare", false}, {"access_log", true}} {
		b.Run(bc.name, func(b *testing.B) {
			up := upstreamServer(&testing.T{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte("{}"))
			}))
			defer up.Close()
			cfg := loadConfig(b, simple("", up.URL), testKinds)
			m := metrics.New()
			opts := Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: m}
			if bc.access {
				opts.AccessLog = slog.New(slog.NewJSONHandler(io.Discard, nil))
			}
			gw, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			if ps := gw.Apply(cfg); len(ps) > 0 {
				b.Fatal(ps)
			}
			defer gw.Close(b.Context())
			h := gw.Handler(0, 60*time.Second) // the default body_idle_timeout
			req, _ := http.NewRequest("GET", "http://bench.local/users/42?x=1", nil)
			req.RemoteAddr = "127.0.0.1:5555"
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := req.Clone(req.Context())
				r.RequestURI = r.URL.RequestURI()
				w := &discardWriter{h: make(http.Header, 4)}
				h.ServeHTTP(w, r)
			}
		})
	}
}
