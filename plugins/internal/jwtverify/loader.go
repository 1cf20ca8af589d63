package jwtverify

import (
	"context"
	"errors"
	"sync"
	"time"
)

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	// Timeout bounds each fetch. Default 3s.
	Timeout time.Duration
	// Refresh is the age after which a value is fetched again, in the
	// background, by the next Get; the old value is served meanwhile and
	// kept if the fetch fails. 0: never refetched unless Get asks.
	Refresh time.Duration
	// MinInterval is the least time between the starts of two fetches, so
	// that neither a provider that is down nor a stream of tokens with
	// random kids can make the gateway fetch more often. Default 10s.
	MinInterval time.Duration
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
	// OnError is called with each failed fetch (at most once per
	// MinInterval, which makes it a log line that cannot flood), and
	// OnRecover after the first success that follows failures. Either may
	// be nil.
	OnError   func(error)
	OnRecover func()
}

func (o *LoaderOptions) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 10 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// ErrClosed is the error of a Loader used after Close.
var ErrClosed = errors.New("closed")

// A Loader keeps one value fetched over the network (a JWK set, a discovery
// document). Fetches run one at a time in a goroutine of the Loader, on a
// context of their own, so a client that goes away never cancels a fetch
// that others wait for. A Loader never blocks a request longer than one
// fetch's Timeout, and only a request that has no usable value waits at all.
// Methods are safe for concurrent use.
type Loader[T any] struct {
	fetch  func(context.Context) (T, error)
	o      LoaderOptions
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	val       T
	have      bool
	fetched   time.Time     // when val arrived
	attempted time.Time     // when the last fetch started; zero before the first
	err       error         // the last fetch's error, nil after a success
	inflight  chan struct{} // closed when the running fetch ends; nil when none runs
	closed    bool
}

// NewLoader returns a Loader of fetch. Nothing is fetched until Get or
// Prefetch. Close it to stop a fetch in flight.
func NewLoader[T any](fetch func(context.Context) (T, error), o LoaderOptions) *Loader[T] {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Loader[T]{fetch: fetch, o: o, ctx: ctx, cancel: cancel}
}

// Get returns the current value. With no value yet, or with refresh set
// (the caller found the value lacking, such as a key set without the
// token's kid), it starts a fetch if MinInterval allows and waits for it
// (or for ctx). A stale value is returned at once and refetched in the
// background. With no value at all it returns the last fetch's error.
func (l *Loader[T]) Get(ctx context.Context, refresh bool) (T, error) {
	l.mu.Lock()
	now := l.o.Clock()
	canTry := l.attempted.IsZero() || now.Sub(l.attempted) >= l.o.MinInterval
	if l.have && !refresh {
		if l.o.Refresh > 0 && now.Sub(l.fetched) >= l.o.Refresh && canTry && l.inflight == nil {
			l.start(now)
		}
		v := l.val
		l.mu.Unlock()
		return v, nil
	}
	wait := l.inflight
	if wait == nil && canTry {
		wait = l.start(now)
	}
	l.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.have {
		return l.val, nil
	}
	var zero T
	switch {
	case l.err != nil:
		return zero, l.err
	case ctx.Err() != nil:
		return zero, ctx.Err()
	}
	return zero, errors.New("not fetched yet")
}

// Prefetch starts a fetch in the background if there is no value yet and
// MinInterval allows, without waiting for it.
func (l *Loader[T]) Prefetch() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.o.Clock()
	if !l.have && l.inflight == nil && (l.attempted.IsZero() || now.Sub(l.attempted) >= l.o.MinInterval) {
		l.start(now)
	}
}

// start runs a fetch in the background; l.mu is held.
func (l *Loader[T]) start(now time.Time) chan struct{} {
	ch := make(chan struct{})
	l.attempted = now
	if l.closed {
		l.err = ErrClosed
		close(ch)
		return ch
	}
	l.inflight = ch
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx, cancel := context.WithTimeout(l.ctx, l.o.Timeout)
		v, err := l.fetch(ctx)
		cancel()
		l.mu.Lock()
		recovered := err == nil && l.err != nil
		if err == nil {
			l.val, l.have, l.fetched, l.err = v, true, l.o.Clock(), nil
		} else {
			l.err = err
		}
		l.mu.Unlock()
		// The hooks run before waiters are released, so that whoever waits
		// for this fetch also sees its log line.
		switch {
		case err != nil && l.o.OnError != nil:
			l.o.OnError(err)
		case recovered && l.o.OnRecover != nil:
			l.o.OnRecover()
		}
		l.mu.Lock()
		l.inflight = nil
		close(ch)
		l.mu.Unlock()
	}()
	return ch
}

// Wait blocks until the fetch in flight, if any, has ended (tests use it to
// see the result of a background refresh).
func (l *Loader[T]) Wait() {
	l.mu.Lock()
	ch := l.inflight
	l.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// Close cancels a fetch in flight and waits for it; later Gets fetch
// nothing. It returns nil, so that it can go to plugin.Env.Cleanup.
func (l *Loader[T]) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return nil
}
