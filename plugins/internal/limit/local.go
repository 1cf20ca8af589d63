package limit

import (
	"hash/maphash"
	"sync"
	"time"
)

const (
	shardCount = 64
	// maxShardKeys bounds a shard's map: about a million keys per store in
	// all, whatever clients send (think IPv6 addresses).
	maxShardKeys = 1 << 14
	// sweepEvery is how often a shard drops expired keys, at the latest;
	// a full shard sweeps at once.
	sweepEvery = 10 * time.Second
)

// Local is an in-process store: 64 shards, each a map under its own mutex,
// so concurrent requests for different keys rarely wait on each other.
// Expired keys are dropped by a sweep of the shard that a new key goes to,
// at most every 10 seconds or when the shard is full; a full shard whose
// keys have not expired evicts one (forgetting its counts) rather than grow.
// There is no goroutine, so a Local needs no closing.
type Local struct {
	seed   maphash.Seed
	shards [shardCount]shard
	max    int // keys per shard
}

type shard struct {
	mu        sync.Mutex
	m         map[string]state
	lastSweep int64
	_         [40]byte // keep shards on separate cache lines
}

// NewLocal returns an empty store.
func NewLocal() *Local {
	l := &Local{seed: maphash.MakeSeed(), max: maxShardKeys}
	for i := range l.shards {
		l.shards[i].m = make(map[string]state)
	}
	return l
}

// shared holds the process-wide local stores, one per plugin kind. Keys
// carry the route (or group) and the plugin's key, so instances never mix;
// sharing the store across config generations is what keeps counters (and
// limit-conn's in-flight counts) across a reload.
var shared sync.Map // kind name -> *Local

// SharedLocal returns the process-wide store of the plugin kind name.
func SharedLocal(name string) *Local {
	if l, ok := shared.Load(name); ok {
		return l.(*Local)
	}
	l, _ := shared.LoadOrStore(name, NewLocal())
	return l.(*Local)
}

func (l *Local) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)&(shardCount-1)]
}

// Window decides one request of cost units for key at now.
func (l *Local) Window(key string, now time.Time, w Window, cost int64) Result {
	us := now.UnixMicro()
	sh := l.shard(key)
	sh.mu.Lock()
	s, ok := sh.m[key]
	if ok && s.exp <= us {
		s = state{}
	}
	r := w.take(&s, us, cost)
	if r.Allowed {
		sh.put(l, key, s, ok, us)
	}
	sh.mu.Unlock()
	return r
}

// GCRA decides one request for key at now.
func (l *Local) GCRA(key string, now time.Time, g GCRA) Result {
	us := now.UnixMicro()
	sh := l.shard(key)
	sh.mu.Lock()
	s, ok := sh.m[key]
	if ok && s.exp <= us {
		s = state{}
	}
	r := g.take(&s, us)
	if r.Allowed {
		sh.put(l, key, s, ok, us)
	}
	sh.mu.Unlock()
	return r
}

// Acquire takes an in-flight slot for key. If the result is allowed the
// caller must call Release(key) when the request is done.
func (l *Local) Acquire(key string, c Conn) Result {
	sh := l.shard(key)
	sh.mu.Lock()
	s, ok := sh.m[key]
	r := c.admit(s.a + 1)
	if r.Allowed {
		s.a++
		s.exp = 0
		sh.put(l, key, s, ok, 0)
	}
	sh.mu.Unlock()
	return r
}

// Release gives back a slot taken by Acquire.
func (l *Local) Release(key string) {
	sh := l.shard(key)
	sh.mu.Lock()
	if s, ok := sh.m[key]; ok {
		if s.a <= 1 {
			delete(sh.m, key)
		} else {
			s.a--
			sh.m[key] = s
		}
	}
	sh.mu.Unlock()
}

// put stores s; for a new key it first sweeps if due, keeping the shard
// within l.max. The caller holds sh.mu.
func (sh *shard) put(l *Local, key string, s state, existed bool, now int64) {
	if !existed {
		if now == 0 {
			now = time.Now().UnixMicro()
		}
		if len(sh.m) >= l.max || now-sh.lastSweep >= sweepEvery.Microseconds() {
			sh.sweep(now)
		}
		if len(sh.m) >= l.max {
			for k, v := range sh.m {
				if v.exp != 0 { // never forget in-flight counts
					delete(sh.m, k)
					break
				}
			}
		}
	}
	sh.m[key] = s
}

func (sh *shard) sweep(now int64) {
	sh.lastSweep = now
	for k, v := range sh.m {
		if v.exp != 0 && v.exp <= now {
			delete(sh.m, k)
		}
	}
}

// Len returns the number of keys held, for tests and debugging.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Adjust corrects key's Window count by delta units at now, for a request
// admitted age ago (see Window.adjust). A key the store does not hold
// takes charges but not refunds.
func (l *Local) Adjust(key string, now time.Time, w Window, delta int64, age time.Duration) {
	us := now.UnixMicro()
	sh := l.shard(key)
	sh.mu.Lock()
	s, held := sh.m[key]
	live := held && s.exp > us
	if !live {
		s = state{}
	}
	if (live || delta > 0) && w.adjust(&s, us, delta, age.Microseconds()) {
		sh.put(l, key, s, held, us)
	}
	sh.mu.Unlock()
}

// Total returns key's running total (see Add) at now: 0 when the store
// does not hold it or it expired.
func (l *Local) Total(key string, now time.Time) int64 {
	us := now.UnixMicro()
	sh := l.shard(key)
	sh.mu.Lock()
	s, ok := sh.m[key]
	sh.mu.Unlock()
	if !ok || s.exp <= us {
		return 0
	}
	return s.a
}

// Add adds n to key's running total at now and returns the new total. The
// total lives until exp at least (an earlier exp does not shorten it); an
// expired one starts again from zero.
func (l *Local) Add(key string, now time.Time, n int64, exp time.Time) int64 {
	us := now.UnixMicro()
	sh := l.shard(key)
	sh.mu.Lock()
	s, ok := sh.m[key]
	if ok && s.exp <= us {
		s = state{}
	}
	s.a += n
	s.exp = max(s.exp, exp.UnixMicro(), us+1)
	sh.put(l, key, s, ok, us)
	total := s.a
	sh.mu.Unlock()
	return total
}
