package aibudget

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// base is 2027-01-15 08:00 UTC.
var base = time.Unix(1_800_000_000, 0)

const testTimeout = 10 * time.Second

func kindWith(o limit.Options) plugin.Kind {
	return plugin.Define(name, plugin.Limit, defaults, func(env plugin.Env, c *Config) (plugin.Middleware, error) {
		return build(env, c, o)
	})
}

func fresh(at time.Time) (*limittest.Clock, limit.Options) {
	clock := limittest.NewClock(at)
	return clock, limit.Options{Now: clock.Now, Local: limit.NewLocal()}
}

// consumers of the tests.
var (
	alice = &plugin.Consumer{Name: "alice", Groups: []string{"pro"}}
	bob   = &plugin.Consumer{Name: "bob", Groups: []string{"pro", "free"}}
	carol = &plugin.Consumer{Name: "carol"}
	dave  = &plugin.Consumer{Name: "dave", Groups: []string{"blocked"}}
)

func aiEnv(t testing.TB, route string) *limittest.Harness {
	hs := limittest.New(t, route)
	hs.Env.AIRoute = true
	hs.Env.Consumers = map[string]*plugin.Consumer{}
	for _, c := range []*plugin.Consumer{alice, bob, carol, dave} {
		hs.Env.Consumers[c.Name] = c
	}
	return hs
}

// outcome is what the fake terminal reports for one request.
type outcome struct {
	cost      float64
	priced    bool // CostKnown
	unknown   bool // no usage report
	cache     string
	duringRun func() // called while the request is served
}

var priced = func(usd float64) outcome { return outcome{cost: usd, priced: true} }

type served struct {
	plugintest.Result
	ran bool
}

// terminal reports o as the ai route's handler would.
func terminal(o outcome, ran *bool) plugin.Handler {
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if ran != nil {
			*ran = true
		}
		if o.duringRun != nil {
			o.duringRun()
		}
		a := plugin.ExchangeOf(r).AI
		a.UsageKnown = !o.unknown
		if a.UsageKnown {
			a.Usage = plugin.TokenUsage{Input: 10, Output: 10}
		}
		a.CostUSD, a.CostKnown, a.Cache = o.cost, o.priced && !o.unknown, o.cache
		_, err := w.Write([]byte("ok"))
		return err
	})
}

// serveAI runs h as the ai route would, for caller c (nil: none).
func serveAI(h plugin.Handler, c *plugin.Consumer) plugintest.Result {
	return serveOp(h, c, "chat")
}

// serveOp is serveAI for an operation: chat, embeddings or models.
func serveOp(h plugin.Handler, c *plugin.Consumer, operation string) plugintest.Result {
	wrapped := plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		x := plugin.ExchangeOf(r)
		if c != nil {
			x.Identify(c, "test")
		}
		x.AI = plugin.NewAI("openai", operation, nil)
		return h.ServeHTTP(w, r)
	})
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.RemoteAddr = "192.0.2.1:40000"
	return plugintest.Serve(wrapped, r)
}

func serve(t testing.TB, kind plugin.Kind, env plugin.Env, cfg string, c *plugin.Consumer, o outcome) served {
	t.Helper()
	var ran bool
	h := plugintest.Build(t, kind, env, cfg, terminal(o, &ran))
	return served{Result: serveAI(h, c), ran: ran}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"minimal", `{"usd":5}`, ""},
		{"full", `{"period":"day","usd":5.5,"groups":{"pro":50},"consumers":{"alice":500},"timezone":"Europe/Berlin",
			"key":["consumer","header:X-Project"],"policy":"redis","on_redis_error":"deny","rejected_code":402,"rejected_msg":"pay up"}`, ""},
		{"consumers only", `{"consumers":{"alice":1}}`, ""},
		{"zero is a limit", `{"usd":0}`, ""},
		{"no limit", `{}`, "usd, groups, consumers: set at least one limit"},
		{"every problem", `{"period":"week","usd":-1,"groups":{"":1,"pro":-2},"consumers":{"bob":2e9},"timezone":"",
			"key":"user","policy":"etcd","on_redis_error":"panic","rejected_code":99,"rejected_msg":""}`,
			"period: \"week\" is not day or month\n" +
				"usd: must be from 0 to 1000000000, got -1\n" +
				"groups: empty group name\n" +
				"groups.pro: must be from 0 to 1000000000, got -2\n" +
				"consumers.bob: must be from 0 to 1000000000, got 2e+09\n" +
				"timezone: must name an IANA time zone such as \"UTC\" or \"Europe/Berlin\"\n" +
				"key: \"user\" is not ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME or cookie:NAME\n" +
				"policy: \"etcd\" is not local or redis\n" +
				"on_redis_error: \"panic\" is not allow, deny or local\n" +
				"rejected_code: 99 is not an HTTP status from 200 to 599\n" +
				"rejected_msg: must be 1 to 1024 bytes, got 0"},
		{"unknown key", `{"usd":5,"budget":5}`, `json: unknown field "budget"`},
		{"wrong type", `{"usd":"5"}`, "usd: expected float64, got string"},
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

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	ai := aiEnv(t, "llm").Env
	tests := []struct {
		name string
		env  plugin.Env
		cfg  string
		want string
	}{
		{"unknown consumers", ai, `{"consumers":{"alice":1,"zed":2,"bert":3},"groups":{"nobody-is-in-it":1}}`,
			"consumers.bert: no such consumer\nconsumers.zed: no such consumer"},
		{"unknown time zone", ai, `{"usd":1,"timezone":"Mars/Olympus_Mons"}`, `timezone: "Mars/Olympus_Mons" is not a known IANA time zone`},
		{"both", ai, `{"consumers":{"zed":2},"timezone":"Nowhere"}`,
			"consumers.zed: no such consumer\ntimezone: \"Nowhere\" is not a known IANA time zone"},
		{"not an ai route", plugin.Env{Route: "api"}, `{"usd":1}`, "ai-budget works only on routes with an ai block"},
		{"redis without a block", ai, `{"usd":1,"policy":"redis"}`, "policy: redis needs the top-level redis block"},
		{"global", plugin.Env{}, `{"usd":1,"timezone":"Asia/Tokyo"}`, ""},
	}
	for _, tt := range tests {
		_, err := Kind.Build(tt.env, json.RawMessage(tt.cfg))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: Build = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestPassesThrough(t *testing.T) {
	t.Parallel()
	_, o := fresh(base)
	h := plugintest.Build(t, kindWith(o), plugin.Env{}, `{"usd":0}`, nil)
	if res := plugintest.Serve(h, httptest.NewRequest("GET", "/", nil)); res.Code != 200 {
		t.Fatalf("request without AI state: %d %v", res.Code, res.Err)
	}
	if res := serveOp(h, alice, "models"); res.Code != 200 {
		t.Fatalf("GET /models over the budget: %d %v", res.Code, res.Err)
	}
	if res := serveOp(h, alice, "embeddings"); res.Code != 429 {
		t.Fatalf("embeddings over the budget: %d; want 429", res.Code)
	}
}

// secondsTo returns the Retry-After of a refusal at now for a period
// ending at end.
func secondsTo(now, end time.Time) string { return strconv.FormatInt(limit.Seconds(end.Sub(now)), 10) }

func TestBudget(t *testing.T) {
	t.Parallel()
	_, o := fresh(base)
	hs := aiEnv(t, "llm")
	kind := kindWith(o)
	// $1 a month; 30 cents a request: the 4th starts below the limit and
	// takes the spend over it (a request's cost is known only after it),
	// the 5th is refused.
	for i, want := range []int{200, 200, 200, 200, 429, 429} {
		res := serve(t, kind, hs.Env, `{"usd":1}`, alice, priced(0.30))
		if res.Code != want {
			t.Fatalf("request %d: status %d; want %d (err %v)", i, res.Code, want, res.Err)
		}
		if want != 429 {
			continue
		}
		if res.ran {
			t.Errorf("request %d: refused, yet it reached the provider", i)
		}
		pe, _ := res.Err.(*plugin.Error)
		if pe == nil || pe.Status != 429 || pe.Code != "budget_exceeded" || pe.Public != "the spending limit for this period is reached" {
			t.Fatalf("request %d: error %v; want budget_exceeded", i, res.Err)
		}
		end := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
		if got, want := res.Header().Get("Retry-After"), secondsTo(base, end); got != want {
			t.Errorf("request %d: Retry-After = %s; want %s (the month's end)", i, got, want)
		}
	}
	// Another consumer has a budget of its own.
	if res := serve(t, kind, hs.Env, `{"usd":1}`, carol, priced(0.30)); res.Code != 200 {
		t.Errorf("carol: status %d; want 200", res.Code)
	}
	if diff := cmp.Diff(map[string]int64{"allowed": 5, "rejected": 2}, hs.Counts()); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

// TestLimits counts how many 10-cent requests each caller gets: its own
// entry, else the smallest of its groups', else usd.
func TestLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    string
		caller *plugin.Consumer
		want   int // requests allowed; -1 for unlimited (checked up to 50)
	}{
		{"consumer entry wins over groups", `{"usd":0.2,"groups":{"pro":1},"consumers":{"alice":2}}`, alice, 20},
		{"group", `{"usd":0.2,"groups":{"pro":1}}`, alice, 10},
		{"smallest group", `{"usd":0.2,"groups":{"pro":1,"free":0.5}}`, bob, 5},
		{"usd for the unlisted", `{"usd":0.2,"groups":{"pro":1}}`, carol, 2},
		{"usd for the unidentified", `{"usd":0.3}`, nil, 3},
		{"no usd: the unlisted are unlimited", `{"groups":{"pro":1}}`, carol, -1},
		{"no usd: the unidentified are unlimited", `{"consumers":{"alice":1}}`, nil, -1},
		{"a zero limit refuses everything", `{"usd":5,"groups":{"blocked":0}}`, dave, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, o := fresh(base)
			hs := aiEnv(t, "llm")
			h := plugintest.Build(t, kindWith(o), hs.Env, tt.cfg, terminal(priced(0.10), nil))
			got := 0
			for range 50 {
				if serveAI(h, tt.caller).Code != 200 {
					break
				}
				got++
			}
			want := tt.want
			if want < 0 {
				want = 50
			}
			if got != want {
				t.Errorf("%d requests allowed; want %d", got, want)
			}
		})
	}
}

func TestWhatIsCharged(t *testing.T) {
	t.Parallel()
	_, o := fresh(base)
	hs := aiEnv(t, "llm")
	kind := kindWith(o)
	cfg := `{"usd":1}`
	for i, oc := range []outcome{
		{cost: 5},                             // no price for the model: unpriced
		{cost: 5, unknown: true},              // a failure: no usage to price
		priced(0),                             // free
		{cost: 5, priced: true, cache: "hit"}, // answered by the cache
		priced(0.0000004),                     // rounds to 0 micro-dollars
		priced(0.9999995),                     // rounds to $1
	} {
		if res := serve(t, kind, hs.Env, cfg, alice, oc); res.Code != 200 {
			t.Fatalf("request %d: status %d; want 200", i, res.Code)
		}
	}
	if res := serve(t, kind, hs.Env, cfg, alice, priced(0)); res.Code != 429 {
		t.Fatalf("after $1 charged: status %d; want 429", res.Code)
	}
	if diff := cmp.Diff(map[string]int64{"allowed": 6, "rejected": 1, "unpriced": 1}, hs.Counts()); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

func TestPeriods(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		advance time.Duration
		o       outcome
		status  int
		retry   string // Retry-After of a refusal
	}
	tests := []struct {
		name  string
		cfg   string
		start time.Time
		steps func(clock *limittest.Clock) []step
	}{
		{"month rolls over", `{"usd":1,"period":"month"}`, time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC), func(*limittest.Clock) []step {
			return []step{
				{o: priced(1), status: 200},
				{status: 429, retry: "3600"},
				{advance: 59 * time.Minute, status: 429, retry: "60"},
				{advance: time.Minute, o: priced(1), status: 200},
				{status: 429, retry: strconv.Itoa(28 * 24 * 3600)}, // February 2027
			}
		}},
		{"day in a time zone, across the spring-forward day", `{"usd":1,"period":"day","timezone":"America/New_York"}`,
			time.Date(2027, 3, 13, 23, 59, 30, 0, ny), func(*limittest.Clock) []step {
				return []step{
					{o: priced(1), status: 200},
					{status: 429, retry: "30"},
					{advance: 30 * time.Second, o: priced(1), status: 200},
					// March 14 has 23 hours in New York.
					{status: 429, retry: strconv.Itoa(23 * 3600)},
				}
			}},
		{"the period a request was admitted in pays", `{"usd":1,"period":"day"}`,
			time.Date(2027, 1, 15, 23, 59, 59, 0, time.UTC), func(clock *limittest.Clock) []step {
				return []step{
					// Admitted on the 15th, done on the 16th.
					{o: outcome{cost: 1, priced: true, duringRun: func() { clock.Advance(2 * time.Second) }}, status: 200},
					{o: priced(1), status: 200},
					{status: 429, retry: strconv.Itoa(24*3600 - 1)},
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock, o := fresh(tt.start)
			hs := aiEnv(t, "llm")
			for i, st := range tt.steps(clock) {
				clock.Advance(st.advance)
				res := serve(t, kindWith(o), hs.Env, tt.cfg, alice, st.o)
				if res.Code != st.status {
					t.Fatalf("step %d at %v: status %d; want %d", i, clock.Now(), res.Code, st.status)
				}
				if got := res.Header().Get("Retry-After"); st.retry != "" && got != st.retry {
					t.Errorf("step %d at %v: Retry-After = %s; want %s", i, clock.Now(), got, st.retry)
				}
			}
		})
	}
}

func redisEnv(t testing.TB, srv *redistest.Server, route string, poolSize int) *limittest.Harness {
	hs := aiEnv(t, route)
	hs.Env.Redis = &plugin.RedisConfig{Addrs: []string{srv.Addr()}, PoolSize: poolSize, Timeout: testTimeout}
	return hs
}

// TestRedisAcrossGateways: two instances on one Redis, as two gateways
// with a client each, share one budget exactly.
func TestRedisAcrossGateways(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clock := limittest.NewClock(base)
	kind := kindWith(limit.Options{Now: clock.Now})
	cfg := `{"usd":1,"policy":"redis","on_redis_error":"deny"}`
	envs := []plugin.Env{redisEnv(t, srv, "shared", 11).Env, redisEnv(t, srv, "shared", 12).Env}
	// Sequentially, alternating: 4 × 25 cents, then both refuse.
	for i, want := range []int{200, 200, 200, 200, 429, 429} {
		if res := serve(t, kind, envs[i%2], cfg, alice, priced(0.25)); res.Code != want {
			t.Fatalf("request %d on gateway %d: status %d; want %d (err %v)", i, i%2, res.Code, want, res.Err)
		}
	}

	// Concurrently: every cost is added, none lost.
	const workers, total = 40, 400
	hs := []plugin.Handler{
		plugintest.Build(t, kind, envs[0], cfg, terminal(priced(0.001234), nil)),
		plugintest.Build(t, kind, envs[1], cfg, terminal(priced(0.001234), nil)),
	}
	var ok atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				if res := serveAI(hs[w%2], carol); res.Code == 200 {
					ok.Add(1)
				} else {
					t.Errorf("status %d: %v", res.Code, res.Err)
				}
			}
		}()
	}
	wg.Wait()
	ctx := context.Background()
	key := limit.RedisKey(name, "route.shared@2027-01:consumer=carol")
	got, err := srv.Client().Get(ctx, key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if want := ok.Load() * 1234; got != want {
		t.Errorf("spend = %d micro-dollars; want %d (%d requests × 1234)", got, want, ok.Load())
	}
	// The total outlives the month by an hour.
	end := time.Date(2027, 2, 1, 1, 0, 0, 0, time.UTC)
	if ttl, _ := srv.Client().PTTL(ctx, key).Result(); ttl <= 0 || ttl > end.Sub(base) {
		t.Errorf("PTTL = %v; want within (0, %v]", ttl, end.Sub(base))
	}
}

// TestRedisDown: with on_redis_error deny the budget refuses with 503;
// with local it counts in the process meanwhile.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	kind := kindWith(limit.Options{Now: limittest.NewClock(base).Now, Local: limit.NewLocal()})
	deny := redisEnv(t, srv, "down", 13)
	local := redisEnv(t, srv, "down", 14)
	srv.Kill()
	res := serve(t, kind, deny.Env, `{"usd":1,"policy":"redis","on_redis_error":"deny"}`, alice, priced(1))
	if pe, _ := res.Err.(*plugin.Error); res.Code != 503 || pe == nil || pe.Code != "limit_unavailable" {
		t.Errorf("deny: status %d, error %v; want 503 limit_unavailable", res.Code, res.Err)
	}
	for i, want := range []int{200, 200, 429} {
		res := serve(t, kind, local.Env, `{"usd":1,"policy":"redis","on_redis_error":"local"}`, alice, priced(0.5))
		if res.Code != want {
			t.Fatalf("local, request %d: status %d; want %d", i, res.Code, want)
		}
	}
	if got := local.Count("fallback"); got != 3 {
		t.Errorf("fallback decisions = %d; want 3", got)
	}
}
