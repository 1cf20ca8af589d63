package limitreq

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

// sleeps records the delays the plugin asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func kindWith(o limit.Options, sleep func(context.Context, time.Duration) error) plugin.Kind {
	return plugin.Define(name, plugin.Limit, defaults, func(env plugin.Env, c *Config) (plugin.Middleware, error) {
		return build(env, c, o, sleep)
	})
}

func handler(t testing.TB, kind plugin.Kind, env plugin.Env, cfg string, next plugin.Handler) plugin.Handler {
	t.Helper()
	return plugintest.Route(plugin.AuthnPolicy{}, next, plugintest.Use(t, kind, env, cfg))
}

func get(h plugin.Handler, ip string) plugintest.Result {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = ip + ":40000"
	return plugintest.Serve(h, r)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"minimal", `{"rate":10}`, ""},
		{"full", `{"rate":0.5,"burst":2.5,"nodelay":true,"key":["consumer","ip"],"policy":"redis","on_redis_error":"deny",
			"rejected_code":503,"rejected_msg":"slow down"}`, ""},
		{"no rate", `{}`, "rate: must be more than 0 and at most 1000000 requests per second, got 0"},
		{"every problem", `{"rate":-1,"burst":-2,"key":[],"policy":"x","on_redis_error":"y","rejected_code":600,"rejected_msg":""}`,
			"rate: must be more than 0 and at most 1000000 requests per second, got -1\n" +
				"burst: must be from 0 to 1000000, got -2\n" +
				"key: must name at least one part (ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME, cookie:NAME)\n" +
				"policy: \"x\" is not local or redis\n" +
				"on_redis_error: \"y\" is not allow, deny or local\n" +
				"rejected_code: 600 is not an HTTP status from 200 to 599\n" +
				"rejected_msg: must be 1 to 1024 bytes, got 0"},
		{"too fast", `{"rate":2000000}`, "rate: must be more than 0 and at most 1000000 requests per second, got 2e+06"},
		{"unknown key", `{"rate":1,"conn":1}`, `json: unknown field "conn"`},
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

func TestLimitReq(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       string
		statuses  []int
		delays    []time.Duration
		decisions map[string]int64
	}{
		{"delay within burst", `{"rate":2,"burst":2}`,
			[]int{200, 200, 200, 429}, []time.Duration{500 * time.Millisecond, time.Second},
			map[string]int64{"allowed": 1, "delayed": 2, "rejected": 1}},
		{"nodelay", `{"rate":2,"burst":2,"nodelay":true}`,
			[]int{200, 200, 200, 429}, nil,
			map[string]int64{"allowed": 3, "rejected": 1}},
		{"no burst", `{"rate":1,"rejected_code":503}`,
			[]int{200, 503, 503}, nil,
			map[string]int64{"allowed": 1, "rejected": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := limittest.NewClock(base)
			var s sleeps
			hs := limittest.New(t, "api")
			h := handler(t, kindWith(limit.Options{Now: clock.Now, Local: limit.NewLocal()}, s.sleep), hs.Env, tt.cfg, nil)
			var last plugintest.Result
			for i, want := range tt.statuses {
				last = get(h, "192.0.2.1")
				if last.Code != want {
					t.Fatalf("request %d: status %d; want %d", i, last.Code, want)
				}
			}
			if diff := cmp.Diff(tt.delays, s.d); diff != "" {
				t.Errorf("delays (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.decisions, hs.Counts()); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
			// Other clients have their own bucket.
			if got := get(h, "192.0.2.2").Code; got != 200 {
				t.Errorf("another client: status %d; want 200", got)
			}
		})
	}
}

func TestRejectedHeaders(t *testing.T) {
	t.Parallel()
	clock := limittest.NewClock(base)
	h := handler(t, kindWith(limit.Options{Now: clock.Now, Local: limit.NewLocal()}, (&sleeps{}).sleep),
		limittest.New(t, "api").Env, `{"rate":0.25,"burst":1}`, nil)
	get(h, "192.0.2.1")
	get(h, "192.0.2.1")
	clock.Advance(time.Second)
	res := get(h, "192.0.2.1")
	want := map[string]string{
		"Retry-After":      "3", // the bucket drains one request per 4s; 1s has passed
		"RateLimit-Policy": `"limit-req";q=1;w=4`,
		"RateLimit":        `"limit-req";r=0;t=3`,
	}
	if res.Code != 429 {
		t.Fatalf("status %d; want 429", res.Code)
	}
	for k, v := range want {
		if got := res.Header().Get(k); got != v {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
}

func TestPolicyOf(t *testing.T) {
	t.Parallel()
	for rate, want := range map[float64]string{
		2:     `"limit-req";q=2;w=1`,
		100.5: `"limit-req";q=100;w=1`,
		1:     `"limit-req";q=1;w=1`,
		0.5:   `"limit-req";q=1;w=2`,
		0.3:   `"limit-req";q=1;w=4`,
		0.001: `"limit-req";q=1;w=1000`,
	} {
		if got := policyOf(rate); got != want {
			t.Errorf("policyOf(%v) = %s; want %s", rate, got, want)
		}
	}
}

// TestDelayCancel checks that a delayed request stops waiting when its
// client leaves, and never reaches the upstream.
func TestDelayCancel(t *testing.T) {
	t.Parallel()
	clock := limittest.NewClock(base)
	var reached atomic.Int64
	next := plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		reached.Add(1)
		return nil
	})
	// The real sleep, with a delay of an hour: only cancellation ends it.
	h := handler(t, kindWith(limit.Options{Now: clock.Now, Local: limit.NewLocal()}, limit.Sleep),
		limittest.New(t, "api").Env, `{"rate":0.0002,"burst":5}`, next)
	if got := get(h, "192.0.2.1").Code; got != 200 {
		t.Fatalf("first request: status %d", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
		r.RemoteAddr = "192.0.2.1:40000"
		done <- plugintest.Serve(h, r).Err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled delayed request returned %v; want context.Canceled", err)
	}
	if reached.Load() != 1 {
		t.Fatalf("upstream reached %d times; want 1 (the cancelled request must not go on)", reached.Load())
	}
}

// TestExactBurstAcrossGateways: three instances on one Redis, using
// Redis's own clock, accept exactly burst+1 of 1000 concurrent requests at
// a rate too slow to refill during the test.
func TestExactBurstAcrossGateways(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const burst, total, workers = 99, 1000, 300
	cfg := fmt.Sprintf(`{"rate":0.001,"burst":%d,"nodelay":true,"key":"route","policy":"redis","on_redis_error":"deny"}`, burst)
	var gateways []plugin.Handler
	for i := range 3 {
		hs := limittest.New(t, "exact")
		hs.Env.Redis = &plugin.RedisConfig{Addrs: []string{srv.Addr()}, PoolSize: 20 + i, Timeout: testTimeout}
		gateways = append(gateways, handler(t, Kind, hs.Env, cfg, nil))
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
	if ok.Load() != burst+1 || limited.Load() != total-burst-1 {
		t.Fatalf("accepted %d, rejected %d; want exactly %d, %d", ok.Load(), limited.Load(), burst+1, total-burst-1)
	}
}

// TestRedisLocalFallback: with on_redis_error local, a dead Redis leaves
// the same bucket enforced in the process.
func TestRedisLocalFallback(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clock := limittest.NewClock(base)
	hs := limittest.New(t, "fb")
	hs.Env.Redis = &plugin.RedisConfig{Addrs: []string{srv.Addr()}, PoolSize: 2}
	h := handler(t, kindWith(limit.Options{Now: clock.Now, Local: limit.NewLocal()}, (&sleeps{}).sleep), hs.Env,
		`{"rate":1,"burst":1,"nodelay":true,"policy":"redis","on_redis_error":"local"}`, nil)
	srv.Kill()
	var codes []int
	for range 3 {
		codes = append(codes, get(h, "192.0.2.1").Code)
	}
	if diff := cmp.Diff([]int{200, 200, 429}, codes); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if got := hs.Count("fallback"); got != 3 {
		t.Errorf("fallback = %d; want 3", got)
	}
}
