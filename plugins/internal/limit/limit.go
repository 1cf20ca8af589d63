// Package limit is the machinery shared by the limit-count, limit-req,
// limit-conn, ai-rate-limiting and ai-budget plugins: the algorithms (fixed
// and sliding windows and their corrections, GCRA, a concurrency count,
// running totals), an in-process sharded store, a Redis store that makes
// each decision in one atomic script call, the on_redis_error fallback, the
// request key builder and the IETF RateLimit header fields.
//
// The algorithms are written twice, in Go for the local store and in Lua for
// Redis, with the same arithmetic in the same order (float64 where a
// fraction is needed, integer microseconds for time), so that one table of
// cases checks both stores.
package limit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Result is one decision.
type Result struct {
	Allowed bool
	// Remaining is the quota left after this request (the r of the
	// RateLimit field); 0 when rejected.
	Remaining int64
	// Reset is the time until the current window ends (the t of the
	// RateLimit field). Zero for limits without a window (limit-conn).
	Reset time.Duration
	// RetryAfter is, for a rejected request, the time until the same
	// request could pass.
	RetryAfter time.Duration
	// Delay is, for an allowed request, how long it must wait to conform
	// (limit-req's leaky bucket, limit-conn's burst).
	Delay time.Duration
	// Fallback reports a decision made without Redis because Redis failed;
	// how it was made follows on_redis_error.
	Fallback bool
	// Unavailable reports that Redis failed and on_redis_error is deny:
	// the request must be refused with 503, not 429.
	Unavailable bool
	// Err is the Redis error behind a fallback, for the log.
	Err error
}

// Policy says where counters live: this process, or Redis shared by every
// gateway.
const (
	PolicyLocal = "local"
	PolicyRedis = "redis"
)

// What to do when Redis fails (on_redis_error).
const (
	OnErrorAllow = "allow" // let the request through (Kong's fault_tolerant)
	OnErrorDeny  = "deny"  // refuse it with 503 limit_unavailable
	OnErrorLocal = "local" // decide with an in-process limiter of the same params
)

// Common holds the keys every limit plugin has, for validation and for
// NewBackend. Each plugin declares the keys in its own Config (an embedded
// struct would make encoding/json name its type in decode errors, as
// "Common.key") and passes them here.
type Common struct {
	Key          Key    // key: default ip
	Policy       string // policy: local (default) or redis
	OnRedisError string // on_redis_error: allow (default), deny or local
	RejectedCode int    // rejected_code: default 429
	RejectedMsg  string // rejected_msg: default "too many requests"
}

// DefaultCommon returns Common with its defaults.
func DefaultCommon() Common {
	return Common{
		Key:          Key{Parts: []string{"ip"}},
		Policy:       PolicyLocal,
		OnRedisError: OnErrorAllow,
		RejectedCode: http.StatusTooManyRequests,
		RejectedMsg:  "too many requests",
	}
}

// Validate returns every problem in c, each starting with its key.
func (c *Common) Validate() []error {
	var errs []error
	if _, err := ParseKey(c.Key); err != nil {
		errs = append(errs, err)
	}
	if c.Policy != PolicyLocal && c.Policy != PolicyRedis {
		errs = append(errs, fmt.Errorf("policy: %q is not local or redis", c.Policy))
	}
	switch c.OnRedisError {
	case OnErrorAllow, OnErrorDeny, OnErrorLocal:
	default:
		errs = append(errs, fmt.Errorf("on_redis_error: %q is not allow, deny or local", c.OnRedisError))
	}
	if c.RejectedCode < 200 || c.RejectedCode > 599 {
		errs = append(errs, fmt.Errorf("rejected_code: %d is not an HTTP status from 200 to 599", c.RejectedCode))
	}
	if n := len(c.RejectedMsg); n < 1 || n > 1024 {
		errs = append(errs, fmt.Errorf("rejected_msg: must be 1 to 1024 bytes, got %d", n))
	}
	return errs
}

// Duration is a time span written as a Go duration string ("60s", "1m30s",
// "100ms") or as a number of seconds (60, 0.5), the unit APISIX uses.
type Duration struct {
	D    time.Duration
	text string // what was written when it did not parse (JSON), for Validate
}

// Dur returns a Duration of d.
func Dur(d time.Duration) Duration { return Duration{D: d} }

// UnmarshalJSON accepts "60s" or 60.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // keep the default, as encoding/json does for null
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			*d = Duration{text: strconv.Quote(s)}
		} else {
			*d = Duration{D: v}
		}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		*d = Duration{text: string(b)} // Validate names the key
		return nil
	}
	if f > float64(1<<62)/float64(time.Second) || f < -float64(1<<62)/float64(time.Second) {
		*d = Duration{text: strconv.FormatFloat(f, 'g', -1, 64)}
		return nil
	}
	*d = Duration{D: time.Duration(f * float64(time.Second))}
	return nil
}

// MarshalJSON writes the string form ("1m0s"), which UnmarshalJSON reads.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.D.String()) }

// Check returns a problem with d under key, or nil: d must have parsed and
// lie in [min, max].
func (d Duration) Check(key string, min, max time.Duration) error {
	if d.text != "" {
		return fmt.Errorf("%s: %s is not a duration (write it like 60s, 1m, 1.5h, or a number of seconds)", key, d.text)
	}
	if d.D < min || d.D > max {
		return fmt.Errorf("%s: %v is out of range: must be from %v to %v", key, d.D, min, max)
	}
	return nil
}

// ErrNoRedis is returned by NewBackend for policy redis without a
// top-level redis block.
var ErrNoRedis = errors.New("policy: redis needs the top-level redis block")

// Sleep waits d, or until ctx is done (the client left): then the request
// ends with ctx's error, which the gateway logs as a client that closed.
// limit-req and limit-conn delay requests with it.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
