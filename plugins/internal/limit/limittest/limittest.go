// Package limittest helps test the limit plugins: a plugin.Env that counts
// decisions and captures log records, and a fake clock.
package limittest

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// Harness is a plugin.Env for one plugin instance, as the gateway would
// build it: its decisions are counted, its logs kept, and its OnClose
// functions run when the test ends (so shared Redis clients are released).
type Harness struct {
	Env  plugin.Env
	Logs *Records

	counts sync.Map // decision -> *atomic.Int64
}

// New returns a Harness for a plugin on route.
func New(tb testing.TB, route string) *Harness {
	h := &Harness{Logs: &Records{}}
	var mu sync.Mutex
	var closers []func() error
	h.Env = plugin.Env{
		Route:  route,
		Logger: slog.New(h.Logs),
		OnClose: func(f func() error) {
			mu.Lock()
			closers = append(closers, f)
			mu.Unlock()
		},
		Decisions: func(d string) plugin.Counter {
			c, _ := h.counts.LoadOrStore(d, &counter{})
			return c.(*counter)
		},
	}
	tb.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, f := range closers {
			if err := f(); err != nil {
				tb.Errorf("OnClose: %v", err)
			}
		}
	})
	return h
}

type counter struct{ atomic.Int64 }

func (c *counter) Inc() { c.Add(1) }

// Count returns how many times the plugin counted decision.
func (h *Harness) Count(decision string) int64 {
	if c, ok := h.counts.Load(decision); ok {
		return c.(*counter).Load()
	}
	return 0
}

// Counts returns every decision's count.
func (h *Harness) Counts() map[string]int64 {
	m := map[string]int64{}
	h.counts.Range(func(k, v any) bool {
		if n := v.(*counter).Load(); n > 0 {
			m[k.(string)] = n
		}
		return true
	})
	return m
}

// Records is a slog.Handler that keeps every record.
type Records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *Records) Enabled(context.Context, slog.Level) bool { return true }

func (r *Records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	return nil
}

func (r *Records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *Records) WithGroup(string) slog.Handler      { return r }

// Lines returns one "LEVEL message key=value ..." line per record.
func (r *Records) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.recs))
	for _, rec := range r.recs {
		s := rec.Level.String() + " " + rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			s += " " + a.String()
			return true
		})
		out = append(out, s)
	}
	return out
}

// Clock is a fake clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
