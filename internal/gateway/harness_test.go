package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/metrics"
	"github.com/sluicegw/sluice/plugin"
)

// harness is a gateway started from a YAML string on loopback port 0.
type harness struct {
	t       *testing.T
	gw      *Gateway
	srv     *Server
	metrics *metrics.Metrics
	url     string // proxy listener base URL
	status  string // status listener base URL
	logs    *syncBuffer
}

// testKinds are plugins only tests use.
var testKinds = []plugin.Kind{
	plugin.Define("test-panic", plugin.Transform, func() *noConfig { return &noConfig{} },
		func(plugin.Env, *noConfig) (plugin.Middleware, error) {
			return func(next plugin.Handler) plugin.Handler {
				return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					if r.URL.Query().Has("panic") {
						panic("boom")
					}
					return next.ServeHTTP(w, r)
				})
			}, nil
		}),
	plugin.Define("test-stamp", plugin.Transform, func() *noConfig { return &noConfig{} },
		func(plugin.Env, *noConfig) (plugin.Middleware, error) {
			return func(next plugin.Handler) plugin.Handler {
				return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					// As request-id does; the route shows the exchange is there.
					w.Header()["X-Stamp"] = []string{"gateway:" + plugin.ExchangeOf(r).Route}
					return next.ServeHTTP(w, r)
				})
			}, nil
		}),
	plugin.Define("test-deny", plugin.Authz, func() *noConfig { return &noConfig{} },
		func(plugin.Env, *noConfig) (plugin.Middleware, error) {
			return func(next plugin.Handler) plugin.Handler {
				return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					return &plugin.Error{Status: http.StatusForbidden, Code: "forbidden", Public: "denied by test"}
				})
			}, nil
		}),
}

type noConfig struct{}

func (*noConfig) Validate() error { return nil }

// loadConfig parses and validates y, failing the test on any problem.
func loadConfig(t testing.TB, y string, kinds []plugin.Kind) *config.Config {
	t.Helper()
	km := make(map[string]plugin.Kind)
	for _, k := range kinds {
		km[k.Name] = k
	}
	doc, ps := config.Check("test.yaml", []byte(y), func(string) (string, bool) { return "", false }, km, CheckRoutes)
	if len(ps) > 0 {
		t.Fatalf("config problems:\n%s", doc.FormatAll(ps))
	}
	return doc.Config
}

// start runs a gateway from y. "UPSTREAM" and friends in y must already be
// replaced by the caller. The listener and status addrs are forced to port 0.
func start(t *testing.T, y string) *harness {
	t.Helper()
	kinds := testKinds
	cfg := loadConfig(t, y, kinds)
	for i := range cfg.Listeners {
		cfg.Listeners[i].Addr = "127.0.0.1:0"
	}
	if len(cfg.Listeners) == 0 {
		t.Fatal("config has no listener")
	}
	cfg.Status.Addr = "127.0.0.1:0"
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := metrics.New()
	gw, err := New(Options{Kinds: kinds, Logger: log, AccessLog: log, Metrics: m,
		Drain: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if ps := gw.Apply(cfg); len(ps) > 0 {
		t.Fatalf("apply: %v", ps)
	}
	srv, err := Listen(cfg, gw, m, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	h := &harness{t: t, gw: gw, srv: srv, metrics: m, logs: logs,
		url:    "http://" + srv.Addrs()[0].String(),
		status: "http://" + srv.StatusAddr().String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		gw.Close(ctx)
		<-done
	})
	return h
}

// apply reloads the harness's gateway with y.
func (h *harness) apply(y string) {
	h.t.Helper()
	cfg := loadConfig(h.t, y, testKinds)
	if ps := h.gw.Apply(cfg); len(ps) > 0 {
		h.t.Fatalf("apply: %v", ps)
	}
}

func (h *harness) get(path string) (*http.Response, string) {
	h.t.Helper()
	resp, err := http.Get(h.url + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp, string(b)
}

// metric returns the text of the /metrics line starting with prefix.
func (h *harness) metric(prefix string) string {
	h.t.Helper()
	resp, err := http.Get(h.status + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// upstreamServer starts an httptest server and returns its URL.
func upstreamServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// simple is a config with one route "/*" to upstream targets.
func simple(extra string, targets ...string) string {
	var b strings.Builder
	b.WriteString("listeners: [{addr: 127.0.0.1:0}]\nupstreams:\n  - name: up\n    targets:\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "      - {url: %s}\n", t)
	}
	b.WriteString(extra)
	b.WriteString("routes:\n  - name: all\n    match: {paths: [\"/*\"]}\n    upstream: up\n")
	return b.String()
}

// waitFor polls cond until it is true or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
