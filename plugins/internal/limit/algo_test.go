package limit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/internal/redistest"
)

// base is aligned to every window the tests use (10s, 60s, 1h).
var base = time.Unix(1_800_000_000, 0)

// store is what both stores offer the algorithm tables, with a fake clock.
type store interface {
	window(key string, now time.Time, w Window, cost int64) Result
	gcra(key string, now time.Time, g GCRA) Result
	acquire(key string, now time.Time, c Conn) (Result, string)
	release(key, id string)
}

type localStore struct{ l *Local }

func (s localStore) window(key string, now time.Time, w Window, cost int64) Result {
	return s.l.Window(key, now, w, cost)
}
func (s localStore) gcra(key string, now time.Time, g GCRA) Result { return s.l.GCRA(key, now, g) }
func (s localStore) acquire(key string, _ time.Time, c Conn) (Result, string) {
	return s.l.Acquire(key, c), ""
}
func (s localStore) release(key, _ string) { s.l.Release(key) }

type redisStore struct {
	t  testing.TB
	r  Redis
	id int
}

func (s *redisStore) window(key string, now time.Time, w Window, cost int64) Result {
	r, err := s.r.Window(context.Background(), key, now.UnixMicro(), w, cost)
	if err != nil {
		s.t.Fatalf("Redis.Window: %v", err)
	}
	return r
}
func (s *redisStore) gcra(key string, now time.Time, g GCRA) Result {
	r, err := s.r.GCRA(context.Background(), key, now.UnixMicro(), g)
	if err != nil {
		s.t.Fatalf("Redis.GCRA: %v", err)
	}
	return r
}
func (s *redisStore) acquire(key string, now time.Time, c Conn) (Result, string) {
	s.id++
	id := "lease-" + string(rune('a'+s.id))
	r, err := s.r.Acquire(context.Background(), key, now.UnixMicro(), c, 30*time.Second, id)
	if err != nil {
		s.t.Fatalf("Redis.Acquire: %v", err)
	}
	return r, id
}
func (s *redisStore) release(key, id string) {
	if err := s.r.Release(context.Background(), key, id); err != nil {
		s.t.Fatalf("Redis.Release: %v", err)
	}
}

// stores runs f against a fresh local store and against a real Redis.
func stores(t *testing.T, f func(t *testing.T, s store)) {
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		f(t, localStore{NewLocal()})
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		f(t, &redisStore{t: t, r: Redis{C: srv.Client()}})
	})
}

type step struct {
	at   time.Duration // since base
	cost int64         // window steps; 0 means 1
	want Result
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
func us(n int64) time.Duration { return time.Duration(n) * time.Microsecond }

func TestWindow(t *testing.T) {
	t.Parallel()
	s10 := 10 * time.Second
	tests := []struct {
		name  string
		w     Window
		steps []step
	}{
		{"fixed", Window{Limit: 3, Size: s10}, []step{
			{at: 0, want: Result{Allowed: true, Remaining: 2, Reset: s10}},
			{at: ms(1000), want: Result{Allowed: true, Remaining: 1, Reset: ms(9000)}},
			{at: ms(2500), want: Result{Allowed: true, Remaining: 0, Reset: ms(7500)}},
			{at: ms(3000), want: Result{Reset: ms(7000), RetryAfter: ms(7000)}},
			{at: ms(9999), want: Result{Reset: ms(1), RetryAfter: ms(1)}},
			{at: ms(10000), want: Result{Allowed: true, Remaining: 2, Reset: s10}},
			{at: ms(10001), cost: 2, want: Result{Allowed: true, Remaining: 0, Reset: ms(9999)}},
			{at: ms(10002), want: Result{Reset: ms(9998), RetryAfter: ms(9998)}},
			// Two windows later the old counts are gone.
			{at: ms(30000), cost: 3, want: Result{Allowed: true, Remaining: 0, Reset: s10}},
		}},
		{"fixed cost over what is left", Window{Limit: 5, Size: s10}, []step{
			{at: 0, cost: 4, want: Result{Allowed: true, Remaining: 1, Reset: s10}},
			{at: 0, cost: 2, want: Result{Reset: s10, RetryAfter: s10}},
			{at: 0, cost: 1, want: Result{Allowed: true, Remaining: 0, Reset: s10}},
		}},
		{"sliding", Window{Limit: 3, Size: s10, Sliding: true}, []step{
			{at: 0, want: Result{Allowed: true, Remaining: 2, Reset: s10}},
			{at: ms(1000), want: Result{Allowed: true, Remaining: 1, Reset: ms(9000)}},
			{at: ms(2000), want: Result{Allowed: true, Remaining: 0, Reset: ms(8000)}},
			// The current window is full: wait for the next one, then until
			// a third of this one has slid out (3 × 2/3 + 1 ≤ 3).
			{at: ms(5000), want: Result{Reset: ms(5000), RetryAfter: us(8_333_334)}},
			{at: us(13_333_334), want: Result{Allowed: true, Remaining: 0, Reset: us(6_666_666)}},
			// Room in the current window: wait until the previous one's
			// weight drops enough (3 × w + 2 ≤ 3).
			{at: ms(14000), want: Result{Reset: ms(6000), RetryAfter: us(2_666_667)}},
			{at: us(16_666_667), want: Result{Allowed: true, Remaining: 0, Reset: us(3_333_333)}},
			{at: ms(20000), want: Result{Allowed: true, Remaining: 0, Reset: s10}},
			{at: ms(25000), want: Result{Allowed: true, Remaining: 0, Reset: ms(5000)}},
			// Two windows later nothing is left of the old counts.
			{at: ms(40000), want: Result{Allowed: true, Remaining: 2, Reset: s10}},
		}},
		{"sliding never lets a burst at the boundary through twice", Window{Limit: 10, Size: s10, Sliding: true}, []step{
			{at: ms(9000), cost: 10, want: Result{Allowed: true, Remaining: 0, Reset: ms(1000)}},
			// A fixed window would allow 10 more now; the sliding one still
			// weighs the previous 10 at 99%.
			{at: ms(10100), want: Result{Reset: ms(9900), RetryAfter: ms(900)}},
			{at: ms(11000), want: Result{Allowed: true, Remaining: 0, Reset: ms(9000)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stores(t, func(t *testing.T, s store) {
				key := "t:" + t.Name()
				for i, st := range tt.steps {
					cost := st.cost
					if cost == 0 {
						cost = 1
					}
					got := s.window(key, base.Add(st.at), tt.w, cost)
					if diff := cmp.Diff(st.want, got); diff != "" {
						t.Errorf("step %d (at %v, cost %d): (-want +got)\n%s", i, st.at, cost, diff)
					}
				}
			})
		})
	}
}

func TestGCRA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		rate, burst float64
		steps       []step
	}{
		{"burst then delay", 2, 2, []step{
			{at: 0, want: Result{Allowed: true, Remaining: 2, Reset: ms(500)}},
			{at: 0, want: Result{Allowed: true, Remaining: 1, Reset: ms(1000), Delay: ms(500)}},
			{at: 0, want: Result{Allowed: true, Remaining: 0, Reset: ms(1500), Delay: ms(1000)}},
			{at: 0, want: Result{Reset: ms(1500), RetryAfter: ms(500)}},
			{at: ms(500), want: Result{Allowed: true, Remaining: 0, Reset: ms(1500), Delay: ms(1000)}},
			{at: ms(600), want: Result{Reset: ms(1400), RetryAfter: ms(400)}},
			{at: ms(10000), want: Result{Allowed: true, Remaining: 2, Reset: ms(500)}},
		}},
		{"no burst", 1, 0, []step{
			{at: 0, want: Result{Allowed: true, Remaining: 0, Reset: ms(1000)}},
			{at: ms(999), want: Result{Reset: ms(1), RetryAfter: ms(1)}},
			{at: ms(1000), want: Result{Allowed: true, Remaining: 0, Reset: ms(1000)}},
		}},
		{"slow rate, fractional burst", 0.5, 1.5, []step{
			{at: 0, want: Result{Allowed: true, Remaining: 1, Reset: ms(2000)}},
			{at: 0, want: Result{Allowed: true, Remaining: 0, Reset: ms(4000), Delay: ms(2000)}},
			{at: 0, want: Result{Reset: ms(4000), RetryAfter: ms(1000)}},
			{at: ms(1000), want: Result{Allowed: true, Remaining: 0, Reset: ms(5000), Delay: ms(3000)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := NewGCRA(tt.rate, tt.burst)
			stores(t, func(t *testing.T, s store) {
				key := "t:" + t.Name()
				for i, st := range tt.steps {
					got := s.gcra(key, base.Add(st.at), g)
					if diff := cmp.Diff(st.want, got); diff != "" {
						t.Errorf("step %d (at %v): (-want +got)\n%s", i, st.at, diff)
					}
				}
			})
		})
	}
}

func TestConn(t *testing.T) {
	t.Parallel()
	c := Conn{Max: 2, Burst: 3, Delay: ms(100)}
	type op struct {
		release int // release the lease of this step (1-based) instead of acquiring
		want    Result
	}
	steps := []op{
		{want: Result{Allowed: true, Remaining: 1}},
		{want: Result{Allowed: true, Remaining: 0}},
		{want: Result{Allowed: true, Delay: ms(100)}},
		{want: Result{Allowed: true, Delay: ms(100)}},
		{want: Result{Allowed: true, Delay: ms(200)}},
		{want: Result{}},
		{release: 1},
		{want: Result{Allowed: true, Delay: ms(200)}},
		{want: Result{}},
	}
	stores(t, func(t *testing.T, s store) {
		key := "t:" + t.Name()
		ids := map[int]string{}
		for i, st := range steps {
			if st.release > 0 {
				s.release(key, ids[st.release])
				continue
			}
			got, id := s.acquire(key, base, c)
			ids[i+1] = id
			if diff := cmp.Diff(st.want, got); diff != "" {
				t.Errorf("step %d: (-want +got)\n%s", i+1, diff)
			}
		}
	})
}

// TestLeaseExpiry checks that the slots of a gateway that died (its leases
// never released nor refreshed) come back after the lease TTL.
func TestLeaseExpiry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := Redis{C: srv.Client()}
	ctx := context.Background()
	c := Conn{Max: 2}
	ttl := 30 * time.Second
	at := func(d time.Duration) int64 { return base.Add(d).UnixMicro() }
	for i, id := range []string{"dead-1", "dead-2"} {
		if got, err := r.Acquire(ctx, "k", at(0), c, ttl, id); err != nil || !got.Allowed {
			t.Fatalf("acquire %d = %+v, %v; want allowed", i, got, err)
		}
	}
	if got, _ := r.Acquire(ctx, "k", at(ttl-time.Millisecond), c, ttl, "live"); got.Allowed {
		t.Fatalf("acquire before the leases expire = allowed; want rejected")
	}
	// A refreshed lease outlives the TTL; the other one expires.
	if err := r.Refresh(ctx, at(20*time.Second), ttl, map[string][]string{"k": {"dead-1"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Acquire(ctx, "k", at(ttl), c, ttl, "live"); !got.Allowed || got.Remaining != 0 {
		t.Fatalf("acquire after one lease expired = %+v; want allowed with 0 remaining", got)
	}
	if got, _ := r.Acquire(ctx, "k", at(ttl+time.Second), c, ttl, "more"); got.Allowed {
		t.Fatalf("acquire with the refreshed lease alive = allowed; want rejected")
	}
	n, err := srv.Client().ZCard(ctx, "k").Result()
	if err != nil || n != 2 {
		t.Fatalf("ZCARD = %d, %v; want 2 (dead-1 refreshed, live)", n, err)
	}
	// The key itself expires with its last lease (real time, in Redis).
	pttl, _ := srv.Client().PTTL(ctx, "k").Result()
	if pttl <= 0 || pttl > ttl {
		t.Fatalf("PTTL = %v; want within (0, %v]", pttl, ttl)
	}
}

func TestLocalSweep(t *testing.T) {
	t.Parallel()
	l := NewLocal()
	l.max = 4
	w := Window{Limit: 1, Size: time.Second}
	for i := range 200 {
		l.Window(strings.Repeat("k", i%7+1)+string(rune('a'+i%26)), base.Add(time.Duration(i)*time.Second), w, 1)
	}
	if n := l.Len(); n > shardCount*l.max {
		t.Fatalf("Len() = %d; want at most %d", n, shardCount*l.max)
	}
	// In-flight counts are never evicted, even past the bound.
	for i := range 10 {
		l.Acquire("conn", Conn{Max: 100})
		_ = i
	}
	for range 10 {
		l.Release("conn")
	}
	if n := l.Len(); n > shardCount*l.max {
		t.Fatalf("Len() after conn = %d", n)
	}
	// Expired keys go at the next sweep of their shard.
	l2 := NewLocal()
	for i := range 100 {
		l2.Window(string(rune('A'+i)), base, w, 1)
	}
	l2.Window("late", base.Add(time.Hour), w, 1)
	for i := range l2.shards {
		sh := &l2.shards[i]
		sh.mu.Lock()
		sh.sweep(base.Add(time.Hour).UnixMicro())
		sh.mu.Unlock()
	}
	if n := l2.Len(); n != 1 {
		t.Fatalf("Len() after sweeping = %d; want 1", n)
	}
}
