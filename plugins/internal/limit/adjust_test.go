package limit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/internal/redistest"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit/limittest"
)

// Adjust and the running totals on both stores, through the same table.

func (s localStore) adjust(key string, now time.Time, w Window, delta int64, age time.Duration) {
	s.l.Adjust(key, now, w, delta, age)
}

func (s *redisStore) adjust(key string, now time.Time, w Window, delta int64, age time.Duration) {
	if err := s.r.Adjust(context.Background(), key, now.UnixMicro(), w, delta, age); err != nil {
		s.t.Fatalf("Redis.Adjust: %v", err)
	}
}

type adjuster interface {
	window(key string, now time.Time, w Window, cost int64) Result
	adjust(key string, now time.Time, w Window, delta int64, age time.Duration)
}

func TestAdjust(t *testing.T) {
	t.Parallel()
	s10 := 10 * time.Second
	fixed := Window{Limit: 1000, Size: s10}
	sliding := Window{Limit: 1000, Size: s10, Sliding: true}
	// Each op is a take (cost > 0) checked against want, or an adjust
	// (delta != 0, made at `at` for a request admitted at `from`).
	type op struct {
		at, from time.Duration
		cost     int64
		delta    int64
		want     Result
	}
	take := func(at time.Duration, cost int64, want Result) op { return op{at: at, cost: cost, want: want} }
	adj := func(at, from time.Duration, delta int64) op { return op{at: at, from: from, delta: delta} }
	ok := func(rem int64, reset time.Duration) Result {
		return Result{Allowed: true, Remaining: rem, Reset: reset}
	}
	tests := []struct {
		name string
		w    Window
		ops  []op
	}{
		{"charge the difference", fixed, []op{
			take(0, 100, ok(900, s10)),
			adj(ms(1000), 0, 200), // real usage 300
			take(ms(1000), 100, ok(600, ms(9000))),
			adj(ms(2000), ms(1000), 200),
			take(ms(2000), 100, ok(300, ms(8000))),
			adj(ms(3000), ms(2000), 200),
			// 900 used: a request estimated at 101 does not fit, one of 100 does.
			take(ms(3000), 101, Result{Reset: ms(7000), RetryAfter: ms(7000)}),
			take(ms(3000), 100, ok(0, ms(7000))),
		}},
		{"refund", fixed, []op{
			take(0, 100, ok(900, s10)),
			adj(ms(500), 0, -100),
			take(ms(500), 1, ok(999, ms(9500))),
		}},
		{"never below zero", fixed, []op{
			take(0, 100, ok(900, s10)),
			adj(ms(500), 0, -500),
			take(ms(500), 1, ok(999, ms(9500))),
		}},
		{"a charge may go over the limit", fixed, []op{
			take(0, 900, ok(100, s10)),
			adj(ms(1000), 0, 300),
			take(ms(2000), 1, Result{Reset: ms(8000), RetryAfter: ms(8000)}),
			// Refunds bring it back under.
			adj(ms(3000), 0, -250),
			take(ms(3000), 1, ok(49, ms(7000))),
		}},
		{"charge after the window rolled over goes to the current one", fixed, []op{
			take(ms(9000), 100, ok(900, ms(1000))),
			adj(ms(12000), ms(9000), 200),
			take(ms(12000), 1, ok(799, ms(8000))),
		}},
		{"refund after a roll-over comes off the previous window", sliding, []op{
			take(ms(9000), 100, ok(900, ms(1000))),
			take(ms(10500), 50, ok(855, ms(9500))), // 100 × 0.95 + 50 = 145
			adj(ms(11000), ms(9000), -100),
			// The current window keeps its 50; the previous is empty.
			take(ms(11000), 1, ok(949, ms(9000))),
		}},
		{"refund two windows late is dropped", sliding, []op{
			take(0, 100, ok(900, s10)),
			take(ms(10500), 10, ok(895, ms(9500))), // 100 × 0.95 + 10
			adj(ms(21000), 0, -100),
			// 10 × 0.9 + 1 = 10: the refund did not become credit.
			take(ms(21000), 1, ok(990, ms(9000))),
		}},
		{"charge on a key not held", fixed, []op{
			adj(0, 0, 300),
			take(0, 1, ok(699, s10)),
		}},
		{"refund on a key not held does nothing", fixed, []op{
			adj(0, 0, -300),
			take(0, 1, ok(999, s10)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stores(t, func(t *testing.T, st store) {
				s := st.(adjuster)
				key := "t:" + t.Name()
				for i, o := range tt.ops {
					if o.delta != 0 {
						s.adjust(key, base.Add(o.at), tt.w, o.delta, o.at-o.from)
						continue
					}
					got := s.window(key, base.Add(o.at), tt.w, o.cost)
					if diff := cmp.Diff(o.want, got); diff != "" {
						t.Errorf("op %d (take %d at %v): (-want +got)\n%s", i, o.cost, o.at, diff)
					}
				}
			})
		})
	}
}

func TestTotals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		l := NewLocal()
		exp := base.Add(10 * time.Second)
		if got := l.Total("k", base); got != 0 {
			t.Fatalf("Total of a new key = %d; want 0", got)
		}
		l.Add("k", base, 5, exp)
		if got := l.Add("k", base.Add(time.Second), 7, exp); got != 12 {
			t.Fatalf("Add = %d; want 12", got)
		}
		l.Add("k", base.Add(2*time.Second), 0, base.Add(5*time.Second)) // does not shorten
		if got := l.Total("k", base.Add(9*time.Second)); got != 12 {
			t.Fatalf("Total before expiry = %d; want 12", got)
		}
		if got := l.Total("k", exp); got != 0 {
			t.Fatalf("Total at expiry = %d; want 0", got)
		}
		if got := l.Add("k", exp, 3, exp.Add(10*time.Second)); got != 3 {
			t.Fatalf("Add after expiry = %d; want 3 (a fresh total)", got)
		}
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		r := Redis{C: srv.Client()}
		if n, err := r.Total(ctx, "k"); err != nil || n != 0 {
			t.Fatalf("Total of a new key = %d, %v; want 0", n, err)
		}
		if _, err := r.Add(ctx, "k", 5, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if n, err := r.Add(ctx, "k", 7, 5*time.Second); err != nil || n != 12 {
			t.Fatalf("Add = %d, %v; want 12", n, err)
		}
		if n, err := r.Total(ctx, "k"); err != nil || n != 12 {
			t.Fatalf("Total = %d, %v; want 12", n, err)
		}
		// The shorter ttl of the second Add did not shorten the first's.
		pttl, _ := srv.Client().PTTL(ctx, "k").Result()
		if pttl <= 5*time.Second || pttl > 10*time.Second {
			t.Fatalf("PTTL = %v; want within (5s, 10s]", pttl)
		}
	})
}

// TestBackendFallback checks that a correction goes where the
// admission was counted, and that a Redis failure falls back by
// on_redis_error for Budget and Add.
func TestBackendFallback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	w := Window{Limit: 1000, Size: time.Minute}
	newBackend := func(onErr string) (*Backend, *Local) {
		hs := limittest.New(t, "r")
		hs.Env.Redis = &plugin.RedisConfig{Addrs: []string{srv.Addr()}, Timeout: 2 * time.Second}
		c := DefaultCommon()
		c.Policy, c.OnRedisError = PolicyRedis, onErr
		local := NewLocal()
		clock := limittest.NewClock(base)
		b, err := NewBackend(hs.Env, "test", &c, Options{Now: clock.Now, Local: local})
		if err != nil {
			t.Fatal(err)
		}
		return b, local
	}
	local, localStore := newBackend(OnErrorLocal)
	allow, allowStore := newBackend(OnErrorAllow)
	deny, _ := newBackend(OnErrorDeny)

	// Healthy: admission and correction in Redis, nothing local.
	res, err := local.Window(ctx, "k1", w, 100)
	if err != nil || !res.Allowed || res.Fallback {
		t.Fatalf("Window = %+v, %v", res, err)
	}
	local.Adjust(ctx, "k1", w, 200, time.Second, res)
	if res, _ := local.Window(ctx, "k1", w, 1); res.Remaining != 699 {
		t.Fatalf("after a correction in Redis: Remaining = %d; want 699", res.Remaining)
	}
	local.Add(ctx, "spend", 40, base.Add(time.Hour))
	if res, _ := local.Budget(ctx, "spend", 100); !res.Allowed || res.Remaining != 60 {
		t.Fatalf("Budget = %+v; want allowed with 60 left", res)
	}
	if localStore.Len() != 0 {
		t.Fatalf("local store holds %d keys while Redis is up", localStore.Len())
	}

	srv.Kill()
	// on_redis_error local: admission, correction, totals all local.
	res, err = local.Window(ctx, "k2", w, 100)
	if err != nil || !res.Allowed || !res.Fallback {
		t.Fatalf("Window with Redis down = %+v, %v; want an allowed fallback", res, err)
	}
	local.Adjust(ctx, "k2", w, 50, time.Second, res)
	if got := localStore.Window("k2", base, w, 1); got.Remaining != 849 {
		t.Fatalf("local store after the correction: Remaining = %d; want 849", got.Remaining)
	}
	local.Add(ctx, "spend", 70, base.Add(time.Hour))
	if res, _ := local.Budget(ctx, "spend", 100); !res.Allowed || !res.Fallback || res.Remaining != 30 {
		t.Fatalf("Budget from the local store = %+v; want allowed fallback with 30 left", res)
	}
	local.Add(ctx, "spend", 30, base.Add(time.Hour))
	if res, _ := local.Budget(ctx, "spend", 100); res.Allowed {
		t.Fatalf("Budget at the limit = %+v; want refused", res)
	}

	// on_redis_error allow: uncounted, so nothing is corrected anywhere.
	res, _ = allow.Window(ctx, "k3", w, 100)
	if !res.Allowed || !res.Fallback {
		t.Fatalf("Window (allow) = %+v", res)
	}
	allow.Adjust(ctx, "k3", w, 500, time.Second, res)
	allow.Add(ctx, "spend", 500, base.Add(time.Hour))
	if res, _ := allow.Budget(ctx, "spend", 100); !res.Allowed || !res.Fallback {
		t.Fatalf("Budget (allow) = %+v; want an allowed fallback", res)
	}
	if allowStore.Len() != 0 {
		t.Fatalf("allow's local store holds %d keys; want none", allowStore.Len())
	}

	// on_redis_error deny.
	if res, _ := deny.Budget(ctx, "spend", 100); !res.Unavailable {
		t.Fatalf("Budget (deny) = %+v; want unavailable", res)
	}

	// A client that left: the decision is the context's error, not Redis's.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := deny.Budget(cctx, "spend", 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("Budget with a canceled context: err = %v; want context.Canceled", err)
	}
}

func TestAppendPart(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("m", MaxPartLen+1)
	tests := []struct{ key, value, want string }{
		{"s:consumer=alice", "gpt-4o", "s:consumer=alice|model=gpt-4o"},
		{"s:ip=192.0.2.1", "a|b:c@d%e", "s:ip=192.0.2.1|model=a%7Cb%3Ac%40d%25e"},
		{"s:x", strings.Repeat("m", MaxPartLen), "s:x|model=" + strings.Repeat("m", MaxPartLen)},
		{"s:x", long, "s:x|model=" + hashOf(long)},
	}
	for _, tt := range tests {
		if got := AppendPart(tt.key, "model", tt.value); got != tt.want {
			t.Errorf("AppendPart(%q, model, %q) = %q; want %q", tt.key, tt.value, got, tt.want)
		}
	}
}
