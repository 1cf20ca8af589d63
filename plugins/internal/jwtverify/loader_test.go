package jwtverify_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
)

// source is a fetch function whose answers a test scripts.
type source struct {
	mu    sync.Mutex
	calls int
	val   int
	err   error
	gate  chan struct{} // if set, each fetch waits for it (or ctx)
}

func (s *source) fetch(ctx context.Context) (int, error) {
	s.mu.Lock()
	s.calls++
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.val, s.err
}

func (s *source) set(val int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.val, s.err = val, err
}

func (s *source) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func TestLoader(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Unix(1_700_000_000, 0))
	src := &source{val: 1}
	var errs []string
	var mu sync.Mutex
	l := jwtverify.NewLoader(src.fetch, jwtverify.LoaderOptions{
		Refresh:     time.Minute,
		MinInterval: 10 * time.Second,
		Clock:       clk.Now,
		OnError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err.Error())
		},
		OnRecover: func() {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, "recovered")
		},
	})
	defer l.Close()
	ctx := context.Background()
	step := func(name string, refresh bool, wantVal, wantCalls int, wantErr bool) {
		t.Helper()
		v, err := l.Get(ctx, refresh)
		l.Wait()
		if v != wantVal || (err != nil) != wantErr || src.count() != wantCalls {
			t.Fatalf("%s: Get = %d, %v after %d fetches; want %d (error %v) after %d", name, v, err, src.count(), wantVal, wantErr, wantCalls)
		}
	}
	step("first use fetches", false, 1, 1, false)
	step("cached", false, 1, 1, false)
	src.set(2, nil)
	step("refresh asked within MinInterval: no fetch", true, 1, 1, false)
	clk.Add(10 * time.Second)
	step("refresh asked after MinInterval", true, 2, 2, false)
	clk.Add(59 * time.Second)
	step("fresh for Refresh", false, 2, 2, false)
	src.set(3, nil)
	clk.Add(time.Second)
	step("stale: old value now, fetch in the background", false, 2, 3, false)
	step("new value after the background fetch", false, 3, 3, false)
	src.set(4, errors.New("provider down"))
	clk.Add(time.Minute)
	step("stale and failing: old value kept", false, 3, 4, false)
	step("failure is not retried within MinInterval", true, 3, 4, false)
	clk.Add(10 * time.Second)
	step("retried after MinInterval", false, 3, 5, false)
	src.set(5, nil)
	clk.Add(10 * time.Second)
	step("recovers", false, 3, 6, false)
	step("recovered value", false, 5, 6, false)
	mu.Lock()
	if fmt.Sprint(errs) != "[provider down provider down recovered]" {
		t.Errorf("hooks saw %q", errs)
	}
	mu.Unlock()
}

func TestLoaderNoValue(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Unix(1_700_000_000, 0))
	src := &source{err: errors.New("connection refused")}
	l := jwtverify.NewLoader(src.fetch, jwtverify.LoaderOptions{MinInterval: time.Minute, Clock: clk.Now})
	defer l.Close()
	for i := range 5 {
		if _, err := l.Get(context.Background(), false); err == nil || err.Error() != "connection refused" {
			t.Fatalf("Get #%d = %v; want the fetch error", i, err)
		}
	}
	if src.count() != 1 {
		t.Errorf("%d fetches within MinInterval; want 1", src.count())
	}
	src.set(7, nil)
	clk.Add(time.Minute)
	if v, err := l.Get(context.Background(), false); v != 7 || err != nil {
		t.Errorf("Get after MinInterval = %d, %v", v, err)
	}
}

func TestLoaderOneFetchForManyWaiters(t *testing.T) {
	t.Parallel()
	src := &source{val: 9, gate: make(chan struct{})}
	l := jwtverify.NewLoader(src.fetch, jwtverify.LoaderOptions{})
	defer l.Close()
	var wg sync.WaitGroup
	var got atomic.Int64
	for range 20 {
		wg.Go(func() {
			if v, err := l.Get(context.Background(), false); err == nil {
				got.Add(int64(v))
			}
		})
	}
	// Every goroutine is either waiting for the one fetch or will find its
	// value; release the fetch.
	for src.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(src.gate)
	wg.Wait()
	if src.count() != 1 || got.Load() != 20*9 {
		t.Errorf("%d fetches, sum %d; want 1 fetch, sum %d", src.count(), got.Load(), 20*9)
	}
}

func TestLoaderWaiterGivesUp(t *testing.T) {
	t.Parallel()
	src := &source{val: 1, gate: make(chan struct{})}
	l := jwtverify.NewLoader(src.fetch, jwtverify.LoaderOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Get(ctx, false); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled ctx = %v; want context.Canceled", err)
	}
	// The fetch goes on for others; Close cancels it and waits.
	l.Close()
	if _, err := l.Get(context.Background(), true); err == nil {
		t.Error("Get after Close succeeded")
	}
}

func TestLoaderClosed(t *testing.T) {
	t.Parallel()
	src := &source{val: 1}
	l := jwtverify.NewLoader(src.fetch, jwtverify.LoaderOptions{})
	l.Close()
	l.Prefetch()
	if _, err := l.Get(context.Background(), false); !errors.Is(err, jwtverify.ErrClosed) {
		t.Errorf("Get after Close = %v; want ErrClosed", err)
	}
	if src.count() != 0 {
		t.Errorf("%d fetches after Close", src.count())
	}
}

func TestLoaderTimeout(t *testing.T) {
	t.Parallel()
	src := &source{gate: make(chan struct{})} // never answers
	l := jwtverify.NewLoader(src.fetch, jwtverify.LoaderOptions{Timeout: time.Millisecond})
	defer l.Close()
	if _, err := l.Get(context.Background(), false); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get = %v; want the fetch's deadline", err)
	}
}
