package aicache

import (
	"container/list"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// store keeps entries by key. Both methods are safe for concurrent use.
type store interface {
	// get returns the live entry of k, or nil and no error when there is
	// none.
	get(ctx context.Context, k key, now time.Time) (*entry, error)
	// put keeps e under k for ttl from now and calls done with the
	// outcome, at once or later from another goroutine. It never blocks
	// on the network.
	put(k key, e *entry, now time.Time, ttl time.Duration, done func(error))
}

// memStore is an LRU of entries with an expiry each, bounded by a count
// and by bytes. Expired entries are dropped when they are found and when
// they reach the cold end.
type memStore struct {
	maxEntries int
	maxBytes   int64

	mu    sync.Mutex
	bytes int64
	ll    list.List // of *memItem, most recently used first
	m     map[key]*list.Element
}

type memItem struct {
	k   key
	e   *entry
	exp time.Time
	n   int64 // e.size()
}

func newMemStore(maxEntries int, maxBytes int64) *memStore {
	return &memStore{maxEntries: maxEntries, maxBytes: maxBytes, m: map[key]*list.Element{}}
}

func (s *memStore) get(_ context.Context, k key, now time.Time) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := s.m[k]
	if el == nil {
		return nil, nil
	}
	it := el.Value.(*memItem)
	if !now.Before(it.exp) {
		s.remove(el)
		return nil, nil
	}
	s.ll.MoveToFront(el)
	return it.e, nil
}

func (s *memStore) put(k key, e *entry, now time.Time, ttl time.Duration, done func(error)) {
	it := &memItem{k: k, e: e, exp: now.Add(ttl), n: e.size()}
	if it.n > s.maxBytes {
		done(errors.New("entry larger than max_memory"))
		return
	}
	s.mu.Lock()
	if el := s.m[k]; el != nil {
		s.remove(el)
	}
	s.m[k] = s.ll.PushFront(it)
	s.bytes += it.n
	for s.ll.Len() > s.maxEntries || s.bytes > s.maxBytes {
		s.remove(s.ll.Back())
	}
	// Expired entries at the cold end go now rather than when evicted.
	for el := s.ll.Back(); el != nil && !now.Before(el.Value.(*memItem).exp); el = s.ll.Back() {
		s.remove(el)
	}
	s.mu.Unlock()
	done(nil)
}

func (s *memStore) remove(el *list.Element) {
	it := s.ll.Remove(el).(*memItem)
	delete(s.m, it.k)
	s.bytes -= it.n
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ll.Len()
}

// memKey names a shared memory store.
type memKey struct {
	route      string
	maxEntries int
	maxBytes   int64
}

type sharedMem struct {
	s    *memStore
	refs int
}

// mems holds the memory stores of every route, so that a config reload,
// which builds the new generation's plugins before the old one retires,
// keeps the route's cache: the store lives while some generation uses it.
// Changing max_entries or max_memory starts an empty one.
var mems = struct {
	sync.Mutex
	m map[memKey]*sharedMem
}{m: map[memKey]*sharedMem{}}

// sharedMemory returns the memory store of route with these bounds and a
// release func that drops it once every user has released it.
func sharedMemory(route string, maxEntries int, maxBytes int64) (*memStore, func() error) {
	k := memKey{route, maxEntries, maxBytes}
	mems.Lock()
	defer mems.Unlock()
	sm := mems.m[k]
	if sm == nil {
		sm = &sharedMem{s: newMemStore(maxEntries, maxBytes)}
		mems.m[k] = sm
	}
	sm.refs++
	var once sync.Once
	return sm.s, func() error {
		once.Do(func() {
			mems.Lock()
			defer mems.Unlock()
			if sm.refs--; sm.refs == 0 {
				delete(mems.m, k)
			}
		})
		return nil
	}
}

// redisStore keeps each entry as one string with an expiry: GET to look
// up, SET with PX (or EX) to store, written in the background so that a
// slow or dead Redis never holds a response.
type redisStore struct {
	c      redis.UniversalClient
	prefix string
	// slots bounds the writes in flight; a store that finds none free is
	// dropped (and counted as a store error) rather than queued.
	slots chan struct{}
	wg    sync.WaitGroup
	// pausedUntil (Unix nanoseconds) is set after a failure: until then
	// the store fails at once instead of asking Redis, so that a Redis
	// that is unreachable (rather than refusing) costs requests a timeout
	// once per pause, not every time.
	pausedUntil atomic.Int64
}

// redisPause is how long the store stays away from Redis after a failure.
const redisPause = time.Second

var errPaused = errors.New("redis failed less than a second ago; not asked")

// paused reports whether the store is pausing after a failure.
func (s *redisStore) paused() bool {
	return time.Now().UnixNano() < s.pausedUntil.Load()
}

// failed starts a pause after a Redis failure (not a miss, not a request
// the client gave up).
func (s *redisStore) failed(err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		s.pausedUntil.Store(time.Now().Add(redisPause).UnixNano())
	}
}

// maxPendingStores bounds the background Redis writes of one plugin
// instance.
const maxPendingStores = 64

// storeTimeout bounds one background write to Redis, on top of the
// client's own per-command timeouts.
const storeTimeout = 10 * time.Second

var errBusy = errors.New("too many stores in flight; answer not stored")

func newRedisStore(c redis.UniversalClient, prefix string) *redisStore {
	return &redisStore{c: c, prefix: prefix, slots: make(chan struct{}, maxPendingStores)}
}

func (s *redisStore) name(k key) string {
	return s.prefix + hex.EncodeToString(k[:])
}

func (s *redisStore) get(ctx context.Context, k key, _ time.Time) (*entry, error) {
	if s.paused() {
		return nil, errPaused
	}
	b, err := s.c.Get(ctx, s.name(k)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		s.failed(err)
		return nil, err
	}
	return decodeEntry(b)
}

func (s *redisStore) put(k key, e *entry, _ time.Time, ttl time.Duration, done func(error)) {
	if s.paused() {
		done(errPaused)
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		done(errBusy)
		return
	}
	b, name := e.encode(), s.name(k)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		err := s.c.Set(ctx, name, b, ttl).Err()
		s.failed(err)
		done(err)
	}()
}

// wait waits for the writes in flight (for tests).
func (s *redisStore) wait() { s.wg.Wait() }

// errLog logs store failures of one plugin instance at most once per
// interval, with the number of failures since the last line, and once
// when the store works again: a Redis outage must not log every request.
type errLog struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	down atomic.Bool // a failure was seen and no success since
	mu   sync.Mutex
	last time.Time
	n    int // failures not yet reported
}

func (l *errLog) failed(op string, err error) {
	now := l.now()
	l.down.Store(true)
	l.mu.Lock()
	l.n++
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.mu.Unlock()
		return
	}
	n := l.n
	l.n, l.last = 0, now
	l.mu.Unlock()
	l.logger.Warn("ai-cache store failed; serving without it", "op", op, "failures", n, "error", err.Error())
}

// ok records a stored entry; it costs one atomic load while the store
// works.
func (l *errLog) ok() {
	if !l.down.Load() || !l.down.CompareAndSwap(true, false) {
		return
	}
	l.mu.Lock()
	n := l.n
	l.n = 0
	l.mu.Unlock()
	l.logger.Info("ai-cache store works again", "unreported_failures", n)
}
