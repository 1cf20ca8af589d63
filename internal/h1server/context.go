package h1server

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// reqCtx is a request's context. It lives inside the request's exchange, so
// unlike context.WithCancel it costs no allocation of its own, and it is
// canceled by the server (handler returned, client gone, server closed)
// rather than through a CancelFunc.
//
// Children stay cheap: context.WithCancel and context.AfterFunc find the
// AfterFunc method and register a callback instead of starting a goroutine.
// Value answers through context.WithoutCancel(base), which reports no
// cancelCtx ancestor, so context.Cause(r.Context()) is this context's Err
// and children never attach to the base's cancelCtx behind our back.
type reqCtx struct {
	// conn has the base context (Deadline), its values (Value: through
	// WithoutCancel(base)) and the local address (http.LocalAddrContextKey,
	// as net/http sets it); one pointer keeps the exchange, which holds
	// this context, in a smaller allocation class.
	conn *conn

	mu     sync.Mutex
	done   chan struct{} // made on first Done; closedChan if canceled first
	err    error
	funcs  []afterFunc
	nextID uint64
	// fbuf backs funcs for the usual one or two registrations (the
	// upstream transport's, a timeout's): no allocation for the slice.
	fbuf [2]afterFunc
}

type afterFunc struct {
	id uint64
	f  func()
}

var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (c *reqCtx) Deadline() (time.Time, bool) { return c.conn.base.Deadline() }

func (c *reqCtx) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done == nil {
		if c.err != nil {
			c.done = closedChan
		} else {
			c.done = make(chan struct{})
		}
	}
	d := c.done
	c.mu.Unlock()
	return d
}

func (c *reqCtx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	return err
}

func (c *reqCtx) Value(key any) any {
	if key == http.LocalAddrContextKey {
		return c.conn.localAddr
	}
	return c.conn.values.Value(key)
}

func (c *reqCtx) String() string { return "h1server.requestContext" }

// AfterFunc arranges for f to run once c is canceled and returns a function
// that stops that, reporting whether it did. It is the method the context
// package looks for (its afterFuncer interface): with it, children of c are
// canceled by a call instead of a goroutine waiting on Done.
func (c *reqCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.nextID++
	id := c.nextID
	if c.funcs == nil {
		c.funcs = c.fbuf[:0]
	}
	c.funcs = append(c.funcs, afterFunc{id, f})
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, af := range c.funcs {
			if af.id == id {
				c.funcs = append(c.funcs[:i], c.funcs[i+1:]...)
				return true
			}
		}
		return false
	}
}

// cancel cancels c with err (the first call wins) and runs the registered
// functions, outside the lock: the context package's callbacks call Err.
func (c *reqCtx) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for _, af := range funcs {
		af.f()
	}
}

var _ context.Context = (*reqCtx)(nil)
