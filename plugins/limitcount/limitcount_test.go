package limitcount

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/sluicegw/sluice/internal/redistest"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/limit"
	"github.com/sluicegw/sluice/plugins/internal/limit/limittest"
)

// base is aligned to every window the tests use.
var base = time.Unix(1_800_000_000, 0)

// testTimeout is the Redis timeout of the tests: generous, because they
// check counting, not latency, and a loaded machine must not turn slow
// dials into fallback decisions.
const testTimeout = 10 * time.Second

// kindWith is Kind with test options (a fake clock, a private store).
func kindWith(o limit.Options) plugin.Kind {
	return plugin.Define(name, plugin.Limit, defaults, func(env plugin.Env, c *Config) (plugin.Middleware, error) {
		return build(env, c, o)
	})
}

// fresh returns options with a fake clock and a store of the test's own.
func fresh() (*limittest.Clock, limit.Options) {
	clock := limittest.NewClock(base)
	return clock, limit.Options{Now: clock.Now, Local: limit.NewLocal()}
}

func handler(t testing.TB, kind plugin.Kind, env plugin.Env, cfg string) plugin.Handler {
	t.Helper()
	return plugintest.Route(plugin.AuthnPolicy{}, nil, plugintest.Use(t, kind, env, cfg))
}

// get sends GET target from ip, with headers as "Name: value".
func get(h plugin.Handler, ip, target string, headers ...string) plugintest.Result {
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = ip + ":40000"
	for _, hv := range headers {
		k, v, _ := strings.Cut(hv, ": ")
		r.Header.Add(k, v)
	}
	return plugintest.Serve(h, r)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"minimal", `{"count":10}`, ""},
		{"full", `{"count":100,"window":"1h","window_type":"sliding","cost":2,"group":"gold","show_limit_headers":false,
			"key":["consumer","header:X-Team"],"policy":"redis","on_redis_error":"local","rejected_code":503,"rejected_msg":"slow down"}`, ""},
		{"apisix seconds", `{"count":10,"window":60}`, ""},
		{"no count", `{}`, "count: must be from 1 to 1000000000000, got 0"},
		{"every problem", `{"count":-1,"window":"soon","window_type":"rolling","cost":0,"key":"user","policy":"etcd",
			"on_redis_error":"panic","rejected_code":99,"rejected_msg":""}`,
			"count: must be from 1 to 1000000000000, got -1\n" +
				"window: \"soon\" is not a duration (write it like 60s, 1m, 1.5h, or a number of seconds)\n" +
				"window_type: \"rolling\" is not fixed or sliding\n" +
				"cost: must be from 1 to count (-1), got 0\n" +
				"key: \"user\" is not ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME or cookie:NAME\n" +
				"policy: \"etcd\" is not local or redis\n" +
				"on_redis_error: \"panic\" is not allow, deny or local\n" +
				"rejected_code: 99 is not an HTTP status from 200 to 599\n" +
				"rejected_msg: must be 1 to 1024 bytes, got 0"},
		{"window too short", `{"count":1,"window":"500ms"}`, "window: 500ms is out of range: must be from 1s to 8784h0m0s"},
		{"cost over count", `{"count":5,"cost":6}`, "cost: must be from 1 to count (5), got 6"},
		{"unknown key", `{"count":5,"time_window":60}`, `json: unknown field "time_window"`},
		{"wrong type", `{"count":"5"}`, "count: expected int64, got string"},
		{"key wrong type", `{"count":5,"key":3}`, "key: must be a string or a list of strings, got a number"},
		{"window wrong type", `{"count":5,"window":true}`, "window: true is not a duration (write it like 60s, 1m, 1.5h, or a number of seconds)"},
		{"empty window", `{"count":5,"window":""}`, "window: \"\" is not a duration (write it like 60s, 1m, 1.5h, or a number of seconds)"},
		{"huge window", `{"count":5,"window":1e300}`, "window: 1e+300 is not a duration (write it like 60s, 1m, 1.5h, or a number of seconds)"},
		{"nulls keep defaults", `{"count":5,"window":null,"key":null}`, ""},
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

func TestNeedsRedisBlock(t *testing.T) {
	t.Parallel()
	_, err := Kind.Build(plugin.Env{Route: "r"}, json.RawMessage(`{"count":5,"policy":"redis"}`))
	if err == nil || err.Error() != "policy: redis needs the top-level redis block" {
		t.Fatalf("Build(policy redis, no redis block) = %v", err)
	}
}

func TestLimitCount(t *testing.T) {
	t.Parallel()
	type req struct {
		advance time.Duration
		ip      string
		headers []string
		status  int
		want    http.Header // headers checked (only these names)
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	const pol = `"limit-count";q=2;w=10`
	tests := []struct {
		name string
		cfg  string
		reqs []req
	}{
		{"fixed by ip", `{"count":2,"window":"10s"}`, []req{
			{ip: "192.0.2.1", status: 200, want: hdr("RateLimit-Policy", pol, "RateLimit", `"limit-count";r=1;t=10`)},
			{advance: 2500 * time.Millisecond, ip: "192.0.2.1", status: 200, want: hdr("RateLimit", `"limit-count";r=0;t=8`)},
			{ip: "192.0.2.1", status: 429, want: hdr("Retry-After", "8", "RateLimit-Policy", pol, "RateLimit", `"limit-count";r=0;t=8`)},
			{ip: "192.0.2.2", status: 200, want: hdr("RateLimit", `"limit-count";r=1;t=8`)},
			{advance: 7500 * time.Millisecond, ip: "192.0.2.1", status: 200, want: hdr("RateLimit", `"limit-count";r=1;t=10`)},
		}},
		{"sliding", `{"count":2,"window":"10s","window_type":"sliding"}`, []req{
			{ip: "192.0.2.1", status: 200},
			{ip: "192.0.2.1", status: 200},
			{advance: 10 * time.Second, ip: "192.0.2.1", status: 429,
				want: hdr("Retry-After", "5", "RateLimit", `"limit-count";r=0;t=5`)},
			{advance: 5 * time.Second, ip: "192.0.2.1", status: 200, want: hdr("RateLimit", `"limit-count";r=0;t=5`)},
		}},
		{"cost and custom rejection", `{"count":5,"cost":2,"window":"10s","rejected_code":503,"rejected_msg":"slow down"}`, []req{
			{ip: "192.0.2.1", status: 200, want: hdr("RateLimit", `"limit-count";r=3;t=10`)},
			{ip: "192.0.2.1", status: 200, want: hdr("RateLimit", `"limit-count";r=1;t=10`)},
			{ip: "192.0.2.1", status: 503},
		}},
		{"headers off", `{"count":1,"window":"10s","show_limit_headers":false}`, []req{
			{ip: "192.0.2.1", status: 200, want: hdr("RateLimit-Policy", "", "RateLimit", "")},
			{ip: "192.0.2.1", status: 429, want: hdr("Retry-After", "10", "RateLimit-Policy", "", "RateLimit", "")},
		}},
		{"by header, falling back to ip", `{"count":1,"window":"10s","key":"header:X-API-Key"}`, []req{
			{ip: "192.0.2.1", headers: []string{"X-API-Key: k1"}, status: 200},
			{ip: "192.0.2.2", headers: []string{"X-API-Key: k1"}, status: 429},
			{ip: "192.0.2.2", headers: []string{"X-API-Key: k2"}, status: 200},
			{ip: "192.0.2.1", status: 200},
			{ip: "192.0.2.1", status: 429},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock, o := fresh()
			hs := limittest.New(t, "chat")
			h := handler(t, kindWith(o), hs.Env, tt.cfg)
			for i, rq := range tt.reqs {
				clock.Advance(rq.advance)
				res := get(h, rq.ip, "/", rq.headers...)
				if res.Code != rq.status {
					t.Fatalf("request %d: status %d; want %d (err %v)", i, res.Code, rq.status, res.Err)
				}
				for k := range rq.want {
					if got, want := res.Header().Get(k), rq.want.Get(k); got != want {
						t.Errorf("request %d: %s = %q; want %q", i, k, got, want)
					}
				}
				if rq.status != 200 {
					var pe *plugin.Error
					if pe, _ = res.Err.(*plugin.Error); pe == nil || pe.Code != "rate_limited" {
						t.Errorf("request %d: error %v; want a rate_limited *plugin.Error", i, res.Err)
					}
				}
			}
		})
	}
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	_, o := fresh()
	hs := limittest.New(t, "chat")
	h := handler(t, kindWith(o), hs.Env, `{"count":3}`)
	for range 5 {
		get(h, "192.0.2.1", "/")
	}
	if diff := cmp.Diff(map[string]int64{"allowed": 3, "rejected": 2}, hs.Counts()); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

func TestGroupAndScope(t *testing.T) {
	t.Parallel()
	_, o := fresh() // one store, as in one process
	build := func(route, cfg string) plugin.Handler {
		return handler(t, kindWith(o), limittest.New(t, route).Env, cfg)
	}
	a := build("a", `{"count":2,"group":"shared"}`)
	b := build("b", `{"count":2,"group":"shared"}`)
	c := build("c", `{"count":2}`)
	d := build("c", `{"count":2,"window":"1h"}`) // same route, other window: its own counter
	for i, tt := range []struct {
		h    plugin.Handler
		want int
	}{{a, 200}, {b, 200}, {a, 429}, {b, 429}, {c, 200}, {c, 200}, {c, 429}, {d, 200}} {
		if got := get(tt.h, "192.0.2.1", "/").Code; got != tt.want {
			t.Errorf("request %d: status %d; want %d", i, got, tt.want)
		}
	}
}

// TestReloadKeepsCounters builds the same plugin twice, as two config
// generations would: the second continues the first one's counts, because
// local state lives in the process-wide store (Options.Local unset).
func TestReloadKeepsCounters(t *testing.T) {
	t.Parallel()
	clock := limittest.NewClock(base)
	kind := kindWith(limit.Options{Now: clock.Now})
	route := fmt.Sprintf("reload-%d", time.Now().UnixNano())
	cfg := `{"count":3,"window":"1h","key":"route"}`
	gen1 := handler(t, kind, limittest.New(t, route).Env, cfg)
	for range 2 {
		if got := get(gen1, "192.0.2.1", "/").Code; got != 200 {
			t.Fatalf("gen1: status %d", got)
		}
	}
	gen2 := handler(t, kind, limittest.New(t, route).Env, cfg)
	codes := []int{get(gen2, "192.0.2.9", "/").Code, get(gen2, "192.0.2.9", "/").Code}
	if diff := cmp.Diff([]int{200, 429}, codes); diff != "" {
		t.Fatalf("gen2 statuses (-want +got):\n%s", diff)
	}
}

// redisEnv returns a harness whose env points at srv; poolSize makes the
// block distinct, so that each "gateway" gets its own client.
func redisEnv(t testing.TB, srv *redistest.Server, route string, poolSize int, password string) *limittest.Harness {
	hs := limittest.New(t, route)
	hs.Env.Redis = &plugin.RedisConfig{Addrs: []string{srv.Addr()}, PoolSize: poolSize, Password: password, Timeout: testTimeout}
	return hs
}

// TestExactAcrossGateways builds three limit-count instances on one Redis,
// as three gateway processes would have (each with its own client), and
// sends 1000 requests from 300 goroutines: exactly count pass.
func TestExactAcrossGateways(t *testing.T) {
	t.Parallel()
	for _, wt := range []string{"fixed", "sliding"} {
		t.Run(wt, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			const count, total, workers = 250, 1000, 300
			cfg := fmt.Sprintf(`{"count":%d,"window":"60s","window_type":%q,"policy":"redis","on_redis_error":"deny","key":"route"}`, count, wt)
			clock := limittest.NewClock(base) // windows must not roll over mid-test
			var gateways []plugin.Handler
			var envs []*limittest.Harness
			for i := range 3 {
				hs := redisEnv(t, srv, "exact", 20+i, "")
				envs = append(envs, hs)
				gateways = append(gateways, handler(t, kindWith(limit.Options{Now: clock.Now}), hs.Env, cfg))
			}
			var next atomic.Int64
			var ok, limited, other atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := gateways[w%3]
					for next.Add(1) <= total {
						switch res := get(h, fmt.Sprintf("198.51.100.%d", w%250), "/"); res.Code {
						case 200:
							ok.Add(1)
						case 429:
							limited.Add(1)
						default:
							other.Add(1)
							t.Errorf("status %d: %v", res.Code, res.Err)
						}
					}
				}()
			}
			wg.Wait()
			if ok.Load() != count || limited.Load() != total-count || other.Load() != 0 {
				t.Fatalf("allowed %d, rejected %d, other %d; want exactly %d, %d, 0", ok.Load(), limited.Load(), other.Load(), count, total-count)
			}
			var fb int64
			for _, hs := range envs {
				fb += hs.Count("fallback")
			}
			if fb != 0 {
				t.Fatalf("%d fallback decisions; want 0", fb)
			}
		})
	}
}

// TestRedisDown kills Redis mid-test and restarts it, for each
// on_redis_error: while it is down the configured behaviour holds, errors
// are logged at most once per interval (without the password), and after
// the restart decisions come from Redis again.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	const password = "hunter2-secret"
	tests := []struct {
		mode     string
		downWant []int // statuses of 5 requests while Redis is down
	}{
		{"allow", []int{200, 200, 200, 200, 200}},
		{"deny", []int{503, 503, 503, 503, 503}},
		{"local", []int{200, 200, 200, 429, 429}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, "--requirepass", password)
			clock := limittest.NewClock(base)
			hs := redisEnv(t, srv, "down-"+tt.mode, 2, password)
			cfg := `{"count":3,"window":"60s","policy":"redis","on_redis_error":"` + tt.mode + `"}`
			h := handler(t, kindWith(limit.Options{Now: clock.Now, Local: limit.NewLocal()}), hs.Env, cfg)
			redisKey := "sluice:limit:limit-count:route.down-" + tt.mode + "@1m0s:ip=192.0.2.1"
			rdb := srv.Client(password)
			ctx := context.Background()

			expect := func(phase string, want ...int) []plugintest.Result {
				t.Helper()
				var out []plugintest.Result
				for i, w := range want {
					res := get(h, "192.0.2.1", "/")
					if res.Code != w {
						t.Fatalf("%s: request %d: status %d; want %d (err %v)", phase, i, res.Code, w, res.Err)
					}
					out = append(out, res)
				}
				return out
			}

			// Up: Redis decides.
			expect("up", 200, 200, 200, 429)
			if n, err := rdb.Exists(ctx, redisKey).Result(); err != nil || n != 1 {
				t.Fatalf("EXISTS %s = %d, %v; want 1", redisKey, n, err)
			}
			if got := hs.Count("fallback"); got != 0 {
				t.Fatalf("fallback = %d while Redis is up", got)
			}

			srv.Kill()
			down := expect("down", tt.downWant...)
			for i, res := range down {
				switch {
				case res.Code == 503:
					pe, _ := res.Err.(*plugin.Error)
					if pe == nil || pe.Code != "limit_unavailable" || res.Header().Get("Retry-After") != "1" {
						t.Errorf("down request %d: %v, Retry-After %q; want limit_unavailable, 1", i, res.Err, res.Header().Get("Retry-After"))
					}
				case res.Code == 200 && res.Header().Get("RateLimit") != "":
					t.Errorf("down request %d: RateLimit %q on a fallback decision", i, res.Header().Get("RateLimit"))
				}
			}
			if got := hs.Count("fallback"); got != 5 {
				t.Errorf("fallback = %d; want 5", got)
			}
			warns := func() (n int) {
				for _, l := range hs.Logs.Lines() {
					if strings.HasPrefix(l, "WARN") {
						n++
					}
				}
				return n
			}
			if n := warns(); n != 1 {
				t.Errorf("%d warnings for 5 failures within the interval; want 1:\n%s", n, strings.Join(hs.Logs.Lines(), "\n"))
			}
			clock.Advance(11 * time.Second)
			expect("down, later", tt.downWant[4])
			if n := warns(); n != 2 {
				t.Errorf("%d warnings after the interval; want 2", n)
			}
			lines := strings.Join(hs.Logs.Lines(), "\n")
			if !strings.Contains(lines, "failures=5") {
				t.Errorf("the second warning does not count the failures since the first:\n%s", lines)
			}
			if strings.Contains(lines, password) {
				t.Errorf("the log shows the Redis password:\n%s", lines)
			}

			srv.Restart()
			// go-redis finds the node again within about a second; until then
			// requests still fall back. The first that does not is Redis's.
			deadline := time.Now().Add(15 * time.Second)
			for {
				before := hs.Count("fallback")
				res := get(h, "192.0.2.1", "/")
				if hs.Count("fallback") == before {
					// Redis restarted empty: this is the first of 3 (the
					// clock moved 11s into the window).
					if res.Code != 200 || res.Header().Get("RateLimit") != `"limit-count";r=2;t=49` {
						t.Fatalf("first request after recovery: status %d, RateLimit %q (err %v)", res.Code, res.Header().Get("RateLimit"), res.Err)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("decisions still fall back 15s after Redis restarted; last: %v", res.Err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			expect("recovered", 200, 200, 429)
			if n, err := rdb.Exists(ctx, redisKey).Result(); err != nil || n != 1 {
				t.Fatalf("after recovery EXISTS = %d, %v; want 1", n, err)
			}
			if !strings.Contains(strings.Join(hs.Logs.Lines(), "\n"), "INFO redis answers again") {
				t.Errorf("no recovery line in the log:\n%s", strings.Join(hs.Logs.Lines(), "\n"))
			}
		})
	}
}

// discard is a ResponseWriter for benchmarks whose header map is cleared
// per request.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func benchRequest(ip string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	x := &plugin.Exchange{Route: "bench", ClientIP: netip.MustParseAddr(ip)}
	return r.WithContext(plugin.WithExchange(r.Context(), x))
}

func benchServe(b *testing.B, h plugin.Handler) {
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := n.Add(1)
		r := benchRequest(fmt.Sprintf("10.0.%d.%d", i/256%256, i%256))
		w := &discard{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			if err := h.ServeHTTP(w, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLimitCountLocal(b *testing.B) {
	hs := limittest.New(b, "bench")
	h := handler(b, kindWith(limit.Options{Local: limit.NewLocal()}), hs.Env, `{"count":1000000000000,"window":"1h"}`)
	benchServe(b, h)
}

// BenchmarkLimitCountRedis reports the round trips to Redis per request
// (roundtrips/op, counted by a hook on the plugin's shared client: 1, the
// decision's script) and the scripts Redis ran per request (evals/op, from
// INFO commandstats).
func BenchmarkLimitCountRedis(b *testing.B) {
	srv := redistest.Start(b)
	hs := redisEnv(b, srv, "bench", 0, "")
	h := handler(b, Kind, hs.Env, `{"count":1000000000000,"window":"1h","policy":"redis","on_redis_error":"deny"}`)
	client, release, err := limit.Client(hs.Env.Redis) // the plugin's own client
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	var trips atomic.Int64
	client.AddHook(tripHook{&trips})
	// Warm up: connections and the script cache, so the count is per request.
	benchRequestOnce(b, h)
	srv.ResetStats()
	trips.Store(0)
	b.SetParallelism(8) // requests wait on the network: keep several in flight
	b.ResetTimer()
	benchServe(b, h)
	b.StopTimer()
	calls := srv.Calls()
	b.ReportMetric(float64(trips.Load())/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(calls["evalsha"]+calls["eval"])/float64(b.N), "evals/op")
	if fb := hs.Count("fallback"); fb != 0 {
		b.Fatalf("%d fallback decisions", fb)
	}
}

// tripHook counts round trips: each command, and each pipeline as one.
type tripHook struct{ n *atomic.Int64 }

func (h tripHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h tripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h tripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

func benchRequestOnce(b *testing.B, h plugin.Handler) {
	if err := h.ServeHTTP(&discard{h: http.Header{}}, benchRequest("10.9.9.9")); err != nil {
		b.Fatal(err)
	}
}

// TestExactOnRedisCluster: the same exactness on a real three-node Redis
// Cluster, with one counter per tenant so that the keys land in different
// slots on different nodes (each script touches one key, so no hash tags
// are needed).
func TestExactOnRedisCluster(t *testing.T) {
	t.Parallel()
	nodes := redistest.StartCluster(t, 3)
	const count, tenants, perTenant, workers = 20, 8, 50, 60
	cfg := fmt.Sprintf(`{"count":%d,"window":"60s","policy":"redis","on_redis_error":"deny","key":"header:X-Tenant"}`, count)
	clock := limittest.NewClock(base)
	var gateways []plugin.Handler
	for i := range 3 {
		hs := limittest.New(t, "cluster")
		hs.Env.Redis = &plugin.RedisConfig{Addrs: redistest.Addrs(nodes), Cluster: true, PoolSize: 10 + i, Timeout: testTimeout}
		gateways = append(gateways, handler(t, kindWith(limit.Options{Now: clock.Now}), hs.Env, cfg))
	}
	var ok [tenants]atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if n >= tenants*perTenant {
					return
				}
				tenant := int(n) % tenants
				res := get(gateways[w%3], "203.0.113.9", "/", fmt.Sprintf("X-Tenant: tenant-%d", tenant))
				switch res.Code {
				case 200:
					ok[tenant].Add(1)
				case 429:
				default:
					t.Errorf("status %d: %v", res.Code, res.Err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range ok {
		if got := ok[i].Load(); got != count {
			t.Errorf("tenant-%d: %d allowed of %d; want exactly %d", i, got, perTenant, count)
		}
	}
	// The counters really are spread over the nodes.
	spread := 0
	for _, s := range nodes {
		if n, err := s.Client().DBSize(context.Background()).Result(); err == nil && n > 0 {
			spread++
		}
	}
	if spread < 2 {
		t.Errorf("counters on %d node(s); want them spread over the cluster", spread)
	}
}
