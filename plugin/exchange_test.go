package plugin

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestExchangeParams(t *testing.T) {
	x := &Exchange{}
	for i := 0; i < 10; i++ { // past the inline buffer too
		x.AddParam(fmt.Sprint("p", i), fmt.Sprint(i))
	}
	if x.Param("p1") != "1" || x.Param("p9") != "9" || x.Param("nope") != "" {
		t.Fatalf("params = %v", x.Params)
	}
	if a := testing.AllocsPerRun(100, func() {
		x.Reset()
		x.AddParam("id", "7")
		x.AddParam("name", "x")
	}); a != 0 {
		t.Errorf("AddParam allocs = %v; want 0", a)
	}
}

// funcCtx is a context of a type the context package does not know, with
// the AfterFunc method it looks for, as Sluice's HTTP/1.1 server's request
// contexts have.
type funcCtx struct {
	context.Context // Background: no Done of its own
	mu              sync.Mutex
	done            chan struct{}
	err             error
	funcs           []func()
	registered      int
}

func newFuncCtx() *funcCtx {
	return &funcCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *funcCtx) Done() <-chan struct{} { return c.done }

func (c *funcCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *funcCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registered++
	c.funcs = append(c.funcs, f)
	i := len(c.funcs) - 1
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.funcs[i] == nil || c.err != nil {
			return false
		}
		c.funcs[i] = nil
		return true
	}
}

func (c *funcCtx) cancel() {
	c.mu.Lock()
	c.err = context.Canceled
	close(c.done)
	funcs := c.funcs
	c.mu.Unlock()
	for _, f := range funcs {
		if f != nil {
			f()
		}
	}
}

func TestWithExchange(t *testing.T) {
	type key struct{}
	x := &Exchange{Route: "r"}
	for _, tc := range []struct {
		name string
		wrap func(context.Context) context.Context // what a plugin may add below the gateway
	}{
		{"direct", func(ctx context.Context) context.Context { return ctx }},
		{"under WithValue", func(ctx context.Context) context.Context { return context.WithValue(ctx, key{}, 1) }},
		{"under WithCancel", func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			t.Cleanup(cancel)
			return ctx
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := context.WithValue(context.Background(), key{}, "parent")
			r := httptest.NewRequest("GET", "/", nil)
			r = r.WithContext(tc.wrap(WithExchange(parent, x)))
			if got := ExchangeOf(r); got != x {
				t.Errorf("ExchangeOf = %p; want %p", got, x)
			}
			if tc.name == "direct" && r.Context().Value(key{}) != "parent" {
				t.Errorf("parent's value lost: %v", r.Context().Value(key{}))
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	if got := ExchangeOf(r); got == nil || got == x {
		t.Errorf("ExchangeOf without one = %v; want a fresh Exchange", got)
	}
}

// TestWithExchangeCancel: children of the exchange context are canceled
// with the parent, whatever kind of context the parent is, and on a parent
// with an AfterFunc method they register there instead of starting a
// goroutine to wait.
func TestWithExchangeCancel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parent func() (context.Context, func(), *funcCtx)
	}{
		{"context.WithCancel", func() (context.Context, func(), *funcCtx) {
			ctx, cancel := context.WithCancel(context.Background())
			return ctx, cancel, nil
		}},
		{"AfterFunc method", func() (context.Context, func(), *funcCtx) {
			c := newFuncCtx()
			return c, c.cancel, c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel, fc := tc.parent()
			ctx := WithExchange(parent, &Exchange{})
			child, stopChild := context.WithCancel(ctx)
			defer stopChild()
			ran := make(chan struct{})
			context.AfterFunc(ctx, func() { close(ran) })
			stopped := context.AfterFunc(ctx, func() { t.Error("stopped AfterFunc ran") })
			if !stopped() {
				t.Fatal("stop before cancel = false; want true")
			}
			if fc != nil && fc.registered != 3 {
				t.Errorf("parent's AfterFunc called %d times; want 3 (WithCancel, 2 AfterFunc)", fc.registered)
			}
			cancel()
			<-child.Done() // would hang if the cancelation did not propagate
			<-ran
			if child.Err() != context.Canceled || ctx.Err() != context.Canceled {
				t.Errorf("Err = %v, %v; want context.Canceled", child.Err(), ctx.Err())
			}
		})
	}
}
