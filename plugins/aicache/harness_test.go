package aicache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/ai/aitest"
	"github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/plugin"
)

// upstream is what the tests need of aitest's fakes.
type upstream interface {
	URL() string
	Requests() []aitest.Request
	Enqueue(faults ...aitest.Fault)
	SetReply(r aitest.Reply)
	Step() *aitest.Gate
}

// rig is an httptest server running an ai route with ai-cache in front of
// it, the way the gateway chains them: h.Wrap(plugin.Chain(uses, h)), an
// Exchange per request, plugin errors rendered in the client's API only
// when nothing was written.
type rig struct {
	*httptest.Server
	up    upstream
	ca    *cache
	dec   *decisions
	h     *route.Handler
	chain plugin.Handler
	route string
	xs    chan *plugin.Exchange
}

type rigConfig struct {
	cache     string // the ai-cache config, JSON
	opt       options
	redis     *plugin.RedisConfig
	logger    *slog.Logger
	up        upstream // share a fake between rigs; nil starts an OpenAI one
	anthropic bool     // start an Anthropic fake instead
	route     string   // route name; default: the test's name (memory stores are per route)
}

func newRig(t *testing.T, rc rigConfig) *rig {
	t.Helper()
	if rc.up == nil {
		if rc.anthropic {
			rc.up = aitest.NewAnthropic(t)
		} else {
			rc.up = aitest.NewOpenAI(t)
		}
	}
	if rc.route == "" {
		rc.route = t.Name()
	}
	p := route.Provider{Name: "up", Type: route.TypeOpenAI, BaseURL: rc.up.URL() + "/v1", APIKeys: []string{"sk-up"}}
	if _, ok := rc.up.(*aitest.Anthropic); ok {
		p = route.Provider{Name: "up", Type: route.TypeAnthropic, BaseURL: rc.up.URL(), APIKeys: []string{"sk-up"}}
	}
	h, err := route.New(route.Config{
		Providers: []route.Provider{p},
		Models: []route.Model{
			{Name: "smart", Targets: []route.Target{{Provider: "up", Model: "gpt-up"}}},
			{Name: "fast", Targets: []route.Target{{Provider: "up", Model: "gpt-up-mini"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rg := &rig{up: rc.up, dec: &decisions{}, h: h, route: rc.route, xs: make(chan *plugin.Exchange, 64)}
	env := plugin.Env{Route: rc.route, AIRoute: true, Logger: rc.logger, Redis: rc.redis, Decisions: rg.dec.counter}
	var closers []func() error
	env.OnClose = func(f func() error) { closers = append(closers, f) }
	t.Cleanup(func() {
		for _, f := range closers {
			f()
		}
	})
	rg.ca = mustBuild(t, env, rc.cache, rc.opt)
	rg.chain = h.Wrap(plugin.Chain([]plugin.Use{{Kind: Kind, MW: rg.ca.middleware}}, h))
	rg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := rg.exchange(r)
		r = r.WithContext(plugin.WithExchange(r.Context(), x))
		tw := &tracker{ResponseWriter: w}
		err := rg.chain.ServeHTTP(tw, r)
		var pe *plugin.Error
		if errors.As(err, &pe) && !tw.wrote {
			h.WriteError(w, r, pe, x.RequestID)
		}
		rg.xs <- x
	}))
	t.Cleanup(rg.Close)
	return rg
}

// exchange is the Exchange the gateway would make; the consumer comes
// from the X-Test-Consumer header, as if an Authn plugin had set it.
func (rg *rig) exchange(r *http.Request) *plugin.Exchange {
	return &plugin.Exchange{RequestID: "req-test", Route: rg.route, Start: time.Now(), Consumer: r.Header.Get("X-Test-Consumer")}
}

// mustBuild decodes and validates config as the Kind does, then builds
// with test options.
func mustBuild(t testing.TB, env plugin.Env, config string, opt options) *cache {
	t.Helper()
	c := defaults()
	if err := plugin.DecodeStrict(json.RawMessage(config), c); err != nil {
		t.Fatalf("decode %s: %v", config, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate %s: %v", config, err)
	}
	ca, err := build(env, c, opt)
	if err != nil {
		t.Fatalf("build %s: %v", config, err)
	}
	return ca
}

// reply is one answer the rig's client got.
type reply struct {
	resp *http.Response
	body []byte
	x    *plugin.Exchange
}

func (r reply) cache() string { return r.resp.Header.Get(HeaderCache) }

// do sends one request and reads the whole answer. hdr holds header
// name/value pairs.
func (rg *rig) do(t *testing.T, path, body string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rg.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if strings.HasSuffix(path, "/messages") {
		req.Header.Set("Anthropic-Version", "2023-06-01")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp: resp, body: b, x: rg.done(t)}
}

// done returns the Exchange of the next request the server finished.
func (rg *rig) done(t *testing.T) *plugin.Exchange {
	t.Helper()
	select {
	case x := <-rg.xs:
		return x
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not finish the request")
		return nil
	}
}

func (rg *rig) upstreamCalls() int { return len(rg.up.Requests()) }

// waitStored waits until the cache has stored n entries in all (Redis
// stores run in the background).
func (rg *rig) waitStored(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for rg.dec.get("stored") < n {
		if time.Now().After(deadline) {
			t.Fatalf("stored = %d after 10s; want %d", rg.dec.get("stored"), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tracker notes whether anything was written, as the gateway does.
type tracker struct {
	http.ResponseWriter
	wrote bool
}

func (w *tracker) WriteHeader(code int) { w.wrote = true; w.ResponseWriter.WriteHeader(code) }

func (w *tracker) Write(b []byte) (int, error) { w.wrote = true; return w.ResponseWriter.Write(b) }

func (w *tracker) Flush() { w.wrote = true; http.NewResponseController(w.ResponseWriter).Flush() }

func (w *tracker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// decisions counts env.Decision outcomes.
type decisions struct {
	mu sync.Mutex
	m  map[string]*counter
}

type counter struct{ atomic.Int64 }

func (c *counter) Inc() { c.Add(1) }

func (d *decisions) counter(name string) plugin.Counter { return d.c(name) }

func (d *decisions) c(name string) *counter {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]*counter{}
	}
	if d.m[name] == nil {
		d.m[name] = &counter{}
	}
	return d.m[name]
}

func (d *decisions) get(name string) int64 { return d.c(name).Load() }

// logs counts log records by level.
type logs struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

func (l *logs) count(level slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level == level {
			n++
		}
	}
	return n
}

// sseEvents splits an SSE body into its events.
func sseEvents(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\n\n"))
		if i < 0 {
			return append(out, b)
		}
		out = append(out, b[:i+2])
		b = b[i+2:]
	}
	return out
}
