package basicauth

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/secret"
)

// cache remembers recent successful logins, keyed by the SHA-256 digest of
// the user-pass, so that a client sending the same credentials on every
// request pays for bcrypt or argon2id once per TTL instead of every time.
// Failures are never cached: each wrong password costs a full check.
//
// Hits take a read lock and touch an atomic timestamp; only inserts, which
// follow a full hash check of tens of milliseconds, take the write lock and
// may scan the whole map to evict the least recently used entry. An O(size)
// scan is noise next to the hash check that precedes it.
type cache struct {
	ttl  time.Duration
	size int
	now  func() time.Duration // monotonic time since the cache was made

	mu sync.RWMutex
	m  map[secret.Digest]*cacheEntry
}

type cacheEntry struct {
	consumer *plugin.Consumer
	expires  time.Duration
	used     atomic.Int64 // time.Duration of the last hit
}

func newCache(ttl time.Duration, size int) *cache {
	start := time.Now()
	return &cache{
		ttl:  ttl,
		size: size,
		now:  func() time.Duration { return time.Since(start) },
		m:    make(map[secret.Digest]*cacheEntry, min(size, 64)),
	}
}

// get returns the consumer cached under k, if it has not expired.
func (c *cache) get(k secret.Digest) (*plugin.Consumer, bool) {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	now := c.now()
	if now >= e.expires {
		return nil, false
	}
	e.used.Store(int64(now))
	return e.consumer, true
}

// put caches consumer under k for the TTL, evicting expired entries and then
// the least recently used one when the cache is full.
func (c *cache) put(k secret.Digest, consumer *plugin.Consumer) {
	now := c.now()
	e := &cacheEntry{consumer: consumer, expires: now + c.ttl}
	e.used.Store(int64(now))
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.size {
		var lru secret.Digest
		oldest := time.Duration(1<<63 - 1)
		for d, o := range c.m {
			if now >= o.expires {
				delete(c.m, d)
				continue
			}
			if u := time.Duration(o.used.Load()); u < oldest {
				lru, oldest = d, u
			}
		}
		if len(c.m) >= c.size {
			delete(c.m, lru)
		}
	}
	c.m[k] = e
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
