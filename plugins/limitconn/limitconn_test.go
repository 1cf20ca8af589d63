package limitconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/internal/redistest"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/limit"
	"github.com/sluicegw/sluice/plugins/internal/limit/limittest"
)

var base = time.Unix(1_800_000_000, 0)

// testTimeout is the Redis timeout of the tests: generous, because they
// check counting, not latency, and a loaded machine must not turn slow
// dials into fallback decisions.
const testTimeout = 10 * time.Second

func kindWith(o limit.Options, sleep func(context.Context, time.Duration) error) plugin.Kind {
	return plugin.Define(name, plugin.Limit, defaults, func(env plugin.Env, c *Config) (plugin.Middleware, error) {
		return build(env, c, o, sleep)
	})
}

func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func handler(t testing.TB, kind plugin.Kind, env plugin.Env, cfg string, next plugin.Handler) plugin.Handler {
	t.Helper()
	return plugintest.Route(plugin.AuthnPolicy{}, next, plugintest.Use(t, kind, env, cfg))
}

func get(h plugin.Handler, ip string) plugintest.Result {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = ip + ":40000"
	return plugintest.Serve(h, r)
}

// gate is an upstream that holds each request until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 100), release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	g.entered <- struct{}{}
	<-g.release
	_, err := w.Write([]byte("ok"))
	return err
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"minimal", `{"conn":10}`, ""},
		{"full", `{"conn":5,"burst":5,"default_conn_delay":0.5,"lease_ttl":"1m","key":"consumer","policy":"redis",
			"on_redis_error":"local","rejected_code":503,"rejected_msg":"busy"}`, ""},
		{"no conn", `{}`, "conn: must be from 1 to 1000000000, got 0"},
		{"every problem", `{"conn":0,"burst":-1,"default_conn_delay":"2h","lease_ttl":"1s","key":"header:","policy":"",
			"on_redis_error":"","rejected_code":0,"rejected_msg":""}`,
			"conn: must be from 1 to 1000000000, got 0\n" +
				"burst: must be from 0 to 1000000000, got -1\n" +
				"default_conn_delay: 2h0m0s is out of range: must be from 0s to 1m0s\n" +
				"lease_ttl: 1s is out of range: must be from 3s to 24h0m0s\n" +
				"key: \"header:\" needs a header name after the prefix\n" +
				"policy: \"\" is not local or redis\n" +
				"on_redis_error: \"\" is not allow, deny or local\n" +
				"rejected_code: 0 is not an HTTP status from 200 to 599\n" +
				"rejected_msg: must be 1 to 1024 bytes, got 0"},
		{"bad delay", `{"conn":1,"default_conn_delay":"soon"}`,
			`default_conn_delay: "soon" is not a duration (write it like 60s, 1m, 1.5h, or a number of seconds)`},
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

func TestLimitConn(t *testing.T) {
	t.Parallel()
	store := limit.NewLocal()
	var mu sync.Mutex
	var delays []time.Duration
	record := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		delays = append(delays, d)
		mu.Unlock()
		return nil
	}
	g := newGate()
	hs := limittest.New(t, "api")
	h := handler(t, kindWith(limit.Options{Local: store}, record), hs.Env, `{"conn":2,"burst":1,"default_conn_delay":"250ms"}`, g)

	results := make(chan plugintest.Result, 3)
	for range 3 { // two in flight, the third delayed then in flight
		go func() { results <- get(h, "192.0.2.1") }()
		<-g.entered
	}
	res := get(h, "192.0.2.1")
	if res.Code != 429 {
		t.Fatalf("fourth request: status %d; want 429", res.Code)
	}
	for k, v := range map[string]string{
		"Retry-After":      "1",
		"RateLimit-Policy": `"limit-conn";q=2;qu="concurrent-requests"`,
		"RateLimit":        `"limit-conn";r=0`,
	} {
		if got := res.Header().Get(k); got != v {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
	close(g.release)
	for range 3 {
		if r := <-results; r.Code != 200 {
			t.Errorf("in-flight request: status %d", r.Code)
		}
	}
	if diff := cmp.Diff([]time.Duration{250 * time.Millisecond}, delays); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	if n := store.Len(); n != 0 {
		t.Errorf("%d keys in the store after every request ended; want 0 (slots leaked)", n)
	}
	if got := get(h, "192.0.2.1").Code; got != 200 {
		t.Errorf("after release: status %d; want 200", got)
	}
	want := map[string]int64{"allowed": 3, "delayed": 1, "rejected": 1}
	if diff := cmp.Diff(want, hs.Counts()); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

// TestHeldUntilBodyDone streams a response in chunks: the slot is held
// until the whole body has been written, not when the headers go out.
func TestHeldUntilBodyDone(t *testing.T) {
	t.Parallel()
	chunk, finish := make(chan struct{}), make(chan struct{})
	stream := plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.Write([]byte("data: 1\n\n"))
		http.NewResponseController(w).Flush()
		chunk <- struct{}{}
		<-finish
		w.Write([]byte("data: [DONE]\n\n"))
		return nil
	})
	store := limit.NewLocal()
	h := handler(t, kindWith(limit.Options{Local: store}, noSleep), limittest.New(t, "sse").Env, `{"conn":1}`, stream)
	done := make(chan plugintest.Result)
	go func() { done <- get(h, "192.0.2.1") }()
	<-chunk // headers and a first event are out
	if got := get(h, "192.0.2.1").Code; got != 429 {
		t.Fatalf("second stream while the first is still sending: status %d; want 429", got)
	}
	close(finish)
	if r := <-done; r.Body.String() != "data: 1\n\ndata: [DONE]\n\n" {
		t.Fatalf("stream body %q", r.Body.String())
	}
	if n := store.Len(); n != 0 {
		t.Fatalf("slot still held after the stream ended")
	}
}

// TestReleasedOnCancelAndPanic: a delayed request whose client leaves, and
// an upstream that aborts the response, both give their slot back.
func TestReleasedOnCancelAndPanic(t *testing.T) {
	t.Parallel()
	store := limit.NewLocal()
	g := newGate()
	hold := handler(t, kindWith(limit.Options{Local: store}, limit.Sleep), limittest.New(t, "c").Env,
		`{"conn":1,"burst":1,"default_conn_delay":"1m"}`, g)
	go get(hold, "192.0.2.1")
	<-g.entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	r.RemoteAddr = "192.0.2.1:1"
	if res := plugintest.Serve(hold, r); !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("cancelled delayed request: %v; want context.Canceled", res.Err)
	}
	close(g.release)
	deadline := time.Now().Add(10 * time.Second)
	for store.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("slots still held after both requests ended")
		}
		time.Sleep(time.Millisecond)
	}

	abort := plugin.HandlerFunc(func(http.ResponseWriter, *http.Request) error { panic(http.ErrAbortHandler) })
	h := handler(t, kindWith(limit.Options{Local: store}, noSleep), limittest.New(t, "p").Env, `{"conn":1}`, abort)
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Fatalf("recovered %v", p)
			}
		}()
		get(h, "192.0.2.1")
	}()
	if n := store.Len(); n != 0 {
		t.Fatalf("slot still held after the upstream aborted")
	}
}

func redisEnv(t testing.TB, srv *redistest.Server, route string, poolSize int) *limittest.Harness {
	hs := limittest.New(t, route)
	hs.Env.Redis = &plugin.RedisConfig{Addrs: []string{srv.Addr()}, PoolSize: poolSize, Timeout: testTimeout}
	return hs
}

// TestMaxAcrossGateways: three instances on one Redis (own clients each),
// 150 goroutines: the upstream never sees more than conn requests of the
// key at once, and every lease is gone at the end.
func TestMaxAcrossGateways(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const conn, total, workers = 5, 600, 150
	var inFlight, peak, reached atomic.Int64
	upstream := plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		reached.Add(1)
		time.Sleep(time.Millisecond) // overlap with other requests
		inFlight.Add(-1)
		return nil
	})
	cfg := fmt.Sprintf(`{"conn":%d,"key":"route","policy":"redis","on_redis_error":"deny"}`, conn)
	var gateways []plugin.Handler
	for i := range 3 {
		gateways = append(gateways, handler(t, Kind, redisEnv(t, srv, "max", 30+i).Env, cfg, upstream))
	}
	var next, ok, limited atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				switch res := get(gateways[w%3], "198.51.100.1"); res.Code {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d: %v", res.Code, res.Err)
				}
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > conn || p < 1 {
		t.Fatalf("peak in flight %d; want 1 to %d", p, conn)
	}
	if ok.Load()+limited.Load() != total || ok.Load() != reached.Load() {
		t.Fatalf("allowed %d, rejected %d, reached upstream %d", ok.Load(), limited.Load(), reached.Load())
	}
	key := limit.RedisKey(name, "route.max:route=test")
	if n, err := srv.Client().ZCard(context.Background(), key).Result(); err != nil || n != 0 {
		t.Fatalf("ZCARD %s = %d, %v after every request ended; want 0", key, n, err)
	}
}

// TestLongStreamKeepsLease: a request running longer than lease_ttl keeps
// its slot, because its lease is renewed; another gateway is refused.
func TestLongStreamKeepsLease(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clock := limittest.NewClock(base)
	o := limit.Options{Now: clock.Now}
	g := newGate()
	cfg := `{"conn":1,"key":"route","lease_ttl":"3s","policy":"redis","on_redis_error":"deny"}`
	a := handler(t, kindWith(o, noSleep), redisEnv(t, srv, "long", 40).Env, cfg, g)
	b := handler(t, kindWith(o, noSleep), redisEnv(t, srv, "long", 41).Env, cfg, nil)
	done := make(chan plugintest.Result)
	go func() { done <- get(a, "192.0.2.1") }()
	<-g.entered
	key := limit.RedisKey(name, "route.long:route=test")
	rdb := srv.Client()
	ctx := context.Background()
	first, _ := rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	if len(first) != 1 {
		t.Fatalf("leases %v; want one", first)
	}
	// Move the (fake) clock past the TTL, then wait for the renewal, which
	// runs every TTL/3 of real time and stamps the fake now.
	clock.Advance(10 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := rdb.ZScore(ctx, key, first[0].Member.(string)).Result()
		if err == nil && s > first[0].Score {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lease not renewed within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := get(b, "192.0.2.1").Code; got != 429 {
		t.Fatalf("other gateway while the long request runs: status %d; want 429", got)
	}
	close(g.release)
	if r := <-done; r.Code != 200 {
		t.Fatalf("long request: status %d", r.Code)
	}
	if got := get(b, "192.0.2.1").Code; got != 200 {
		t.Fatalf("other gateway after the long request: status %d; want 200", got)
	}
}

// TestRedisDownLocal: with on_redis_error local, a dead Redis leaves the
// limit enforced in the process, and slots taken there go back there.
func TestRedisDownLocal(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	store := limit.NewLocal()
	g := newGate()
	hs := redisEnv(t, srv, "down", 2)
	h := handler(t, kindWith(limit.Options{Local: store}, noSleep), hs.Env, `{"conn":1,"policy":"redis","on_redis_error":"local"}`, g)
	srv.Kill()
	done := make(chan plugintest.Result)
	go func() { done <- get(h, "192.0.2.1") }()
	<-g.entered
	if got := get(h, "192.0.2.1").Code; got != 429 {
		t.Fatalf("second request with Redis down: status %d; want 429", got)
	}
	close(g.release)
	<-done
	if n := store.Len(); n != 0 {
		t.Fatalf("local slot still held")
	}
	if got := hs.Count("fallback"); got != 2 {
		t.Fatalf("fallback = %d; want 2", got)
	}
}
