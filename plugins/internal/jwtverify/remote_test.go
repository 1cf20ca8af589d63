package jwtverify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
	"github.com/sluicegw/sluice/plugins/internal/oidctest"
)

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newRemote(t *testing.T, p *oidctest.Provider, clk *clock, log *logBuf) *jwtverify.Remote {
	r := jwtverify.NewRemote(p.URL+oidctest.JWKSPath, jwtverify.RemoteOptions{
		LoaderOptions: jwtverify.LoaderOptions{Refresh: 5 * time.Minute, MinInterval: 10 * time.Second, Clock: clk.Now},
		Client:        p.Client(),
		Logger:        slog.New(slog.NewTextHandler(log, nil)),
	})
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRemoteRotation(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	clk := newClock(time.Unix(1_700_000_000, 0))
	var log logBuf
	r := newRemote(t, p, clk, &log)
	ctx := context.Background()
	key := func(k *oidctest.Key) error {
		t.Helper()
		got, err := r.Key(ctx, k.ID, k.Alg)
		if err == nil && !equalKey(got, k.Public()) {
			t.Fatalf("Key(%s) returned another key", k.ID)
		}
		return err
	}
	calls := func(want int) {
		t.Helper()
		r.Wait()
		if got := p.Calls(oidctest.JWKSPath); got != want {
			t.Fatalf("JWKS fetched %d times; want %d", got, want)
		}
	}

	k1 := p.SigningKey()
	if err := key(k1); err != nil {
		t.Fatalf("first key: %v", err)
	}
	calls(1)

	// The provider rotates: the new kid is unknown, so the set is fetched
	// again (once MinInterval has passed since the last fetch).
	clk.Add(10 * time.Second)
	k2 := p.Rotate("ES256")
	if err := key(k2); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	calls(2)
	if err := key(k1); err != nil {
		t.Fatalf("old key while still published: %v", err)
	}
	calls(2)

	// Random kids cannot make the gateway fetch more than once per
	// MinInterval.
	for _, kid := range []string{"a", "b", "c", "d", "e", "f"} {
		if _, err := r.Key(ctx, kid, "RS256"); !errors.Is(err, jwtverify.ErrNoKey) {
			t.Fatalf("Key(%s) = %v; want ErrNoKey", kid, err)
		}
	}
	calls(2)

	// The old key is withdrawn: it keeps working until the set is stale
	// and refreshed in the background, then it is gone.
	p.Withdraw(k1)
	clk.Add(5 * time.Minute)
	if err := key(k1); err != nil {
		t.Fatalf("withdrawn key before the refresh: %v", err)
	}
	calls(3)
	if err := key(k1); !errors.Is(err, jwtverify.ErrNoKey) {
		t.Fatalf("withdrawn key after the refresh = %v; want ErrNoKey", err)
	}

	// The provider goes down: the cached keys keep working, and the failure
	// is logged once per attempt, not once per request.
	for _, failure := range []int{oidctest.Down, 500} {
		p.SetJWKSStatus(failure)
		clk.Add(5 * time.Minute)
		for range 5 {
			if err := key(k2); err != nil {
				t.Fatalf("cached key while the JWKS fails (%d): %v", failure, err)
			}
		}
		r.Wait()
	}
	if n := strings.Count(log.String(), "JWKS fetch failed"); n != 2 {
		t.Errorf("logged %d failures; want 2:\n%s", n, log.String())
	}

	// Garbage is a failure too, and keeps the keys.
	p.SetJWKSStatus(0)
	p.SetJWKS(`<html>`)
	clk.Add(5 * time.Minute)
	key(k2)
	r.Wait()
	if err := key(k2); err != nil {
		t.Fatalf("cached key after a garbage answer: %v", err)
	}

	// An empty set is an answer: the provider withdrew every key.
	p.SetJWKS(`{"keys":[]}`)
	clk.Add(5 * time.Minute)
	key(k2)
	r.Wait()
	if err := key(k2); !errors.Is(err, jwtverify.ErrNoKey) {
		t.Fatalf("key after an empty set = %v; want ErrNoKey", err)
	}
	if !strings.Contains(log.String(), "JWKS fetch works again") {
		t.Errorf("recovery not logged:\n%s", log.String())
	}
}

func TestRemoteNeverFetched(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	p.SetJWKSStatus(503)
	clk := newClock(time.Unix(1_700_000_000, 0))
	var log logBuf
	r := newRemote(t, p, clk, &log)
	for range 3 {
		_, err := r.Key(context.Background(), p.SigningKey().ID, "RS256")
		if err == nil || !strings.Contains(err.Error(), "no key set from") || !strings.Contains(err.Error(), "status 503") {
			t.Fatalf("Key = %v; want no key set, status 503", err)
		}
	}
	if p.Calls(oidctest.JWKSPath) != 1 {
		t.Errorf("JWKS fetched %d times; want 1", p.Calls(oidctest.JWKSPath))
	}
	p.SetJWKSStatus(0)
	clk.Add(10 * time.Second)
	if _, err := r.Key(context.Background(), p.SigningKey().ID, "RS256"); err != nil {
		t.Fatalf("Key after the provider came back = %v", err)
	}
}

func TestRemotePrefetchAndClose(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	r := jwtverify.NewRemote(p.URL+oidctest.JWKSPath, jwtverify.RemoteOptions{Client: p.Client()})
	r.Prefetch()
	r.Wait()
	if p.Calls(oidctest.JWKSPath) != 1 || r.URL() != p.URL+oidctest.JWKSPath {
		t.Fatalf("Prefetch fetched %d times", p.Calls(oidctest.JWKSPath))
	}
	r.Close()
	r.Close() // twice is fine
}
