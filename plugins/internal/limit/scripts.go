package limit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every decision is one script call on one key: atomic (Redis runs a script
// alone), one round trip (EVALSHA, and EVAL once after a Redis restart
// emptied the script cache), and trivially in one hash slot for Cluster.
//
// Time is the first argument in microseconds; -1 means Redis's own clock
// (TIME), which is what the gateway uses, so that gateways with skewed
// clocks still agree on windows. Tests pass a fake clock instead.
//
// Numbers are written back with %.0f: Lua's default formatting would print
// microsecond timestamps in exponent form and lose digits.

const luaNow = `
if redis.replicate_commands then redis.replicate_commands() end
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`

// windowScript: KEYS[1] is a hash {w: window index, c: count, p: count of
// the window before}. ARGV: now, size (us), limit, cost, sliding (1 or 0).
// Returns {allowed, remaining, reset (us), retry after (us), 0}.
var windowScript = redis.NewScript(luaNow + `
local size, limit, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local sliding = ARGV[5] == '1'
local h = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w, cur, prev = tonumber(h[1]) or -1, tonumber(h[2]) or 0, tonumber(h[3]) or 0
local idx = math.floor(now / size)
if idx * size > now then idx = idx - 1 end
if w > idx then idx = w end
if w == idx then
elseif w == idx - 1 then prev = cur; cur = 0
else prev = 0; cur = 0 end
local elapsed = now - idx * size
if elapsed < 0 then elapsed = 0 end
local est = 0
if sliding then est = prev * (size - elapsed) / size end
local reset = size - elapsed
if est + cur + cost > limit then
  local retry
  if not sliding then
    retry = size - elapsed
  elseif cur + cost <= limit then
    retry = math.ceil(size - (limit - cur - cost) * size / prev) - elapsed
    if retry < 1 then retry = 1 end
  else
    local need = 0
    if cur > 0 then need = math.ceil(size - (limit - cost) * size / cur) end
    if need < 0 then need = 0 end
    retry = size - elapsed + need
  end
  return {0, 0, reset, retry, 0}
end
cur = cur + cost
local ttl = size - elapsed
if sliding then ttl = ttl + size end
redis.call('HSET', KEYS[1], 'w', string.format('%.0f', idx), 'c', string.format('%.0f', cur), 'p', string.format('%.0f', prev))
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000))
local rem = math.floor(limit - est - cur)
if rem < 0 then rem = 0 end
return {1, rem, reset, 0, 0}
`)

// gcraScript: KEYS[1] is a string, the theoretical arrival time (us).
// ARGV: now, interval (us), tolerance (us).
// Returns {allowed, remaining, reset (us), retry after (us), delay (us)}.
var gcraScript = redis.NewScript(luaNow + `
local iv, tol = tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - now
if wait > tol then return {0, 0, wait, wait - tol, 0} end
tat = tat + iv
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return {1, math.floor((tol + iv - (tat - now)) / iv), tat - now, 0, wait}
`)

// luaKeepAlive extends KEYS[1]'s expiry to ttl from now, never shortening
// it (an instance with a longer lease_ttl may share the key).
const luaKeepAlive = `
local ms = math.ceil(ttl / 1000)
if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
`

// acquireScript: KEYS[1] is a sorted set of leases: member = lease id,
// score = expiry (us). Expired leases (of a gateway that died) are dropped
// first. ARGV: now, lease ttl (us), most in flight (conn + burst), lease id.
// Returns {allowed, in flight including this one if allowed}.
var acquireScript = redis.NewScript(luaNow + `
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
local n = redis.call('ZCARD', KEYS[1]) + 1
if n > tonumber(ARGV[3]) then return {0, n - 1} end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[4])
` + luaKeepAlive + `
return {1, n}
`)

// refreshScript: renews leases still in flight. KEYS[1] is a lease set.
// ARGV: now, lease ttl (us), lease ids. A lease Redis lost (a restart) is
// added back: its request is still running.
var refreshScript = redis.NewScript(luaNow + `
local ttl = tonumber(ARGV[2])
local exp = string.format('%.0f', now + ttl)
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], exp, ARGV[i]) end
` + luaKeepAlive + `
return 0
`)

// Redis is the Redis store. Its methods take now in microseconds since the
// epoch, or -1 for Redis's clock.
type Redis struct {
	C redis.UniversalClient
}

func decode(v []int64, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	if len(v) != 5 {
		return Result{}, fmt.Errorf("redis: limit script returned %d values, want 5", len(v))
	}
	return Result{Allowed: v[0] == 1, Remaining: v[1], Reset: usec(v[2]), RetryAfter: usec(v[3]), Delay: usec(v[4])}, nil
}

func b2s(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Window decides one request of cost units for key.
func (s Redis) Window(ctx context.Context, key string, now int64, w Window, cost int64) (Result, error) {
	return decode(windowScript.Run(ctx, s.C, []string{key},
		now, w.Size.Microseconds(), w.Limit, cost, b2s(w.Sliding)).Int64Slice())
}

// GCRA decides one request for key.
func (s Redis) GCRA(ctx context.Context, key string, now int64, g GCRA) (Result, error) {
	return decode(gcraScript.Run(ctx, s.C, []string{key},
		now, g.Interval.Microseconds(), g.Tolerance.Microseconds()).Int64Slice())
}

// Acquire takes a lease on an in-flight slot of key for ttl. If the result
// is allowed, the caller must Release(key, id) when done and have the lease
// refreshed while it runs longer than ttl.
func (s Redis) Acquire(ctx context.Context, key string, now int64, c Conn, ttl time.Duration, id string) (Result, error) {
	v, err := acquireScript.Run(ctx, s.C, []string{key}, now, ttl.Microseconds(), c.Max+c.Burst, id).Int64Slice()
	if err != nil {
		return Result{}, err
	}
	if len(v) != 2 {
		return Result{}, fmt.Errorf("redis: acquire script returned %d values, want 2", len(v))
	}
	if v[0] != 1 {
		return Result{}, nil
	}
	return c.admit(v[1]), nil
}

// Release gives back a lease.
func (s Redis) Release(ctx context.Context, key, id string) error {
	return s.C.ZRem(ctx, key, id).Err()
}

// Refresh renews the leases (key -> ids) for ttl, in one pipelined round
// trip. It sends the script text (EVAL) rather than its hash, as a pipeline
// cannot fall back from NOSCRIPT; it runs only every ttl/3.
func (s Redis) Refresh(ctx context.Context, now int64, ttl time.Duration, leases map[string][]string) error {
	if len(leases) == 0 {
		return nil
	}
	_, err := s.C.Pipelined(ctx, func(p redis.Pipeliner) error {
		for key, ids := range leases {
			args := make([]any, 0, 2+len(ids))
			args = append(args, strconv.FormatInt(now, 10), ttl.Microseconds())
			for _, id := range ids {
				args = append(args, id)
			}
			refreshScript.Eval(ctx, p, []string{key}, args...)
		}
		return nil
	})
	return err
}

// adjustScript corrects a window's count after the fact (Window.adjust in
// algo.go, the same arithmetic). KEYS[1] is windowScript's hash. ARGV:
// now, size (us), delta, age (us), sliding (1 or 0). Returns 1 when it
// wrote, 0 when there was nothing to correct.
var adjustScript = redis.NewScript(luaNow + `
local size, delta, age = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local sliding = ARGV[5] == '1'
local h = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
if not h[1] and delta <= 0 then return 0 end
local w, cur, prev = tonumber(h[1]) or -1, tonumber(h[2]) or 0, tonumber(h[3]) or 0
local idx = math.floor(now / size)
if idx * size > now then idx = idx - 1 end
if w > idx then idx = w end
if w == idx then
elseif w == idx - 1 then prev = cur; cur = 0
else prev = 0; cur = 0 end
if delta >= 0 then
  cur = cur + delta
else
  local at = math.floor((now - age) / size)
  if at * size > now - age then at = at - 1 end
  if at == idx then
    cur = math.max(cur + delta, 0)
  elseif at == idx - 1 then
    prev = math.max(prev + delta, 0)
  else
    return 0
  end
end
local elapsed = now - idx * size
if elapsed < 0 then elapsed = 0 end
local ttl = size - elapsed
if sliding then ttl = ttl + size end
redis.call('HSET', KEYS[1], 'w', string.format('%.0f', idx), 'c', string.format('%.0f', cur), 'p', string.format('%.0f', prev))
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000))
return 1
`)

// addScript adds to a running total (ai-budget's spend in a period).
// KEYS[1] is a string holding an integer. ARGV: n, ttl (ms). The expiry is
// extended to ttl, never shortened (gateways' clocks differ a little).
// Returns the new total.
var addScript = redis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return n
`)

// Adjust corrects key's window count by delta for a request admitted age
// ago; see Window.adjust.
func (s Redis) Adjust(ctx context.Context, key string, now int64, w Window, delta int64, age time.Duration) error {
	return adjustScript.Run(ctx, s.C, []string{key},
		now, w.Size.Microseconds(), delta, age.Microseconds(), b2s(w.Sliding)).Err()
}

// Total returns key's running total, 0 when Redis does not hold it.
func (s Redis) Total(ctx context.Context, key string) (int64, error) {
	n, err := s.C.Get(ctx, key).Int64()
	if err == redis.Nil {
		return 0, nil
	}
	return n, err
}

// Add adds n to key's running total, which lives at least ttl more, and
// returns the new total.
func (s Redis) Add(ctx context.Context, key string, n int64, ttl time.Duration) (int64, error) {
	return addScript.Run(ctx, s.C, []string{key}, n, max(ttl.Milliseconds(), 1)).Int64()
}
