package airatelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
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
	"github.com/sluicegw/sluice/plugins/internal/tokens"
)

// base is aligned to every window the tests use.
var base = time.Unix(1_800_000_000, 0)

const testTimeout = 10 * time.Second

// kindWith is Kind with test options (a fake clock, a private store).
func kindWith(o limit.Options) plugin.Kind {
	return plugin.Define(name, plugin.Limit, defaults, func(env plugin.Env, c *Config) (plugin.Middleware, error) {
		return build(env, c, o)
	})
}

func fresh() (*limittest.Clock, limit.Options) {
	clock := limittest.NewClock(base)
	return clock, limit.Options{Now: clock.Now, Local: limit.NewLocal()}
}

func aiEnv(t testing.TB, route string) *limittest.Harness {
	hs := limittest.New(t, route)
	hs.Env.AIRoute = true
	return hs
}

// fakeRequest is a decoded AI request.
type fakeRequest struct {
	model string
	msgs  []plugin.AIMessage
}

func (q *fakeRequest) Model() string                     { return q.model }
func (q *fakeRequest) Stream() bool                      { return false }
func (q *fakeRequest) Messages() []plugin.AIMessage      { return q.msgs }
func (q *fakeRequest) Prepend(...plugin.AIMessage) error { return nil }
func (q *fakeRequest) Append(...plugin.AIMessage) error  { return nil }
func (q *fakeRequest) MaxTokens() int64                  { return 0 }
func (q *fakeRequest) SetMaxTokens(int64)                {}
func (q *fakeRequest) Canonical() []byte                 { return nil }

func (q *fakeRequest) withModel(m string) *fakeRequest { return &fakeRequest{model: m, msgs: q.msgs} }

// estimate is what the plugin charges q at admission, by the tokenizer
// the rest of Sluice uses.
func (q *fakeRequest) estimate() int64 {
	tm := make([]tokens.Message, len(q.msgs))
	for i, m := range q.msgs {
		tm[i] = tokens.Message{Role: m.Role, Text: m.Text}
	}
	return int64(tokens.New().Messages(q.model, tm))
}

// outcome is what the fake terminal reports for one request.
type outcome struct {
	usage     plugin.TokenUsage
	known     bool          // UsageKnown
	ttft      time.Duration // TimeToFirstToken
	cache     string
	status    int // the fake provider's status; 0 means 200
	operation string
}

// served is one request through a plugin chain with a fake terminal.
type served struct {
	plugintest.Result
	ran bool // the terminal ran
}

// serve sends one request of consumer (none if "") with q through h, the
// plugin built around a terminal that reports o, with an AI state as the
// ai route's Wrap gives it.
func serve(t testing.TB, kind plugin.Kind, env plugin.Env, cfg, consumer string, q *fakeRequest, o outcome) served {
	t.Helper()
	var ran bool
	terminal := plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ran = true
		a := plugin.ExchangeOf(r).AI
		a.Usage, a.UsageKnown, a.TimeToFirstToken, a.Cache = o.usage, o.known, o.ttft, o.cache
		if o.status != 0 && o.status != 200 {
			a.ErrorKind = "upstream_error"
			w.WriteHeader(o.status)
			return nil
		}
		_, err := w.Write([]byte("ok"))
		return err
	})
	h := plugintest.Build(t, kind, env, cfg, terminal)
	return served{Result: serveAI(h, consumer, q, o.operation), ran: ran}
}

// serveAI runs h with the AI state of q and the consumer identified.
func serveAI(h plugin.Handler, consumer string, q *fakeRequest, operation string) plugintest.Result {
	if operation == "" {
		operation = "chat"
	}
	wrapped := plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		x := plugin.ExchangeOf(r)
		if consumer != "" {
			x.Identify(&plugin.Consumer{Name: consumer}, "test")
		}
		x.AI = plugin.NewAI("openai", operation, func() (plugin.AIRequest, error) { return q, nil })
		return h.ServeHTTP(w, r)
	})
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.RemoteAddr = "192.0.2.1:40000"
	return plugintest.Serve(wrapped, r)
}

// prompt is a request whose estimate is well over 100 tokens.
var prompt = &fakeRequest{model: "gpt-4o", msgs: []plugin.AIMessage{
	{Role: "system", Text: "You are a careful assistant."},
	{Role: "user", Text: strings.Repeat("Tell me about the weather in Lisbon today. ", 15)},
}}

// short is a request whose estimate is small.
var short = &fakeRequest{model: "gpt-4o", msgs: []plugin.AIMessage{{Role: "user", Text: "hello"}}}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"minimal", `{"tokens":1000}`, ""},
		{"full", `{"tokens":1000,"models":{"gpt-4o":500},"per_model":true,"count":"output","estimate":false,
			"window":"1h","window_type":"sliding","show_limit_headers":false,"key":["consumer","header:X-Team"],
			"policy":"redis","on_redis_error":"local","rejected_code":503,"rejected_msg":"slow down"}`, ""},
		{"models only", `{"models":{"gpt-4o":500}}`, ""},
		{"no limit", `{}`, "tokens: must be from 1 to 1000000000000, got 0 (or give models their limits)"},
		{"every problem", `{"tokens":-1,"models":{"":5,"gpt-4o":0},"count":"prompt","window":"soon","window_type":"rolling",
			"key":"user","policy":"etcd","on_redis_error":"panic","rejected_code":99,"rejected_msg":""}`,
			"tokens: must be from 1 to 1000000000000, got -1\n" +
				"models: empty model name\n" +
				"models.gpt-4o: must be from 1 to 1000000000000, got 0\n" +
				"count: \"prompt\" is not total, input or output\n" +
				"window: \"soon\" is not a duration (write it like 60s, 1m, 1.5h, or a number of seconds)\n" +
				"window_type: \"rolling\" is not fixed or sliding\n" +
				"key: \"user\" is not ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME or cookie:NAME\n" +
				"policy: \"etcd\" is not local or redis\n" +
				"on_redis_error: \"panic\" is not allow, deny or local\n" +
				"rejected_code: 99 is not an HTTP status from 200 to 599\n" +
				"rejected_msg: must be 1 to 1024 bytes, got 0"},
		{"too many tokens", `{"tokens":1000000000001}`, "tokens: must be from 1 to 1000000000000, got 1000000000001"},
		{"unknown key", `{"tokens":5,"limit":60}`, `json: unknown field "limit"`},
		{"wrong type", `{"tokens":"5"}`, "tokens: expected int64, got string"},
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

func TestBuildNeedsAIRoute(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  plugin.Env
		want string
	}{
		{plugin.Env{Route: "api"}, "ai-rate-limiting works only on routes with an ai block"},
		{plugin.Env{Route: "llm", AIRoute: true}, ""},
		{plugin.Env{}, ""}, // global: passes requests without AI state
	} {
		_, err := Kind.Build(tt.env, json.RawMessage(`{"tokens":10}`))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("Build(route %q, ai %v) = %q; want %q", tt.env.Route, tt.env.AIRoute, got, tt.want)
		}
	}
	_, err := Kind.Build(plugin.Env{Route: "llm", AIRoute: true}, json.RawMessage(`{"tokens":5,"policy":"redis"}`))
	if err == nil || err.Error() != "policy: redis needs the top-level redis block" {
		t.Errorf("Build(policy redis, no redis block) = %v", err)
	}
}

func TestWithoutAIPassesThrough(t *testing.T) {
	t.Parallel()
	_, o := fresh()
	h := plugintest.Build(t, kindWith(o), plugin.Env{}, `{"tokens":1}`, nil)
	for i := range 3 {
		res := plugintest.Serve(h, httptest.NewRequest("GET", "/", nil))
		if res.Code != 200 || res.Body.String() != "ok" {
			t.Fatalf("request %d without AI state: %d %q", i, res.Code, res.Body.String())
		}
	}
}

// TestAdmissionAndCorrection runs requests with known outcomes through one
// instance and checks each decision and the RateLimit field: admission
// charges the estimate, the end corrects it to the real usage.
func TestAdmissionAndCorrection(t *testing.T) {
	t.Parallel()
	est := prompt.estimate()
	if est <= 100 || est >= 300 {
		t.Fatalf("the prompt's estimate is %d; the cases need it in (100, 300)", est)
	}
	sEst := short.estimate()
	used := func(in, out int64) outcome {
		return outcome{usage: plugin.TokenUsage{Input: in, Output: out}, known: true, ttft: time.Second}
	}
	type step struct {
		advance time.Duration
		q       *fakeRequest
		o       outcome
		status  int
		rl      string // RateLimit; "" skips the check
		retry   string // Retry-After of a rejection
	}
	rl := func(r, t int64) string { return fmt.Sprintf(`"ai-rate-limiting";r=%d;t=%d`, r, t) }
	tests := []struct {
		name  string
		cfg   string
		steps []step
	}{
		{"usage 300 each: the 4th is refused", `{"tokens":1000,"window":"60s"}`, []step{
			{q: prompt, o: used(200, 100), status: 200, rl: rl(1000-est, 60)},
			{q: prompt, o: used(200, 100), status: 200, rl: rl(1000-300-est, 60)},
			{advance: 10 * time.Second, q: prompt, o: used(250, 50), status: 200, rl: rl(1000-600-est, 50)},
			{q: prompt, status: 429, retry: "50"},
			// A short request still fits the 100 left.
			{q: short, o: used(10, 20), status: 200, rl: rl(100-sEst, 50)},
			{advance: 50 * time.Second, q: prompt, o: used(200, 100), status: 200, rl: rl(1000-est, 60)},
		}},
		{"a failure is refunded", `{"tokens":1000}`, []step{
			{q: prompt, o: outcome{status: 503}, status: 503, rl: rl(1000-est, 60)},
			{q: prompt, o: outcome{status: 503}, status: 503, rl: rl(1000-est, 60)},
			{q: short, o: used(5, 5), status: 200, rl: rl(1000-sEst, 60)},
			{q: short, o: used(5, 5), status: 200, rl: rl(1000-10-sEst, 60)},
		}},
		{"a cut stream without usage keeps its estimate", `{"tokens":1000}`, []step{
			{q: prompt, o: outcome{ttft: time.Second}, status: 200},
			{q: short, o: used(1, 1), status: 200, rl: rl(1000-est-sEst, 60)},
		}},
		{"a cache hit costs nothing", `{"tokens":1000}`, []step{
			{q: prompt, o: outcome{cache: "hit", usage: plugin.TokenUsage{Input: 500, Output: 500}, known: true}, status: 200},
			{q: short, status: 200, rl: rl(1000-sEst, 60)},
		}},
		{"never below zero", `{"tokens":1000}`, []step{
			// Reported usage below the estimate: the window holds 0, not less.
			{q: prompt, o: used(0, 0), status: 200},
			{q: prompt, o: used(0, 0), status: 200, rl: rl(1000-est, 60)},
		}},
		{"a prompt larger than the limit passes an empty window only", `{"tokens":100,"window":"10s"}`, []step{
			{q: prompt, o: used(est, 10), status: 200, rl: rl(0, 10)},
			{q: short, status: 429, retry: "10"},
			{advance: 10 * time.Second, q: prompt, o: used(est, 10), status: 200, rl: rl(0, 10)},
		}},
		{"count input", `{"tokens":1000,"count":"input"}`, []step{
			{q: prompt, o: used(300, 700), status: 200, rl: rl(1000-est, 60)},
			{q: prompt, o: used(300, 700), status: 200, rl: rl(700-est, 60)},
		}},
		{"count output charges 1 at admission", `{"tokens":1000,"count":"output"}`, []step{
			{q: prompt, o: used(300, 700), status: 200, rl: rl(999, 60)},
			{q: prompt, o: used(300, 200), status: 200, rl: rl(299, 60)},
			{q: prompt, o: used(300, 100), status: 200, rl: rl(99, 60)},
			{q: prompt, status: 429, retry: "60"},
		}},
		{"estimate off charges 1 at admission", `{"tokens":1000,"estimate":false}`, []step{
			{q: prompt, o: used(200, 100), status: 200, rl: rl(999, 60)},
			{q: prompt, o: used(200, 100), status: 200, rl: rl(699, 60)},
		}},
		{"sliding", `{"tokens":1000,"window":"10s","window_type":"sliding"}`, []step{
			{q: prompt, o: used(500, 500), status: 200},
			// In the next window the previous 1000 still weigh 90%.
			{advance: 11 * time.Second, q: prompt, status: 429},
			{advance: 8 * time.Second, q: short, o: used(1, 1), status: 200, rl: rl(1000-100-sEst, 1)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock, o := fresh()
			hs := aiEnv(t, "llm")
			kind := kindWith(o)
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				res := serve(t, kind, hs.Env, tt.cfg, "alice", st.q, st.o)
				if res.Code != st.status {
					t.Fatalf("step %d: status %d; want %d (err %v)", i, res.Code, st.status, res.Err)
				}
				if st.rl != "" {
					if got := res.Header().Get("RateLimit"); got != st.rl {
						t.Errorf("step %d: RateLimit = %q; want %q", i, got, st.rl)
					}
				}
				if st.status == 429 {
					if res.ran {
						t.Errorf("step %d: a refused request reached the provider", i)
					}
					pe, _ := res.Err.(*plugin.Error)
					if pe == nil || pe.Code != "rate_limited" || pe.Public != "token rate limit exceeded" {
						t.Errorf("step %d: error %v; want rate_limited with the token message", i, res.Err)
					}
					if got := res.Header().Get("Retry-After"); st.retry != "" && got != st.retry {
						t.Errorf("step %d: Retry-After = %q; want %q", i, got, st.retry)
					}
				}
			}
		})
	}
}

func TestPolicyHeader(t *testing.T) {
	t.Parallel()
	_, o := fresh()
	hs := aiEnv(t, "llm")
	cfg := `{"tokens":1000,"models":{"gpt-4o":500},"window":"1h"}`
	res := serve(t, kindWith(o), hs.Env, cfg, "alice", short.withModel("gpt-4o-mini"), outcome{})
	if got, want := res.Header().Get("RateLimit-Policy"), `"ai-rate-limiting";q=1000;qu="tokens";w=3600`; got != want {
		t.Errorf("RateLimit-Policy = %q; want %q", got, want)
	}
	res = serve(t, kindWith(o), hs.Env, cfg, "alice", short, outcome{})
	if got, want := res.Header().Get("RateLimit-Policy"), `"ai-rate-limiting";q=500;qu="tokens";w=3600`; got != want {
		t.Errorf("RateLimit-Policy for gpt-4o = %q; want %q", got, want)
	}
	res = serve(t, kindWith(o), hs.Env, `{"tokens":1000,"show_limit_headers":false}`, "alice", short, outcome{})
	if res.Header().Get("RateLimit") != "" || res.Header().Get("RateLimit-Policy") != "" {
		t.Errorf("headers off, yet sent: %v", res.Header())
	}
}

// TestKeys checks which requests share a counter: consumers never; models
// with per_model or a models entry; and that models without an entry are
// unlimited when tokens is 0.
func TestKeys(t *testing.T) {
	t.Parallel()
	big := outcome{usage: plugin.TokenUsage{Input: 1000}, known: true}
	mini := short.withModel("gpt-4o-mini")
	type req struct {
		consumer string
		q        *fakeRequest
		status   int
	}
	tests := []struct {
		name string
		cfg  string
		reqs []req
	}{
		{"per consumer, models shared", `{"tokens":1000}`, []req{
			{"alice", short, 200}, {"alice", mini, 429}, {"bob", mini, 200}, {"bob", short, 429},
		}},
		{"per model", `{"tokens":1000,"per_model":true}`, []req{
			{"alice", short, 200}, {"alice", short, 429}, {"alice", mini, 200}, {"alice", mini, 429}, {"bob", short, 200},
		}},
		{"a listed model counts alone", `{"tokens":1000,"models":{"gpt-4o":2000}}`, []req{
			{"alice", short, 200}, {"alice", mini, 200}, {"alice", short, 200}, {"alice", short, 429},
			{"alice", mini, 429}, {"alice", mini.withModel("o3"), 429},
		}},
		{"only listed models are limited", `{"models":{"gpt-4o":1000}}`, []req{
			{"alice", short, 200}, {"alice", short, 429}, {"alice", mini, 200}, {"alice", mini, 200},
		}},
		{"without a consumer, the client IP", `{"tokens":1000}`, []req{
			{"", short, 200}, {"", short, 429}, {"alice", short, 200},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, o := fresh()
			hs := aiEnv(t, "llm")
			for i, rq := range tt.reqs {
				res := serve(t, kindWith(o), hs.Env, tt.cfg, rq.consumer, rq.q, big)
				if res.Code != rq.status {
					t.Errorf("request %d (%s, %s): status %d; want %d", i, rq.consumer, rq.q.model, res.Code, rq.status)
				}
			}
		})
	}
}

func TestEmbeddingsEstimate(t *testing.T) {
	t.Parallel()
	_, o := fresh()
	hs := aiEnv(t, "llm")
	q := &fakeRequest{model: "text-embedding-3-small", msgs: []plugin.AIMessage{
		{Role: "user", Text: "the quick brown fox"}, {Role: "user", Text: "jumps over the lazy dog"}}}
	e := tokens.New()
	want := int64(e.Count(q.model, q.msgs[0].Text) + e.Count(q.model, q.msgs[1].Text))
	res := serve(t, kindWith(o), hs.Env, `{"tokens":1000}`, "alice", q, outcome{operation: "embeddings", ttft: time.Second})
	if got := res.Header().Get("RateLimit"); got != fmt.Sprintf(`"ai-rate-limiting";r=%d;t=60`, 1000-want) {
		t.Errorf("RateLimit = %q; want the inputs' %d tokens charged, without chat framing", got, want)
	}
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	_, o := fresh()
	hs := aiEnv(t, "llm")
	for range 4 {
		serve(t, kindWith(o), hs.Env, `{"tokens":1000}`, "alice", short, outcome{usage: plugin.TokenUsage{Output: 400}, known: true})
	}
	if diff := cmp.Diff(map[string]int64{"allowed": 3, "rejected": 1}, hs.Counts()); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

func redisEnv(t testing.TB, srv *redistest.Server, route string, poolSize int) *limittest.Harness {
	hs := aiEnv(t, route)
	hs.Env.Redis = &plugin.RedisConfig{Addrs: []string{srv.Addr()}, PoolSize: poolSize, Timeout: testTimeout}
	return hs
}

// TestRedisAcrossGateways runs two instances on one Redis, as two gateways
// would (each with its own client). Sequential requests alternate between
// them and see one window; then concurrent requests leave the window
// holding exactly the usage of those admitted, every correction counted.
func TestRedisAcrossGateways(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clock := limittest.NewClock(base) // windows must not roll over mid-test
	kind := kindWith(limit.Options{Now: clock.Now})
	cfg := `{"tokens":1000,"policy":"redis","on_redis_error":"deny"}`
	envs := []plugin.Env{redisEnv(t, srv, "shared", 11).Env, redisEnv(t, srv, "shared", 12).Env}
	est := prompt.estimate()
	o := outcome{usage: plugin.TokenUsage{Input: 200, Output: 100}, known: true, ttft: time.Second}
	for i, want := range []int{200, 200, 200, 429, 429} {
		res := serve(t, kind, envs[i%2], cfg, "alice", prompt, o)
		if res.Code != want {
			t.Fatalf("request %d on gateway %d: status %d; want %d (err %v)", i, i%2, res.Code, want, res.Err)
		}
		if want == 200 {
			if got, w := res.Header().Get("RateLimit"), fmt.Sprintf(`"ai-rate-limiting";r=%d;t=60`, 1000-300*int64(i)-est); got != w {
				t.Errorf("request %d: RateLimit = %q; want %q", i, got, w)
			}
		}
	}

	// Concurrently: bob's requests use 37 tokens more than estimated.
	const workers, total = 40, 400
	cfg = `{"tokens":9000,"policy":"redis","on_redis_error":"deny"}`
	sEst := short.estimate()
	o = outcome{usage: plugin.TokenUsage{Input: sEst, Output: 37}, known: true, ttft: time.Second}
	hs := []plugin.Handler{
		plugintest.Build(t, kind, envs[0], cfg, reporting(o)),
		plugintest.Build(t, kind, envs[1], cfg, reporting(o)),
	}
	var ok, refused atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				switch res := serveAI(hs[w%2], "bob", short, ""); res.Code {
				case 200:
					ok.Add(1)
				case 429:
					refused.Add(1)
				default:
					t.Errorf("status %d: %v", res.Code, res.Err)
				}
			}
		}()
	}
	wg.Wait()
	key := limit.RedisKey(name, "route.shared@1m0s/total:consumer=bob")
	got, err := srv.Client().HGet(context.Background(), key, "c").Int64()
	if err != nil {
		t.Fatal(err)
	}
	if want := ok.Load() * (sEst + 37); got != want {
		t.Errorf("window holds %d tokens; want %d (%d admitted × %d)", got, want, ok.Load(), sEst+37)
	}
	// A refusal means the window held more than 9000 − estimate tokens,
	// all of them from admitted requests.
	a, b := 9000-sEst+1, sEst+37
	if least := (a + b - 1) / b; ok.Load() < least || refused.Load() == 0 {
		t.Errorf("%d admitted, %d refused; want at least %d admitted and some refused", ok.Load(), refused.Load(), least)
	}
}

// reporting is a terminal that reports o.
func reporting(o outcome) plugin.Handler {
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := plugin.ExchangeOf(r).AI
		a.Usage, a.UsageKnown, a.TimeToFirstToken = o.usage, o.known, o.ttft
		_, err := w.Write([]byte("ok"))
		return err
	})
}

// TestRedisDownLocal: with on_redis_error local, a correction goes to the
// local store that admitted the request.
func TestRedisDownLocal(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clock := limittest.NewClock(base)
	kind := kindWith(limit.Options{Now: clock.Now, Local: limit.NewLocal()})
	hs := redisEnv(t, srv, "down", 13)
	srv.Kill()
	cfg := `{"tokens":1000,"policy":"redis","on_redis_error":"local"}`
	o := outcome{usage: plugin.TokenUsage{Input: 400}, known: true, ttft: time.Second}
	for i, want := range []int{200, 200, 200, 429} {
		if res := serve(t, kind, hs.Env, cfg, "alice", short, o); res.Code != want {
			t.Fatalf("request %d: status %d; want %d (err %v)", i, res.Code, want, res.Err)
		}
	}
	if got := hs.Count("fallback"); got != 4 {
		t.Errorf("fallback decisions = %d; want 4", got)
	}
}
