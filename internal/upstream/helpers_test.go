package upstream

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/config"
)

// fakeClock is an injectable clock for Options.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// healthLog records OnHealth calls.
type healthLog struct {
	mu     sync.Mutex
	events []string
}

func (h *healthLog) record(target string, healthy bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, fmt.Sprintf("%s %v", target, healthy))
}

func (h *healthLog) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// upstreamWith returns an upstream named "u" with one target per weight,
// http://10.0.0.N:80, and the given balancer.
func upstreamWith(balancer string, weights ...int) config.Upstream {
	u := config.Upstream{Name: "u", Balancer: balancer}
	if balancer == "hash" {
		u.HashOn = "header:X-User"
	}
	for i, w := range weights {
		u.Targets = append(u.Targets, config.Target{URL: fmt.Sprintf("http://10.0.0.%d:80", i+1), Weight: w})
	}
	return u
}

// mustNew builds a pool and closes it when the test ends.
func mustNew(t testing.TB, cfg config.Upstream, opts Options) *Pool {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New(%s) = %v", cfg.Name, err)
	}
	t.Cleanup(p.Close)
	return p
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// names maps targets to their index letters (a, b, c...) for readable diffs.
func name(t *Target) string {
	if t == nil {
		return "<nil>"
	}
	return string(rune('a' + t.index))
}

var balancers = []string{"round_robin", "least_conn", "p2c", "hash"}

// syncBuffer is a strings.Builder safe for a logger shared by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
