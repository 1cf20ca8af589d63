package aicache

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicegw/sluice/internal/ai/aitest"
	"github.com/sluicegw/sluice/internal/redistest"
	"github.com/sluicegw/sluice/plugin"
)

// TestRedisShared: two plugin instances (two gateways) share answers
// through one Redis, JSON and streams alike, each entry one key with the
// TTL.
func TestRedisShared(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rcfg := &plugin.RedisConfig{Addrs: []string{srv.Addr()}}
	up := aitest.NewOpenAI(t)
	cfg := rigConfig{cache: `{"store":"redis","ttl":"10m","key_prefix":"test:ai:"}`, redis: rcfg, up: up, route: "llm"}
	a, b := newRig(t, cfg), newRig(t, cfg)

	for i, body := range []string{chatBody, chatStream} {
		first := a.do(t, chatPath, body, "X-Test-Consumer", "alice")
		if first.cache() != "miss" {
			t.Fatalf("%d: first %s %q; want miss", i, HeaderCache, first.cache())
		}
		a.waitStored(t, int64(i+1))
		second := b.do(t, chatPath, body, "X-Test-Consumer", "alice")
		if second.cache() != "hit" || string(second.body) != string(first.body) {
			t.Errorf("%d: other instance: %s %q, body %s; want the first's", i, HeaderCache, second.cache(), second.body)
		}
		if n := len(up.Requests()); n != i+1 {
			t.Errorf("%d: upstream calls = %d; want %d", i, n, i+1)
		}
	}

	ctx := context.Background()
	c := srv.Client()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys = %v; want 2", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "test:ai:") || len(k) != len("test:ai:")+64 {
			t.Errorf("key %q; want test:ai: and a hex SHA-256", k)
		}
		ttl, err := c.TTL(ctx, k).Result()
		if err != nil || ttl <= 9*time.Minute || ttl > 10*time.Minute {
			t.Errorf("TTL of %s = %v, %v; want about 10m", k, ttl, err)
		}
	}
	// A corrupt entry is a miss, not a failure of the request.
	if err := c.Set(ctx, keys[0], "garbage", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{chatBody, chatStream} {
		if r := b.do(t, chatPath, body, "X-Test-Consumer", "alice"); r.resp.StatusCode != 200 {
			t.Errorf("with a corrupt entry: status %d", r.resp.StatusCode)
		}
	}
	if b.dec.get("store_error") != 1 {
		t.Errorf("store_error = %d; want 1 (the corrupt entry)", b.dec.get("store_error"))
	}
}

// TestRedisOutage: with Redis down every request is still served, from
// upstream; failures are counted and logged once per interval; when Redis
// is back the cache works again.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rcfg := &plugin.RedisConfig{Addrs: []string{srv.Addr()}, Timeout: 500 * time.Millisecond}
	lg := &logs{}
	rg := newRig(t, rigConfig{cache: `{"store":"redis","scope":"global"}`, redis: rcfg, logger: slog.New(lg), opt: options{logEvery: time.Hour}})
	srv.Kill()

	for i, body := range []string{chatBody, chatBody, chatStream, chatBody} {
		r := rg.do(t, chatPath, body)
		if r.resp.StatusCode != 200 || r.cache() != "miss" {
			t.Errorf("%d: status %d, %s %q; want 200 miss", i, r.resp.StatusCode, HeaderCache, r.cache())
		}
	}
	if n := rg.upstreamCalls(); n != 4 {
		t.Errorf("upstream calls = %d; want 4", n)
	}
	rg.ca.store.(*redisStore).wait()
	if got := rg.dec.get("store_error"); got != 8 { // a lookup and a store each
		t.Errorf("store_error = %d; want 8", got)
	}
	if got := lg.count(slog.LevelWarn); got != 1 {
		t.Errorf("logged %d warnings; want 1 per interval", got)
	}

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := rg.do(t, chatPath, chatBody)
		rg.ca.store.(*redisStore).wait()
		if r.cache() == "hit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no hit within 10s of Redis coming back")
		}
	}
	if lg.count(slog.LevelInfo) != 1 {
		t.Errorf("logged %d infos; want one saying the store works again", lg.count(slog.LevelInfo))
	}
}

// TestRedisPause: after a failure the store does not ask Redis again for
// a moment, so an unreachable Redis costs one timeout per pause.
func TestRedisPause(t *testing.T) {
	t.Parallel()
	addr := strings.TrimPrefix(aitest.RefusedURL(t), "http://")
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	s := newRedisStore(c, "p:")
	ctx := context.Background()
	if _, err := s.get(ctx, key{}, time.Now()); err == nil || errors.Is(err, errPaused) {
		t.Fatalf("first get = %v; want the dial error", err)
	}
	if _, err := s.get(ctx, key{}, time.Now()); !errors.Is(err, errPaused) {
		t.Errorf("get right after a failure = %v; want errPaused", err)
	}
	var err error
	s.put(key{}, &entry{parts: [][]byte{[]byte("{}")}}, time.Now(), time.Minute, func(e error) { err = e })
	if !errors.Is(err, errPaused) {
		t.Errorf("put right after a failure = %v; want errPaused", err)
	}
	s.pausedUntil.Store(0)
	if _, err := s.get(ctx, key{}, time.Now()); err == nil || errors.Is(err, errPaused) {
		t.Errorf("get after the pause = %v; want Redis asked again", err)
	}
}
