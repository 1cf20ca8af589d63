package limit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// Options tune a Backend; the zero value is what the plugins use.
type Options struct {
	// Now is a fake clock for tests. It is passed to Redis too, in place of
	// Redis's own clock, and drives the error log's interval.
	Now func() time.Time
	// Local is the store for local decisions (policy local, and
	// on_redis_error local). Default: the process-wide store of the kind.
	Local *Local
	// LogEvery is the least time between two logs of Redis errors of one
	// plugin instance. Default 10s.
	LogEvery time.Duration
	// LeaseTTL is how long a limit-conn lease in Redis lives without being
	// refreshed (the longest a dead gateway's slots stay taken). Default 30s.
	LeaseTTL time.Duration
}

// Backend makes the decisions of one plugin instance: in the local store,
// or in Redis with on_redis_error when Redis fails. It is safe for
// concurrent use.
type Backend struct {
	name  string
	local *Local
	redis *Redis // nil for policy local
	onErr string
	now   func() time.Time
	log   *errLog

	leaseTTL time.Duration
	leaseID  atomic.Uint64
	idPrefix string
	leases   leaseSet
}

// NewBackend returns the backend of plugin kind name configured by c. For
// policy redis it takes the shared client of env.Redis and registers its
// release with env.Cleanup; it fails with ErrNoRedis when env.Redis is nil.
func NewBackend(env plugin.Env, name string, c *Common, o Options) (*Backend, error) {
	b := &Backend{name: name, local: o.Local, onErr: c.OnRedisError, now: o.Now, leaseTTL: o.LeaseTTL}
	if b.local == nil {
		b.local = SharedLocal(name)
	}
	if b.leaseTTL <= 0 {
		b.leaseTTL = 30 * time.Second
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	every := o.LogEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	b.log = &errLog{logger: logger, every: every, now: b.clock, mode: c.OnRedisError}
	if c.Policy != PolicyRedis {
		return b, nil
	}
	if env.Redis == nil {
		return nil, ErrNoRedis
	}
	client, release, err := Client(env.Redis)
	if err != nil {
		return nil, err
	}
	env.Cleanup(release)
	b.redis = &Redis{C: client}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	b.idPrefix = hex.EncodeToString(rnd[:]) + ":"
	return b, nil
}

// RedisKey is the Redis key of a plugin kind's key (scope:material).
func RedisKey(name, key string) string { return "sluice:limit:" + name + ":" + key }

func (b *Backend) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// redisNow is the time argument of the scripts: -1 lets Redis use its clock.
func (b *Backend) redisNow() int64 {
	if b.now != nil {
		return b.now().UnixMicro()
	}
	return -1
}

// Window decides one request of cost units for key (scope:material). The
// error is the context's, when the client left while Redis was asked.
func (b *Backend) Window(ctx context.Context, key string, w Window, cost int64) (Result, error) {
	if b.redis == nil {
		return b.local.Window(key, b.clock(), w, cost), nil
	}
	r, err := b.redis.Window(ctx, RedisKey(b.name, key), b.redisNow(), w, cost)
	if err != nil {
		return b.fallback(ctx, err, func() Result { return b.local.Window(key, b.clock(), w, cost) })
	}
	b.log.ok()
	return r, nil
}

// GCRA decides one request for key.
func (b *Backend) GCRA(ctx context.Context, key string, g GCRA) (Result, error) {
	if b.redis == nil {
		return b.local.GCRA(key, b.clock(), g), nil
	}
	r, err := b.redis.GCRA(ctx, RedisKey(b.name, key), b.redisNow(), g)
	if err != nil {
		return b.fallback(ctx, err, func() Result { return b.local.GCRA(key, b.clock(), g) })
	}
	b.log.ok()
	return r, nil
}

// Acquire takes an in-flight slot for key. An allowed result comes with a
// Lease to release when the request is done (the zero Lease when nothing
// was counted).
func (b *Backend) Acquire(ctx context.Context, key string, c Conn) (Result, Lease, error) {
	if b.redis == nil {
		return b.acquireLocal(key, c)
	}
	id := b.idPrefix + strconv.FormatUint(b.leaseID.Add(1), 36)
	rk := RedisKey(b.name, key)
	r, err := b.redis.Acquire(ctx, rk, b.redisNow(), c, b.leaseTTL, id)
	if err != nil {
		var l Lease
		r, err := b.fallback(ctx, err, func() Result {
			var r Result
			r, l, _ = b.acquireLocal(key, c)
			return r
		})
		return r, l, err
	}
	b.log.ok()
	if !r.Allowed {
		return r, Lease{}, nil
	}
	b.leases.add(b, id, rk)
	return r, Lease{b: b, key: rk, id: id}, nil
}

func (b *Backend) acquireLocal(key string, c Conn) (Result, Lease, error) {
	r := b.local.Acquire(key, c)
	if !r.Allowed {
		return r, Lease{}, nil
	}
	return r, Lease{b: b, key: key}, nil
}

// fallback applies on_redis_error after Redis failed with err.
func (b *Backend) fallback(ctx context.Context, err error, local func() Result) (Result, error) {
	if ctx.Err() != nil {
		return Result{}, ctx.Err() // the client left; that is not Redis's fault
	}
	b.log.failed(err)
	switch b.onErr {
	case OnErrorDeny:
		return Result{Fallback: true, Unavailable: true, Err: err}, nil
	case OnErrorLocal:
		r := local()
		r.Fallback, r.Err = true, err
		return r, nil
	default:
		return Result{Allowed: true, Fallback: true, Err: err}, nil
	}
}

// Lease is an in-flight slot taken by Acquire.
type Lease struct {
	b       *Backend
	key, id string // id "" for a slot in the local store
}

// Release gives the slot back. It is safe on the zero Lease. A Redis lease
// that cannot be released (Redis is down) expires after the lease TTL.
func (l Lease) Release(ctx context.Context) {
	if l.b == nil {
		return
	}
	if l.id == "" {
		l.b.local.Release(l.key)
		return
	}
	l.b.leases.remove(l.id)
	// The client may have gone; the slot must be released all the same.
	if err := l.b.redis.Release(context.WithoutCancel(ctx), l.key, l.id); err != nil {
		l.b.log.failed(err)
	}
}

// leaseSet holds the Redis leases of a Backend's requests in flight, so
// that one goroutine can renew them all while any exist; it exits when the
// set is empty and is started again by the next lease.
type leaseSet struct {
	mu      sync.Mutex
	m       map[string]string // id -> Redis key
	running bool
}

func (s *leaseSet) add(b *Backend, id, key string) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]string)
	}
	s.m[id] = key
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		go s.refresh(b)
	}
}

func (s *leaseSet) remove(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// refresh renews every lease each third of the TTL, so that a lease of a
// live request (a long stream) never expires while one of a dead gateway
// does within the TTL.
func (s *leaseSet) refresh(b *Backend) {
	every := b.leaseTTL / 3
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		<-t.C
		s.mu.Lock()
		if len(s.m) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		byKey := make(map[string][]string)
		for id, key := range s.m {
			byKey[key] = append(byKey[key], id)
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		if err := b.redis.Refresh(ctx, b.redisNow(), b.leaseTTL, byKey); err != nil {
			b.log.failed(err)
		}
		cancel()
		t.Reset(every)
	}
}

// errLog logs Redis failures of one plugin instance at most once per
// interval, with the number of failures since the last line, and once when
// Redis answers again. Nothing it logs comes from the config, so the
// password never reaches the log.
type errLog struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time
	mode   string

	down atomic.Bool // an error was seen and no success since
	mu   sync.Mutex
	last time.Time
	n    int // failures not yet reported
}

func (l *errLog) failed(err error) {
	l.down.Store(true)
	now := l.now()
	l.mu.Lock()
	l.n++
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.mu.Unlock()
		return
	}
	n := l.n
	l.n, l.last = 0, now
	l.mu.Unlock()
	l.logger.Warn("redis failed; deciding by on_redis_error", "on_redis_error", l.mode, "failures", n, "error", err.Error())
}

// ok records a success; it costs one atomic load while Redis is healthy.
func (l *errLog) ok() {
	if !l.down.Load() || !l.down.CompareAndSwap(true, false) {
		return
	}
	l.mu.Lock()
	n := l.n
	l.n = 0
	l.mu.Unlock()
	l.logger.Info("redis answers again", "unreported_failures", n)
}

// Adjust corrects key's Window count by delta units once the request that
// at admitted (the Result of Window for the same key and w) has ended, age
// after its admission; see Window.adjust. The correction goes to the store
// that counted the admission: Redis, or the local store when the admission
// fell back to it (on_redis_error local). An admission nothing counted
// (Redis failed and on_redis_error is allow) is not corrected either. The
// correction is made even if ctx is canceled, since a client that left has
// still used what it used; when Redis fails it is logged and lost.
func (b *Backend) Adjust(ctx context.Context, key string, w Window, delta int64, age time.Duration, at Result) {
	if delta == 0 || !at.Allowed {
		return
	}
	switch {
	case at.Fallback:
		if b.onErr == OnErrorLocal {
			b.local.Adjust(key, b.clock(), w, delta, age)
		}
	case b.redis == nil:
		b.local.Adjust(key, b.clock(), w, delta, age)
	default:
		err := b.redis.Adjust(context.WithoutCancel(ctx), RedisKey(b.name, key), b.redisNow(), w, delta, age)
		if err != nil {
			b.log.failed(err)
			return
		}
		b.log.ok()
	}
}

// Budget decides whether key's running total (kept by Add) is below limit:
// Allowed when it is, with Remaining what is left. It counts nothing.
// When Redis fails, on_redis_error decides as for Window.
func (b *Backend) Budget(ctx context.Context, key string, limit int64) (Result, error) {
	decide := func(total int64) Result {
		if total < limit {
			return Result{Allowed: true, Remaining: limit - total}
		}
		return Result{}
	}
	if b.redis == nil {
		return decide(b.local.Total(key, b.clock())), nil
	}
	total, err := b.redis.Total(ctx, RedisKey(b.name, key))
	if err != nil {
		return b.fallback(ctx, err, func() Result { return decide(b.local.Total(key, b.clock())) })
	}
	b.log.ok()
	return decide(total), nil
}

// Add adds n to key's running total, which lives until exp. It is made
// even if ctx is canceled. When Redis fails the amount is logged and lost,
// unless on_redis_error is local: then the local store's total takes it,
// which is what Budget reads while Redis is down.
func (b *Backend) Add(ctx context.Context, key string, n int64, exp time.Time) {
	now := b.clock()
	if b.redis == nil {
		b.local.Add(key, now, n, exp)
		return
	}
	if _, err := b.redis.Add(context.WithoutCancel(ctx), RedisKey(b.name, key), n, exp.Sub(now)); err != nil {
		b.log.failed(err)
		if b.onErr == OnErrorLocal {
			b.local.Add(key, now, n, exp)
		}
		return
	}
	b.log.ok()
}
