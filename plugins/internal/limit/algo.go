package limit

import (
	"math"
	"time"
)

// The algorithms below work on a state of three integers plus an expiry,
// with time in microseconds since the Unix epoch. scripts.go has the same
// arithmetic in Lua; keep the two in step (algo_test.go runs one table of
// cases against both stores).

// state is one key's counters. Window: a = window index, b = count in that
// window, c = count in the window before. GCRA: a = theoretical arrival
// time. Conn: a = requests in flight. exp is when the state may be dropped
// (0: never, for conn).
type state struct {
	a, b, c int64
	exp     int64
}

// Window is limit-count's algorithm: at most Limit units per Size. Windows
// are aligned to the Unix epoch, so every gateway and every key shares the
// same boundaries.
//
// Fixed counts the units of the current window. Sliding weighs the previous
// window's count by how much of it still overlaps the trailing Size, and
// adds the current count (the sliding-window counter): two integers per key
// instead of a log of every request.
type Window struct {
	Limit   int64
	Size    time.Duration
	Sliding bool
}

func (w Window) take(s *state, now, cost int64) Result {
	size := w.Size.Microseconds()
	idx := now / size
	if s.a > idx {
		// A clock behind the one that wrote the state: stay in its window
		// rather than reset it (Redis uses its own clock, so only a local
		// clock stepping back gets here).
		idx = s.a
	}
	cur, prev := s.b, s.c
	switch s.a {
	case idx:
	case idx - 1:
		prev, cur = cur, 0
	default:
		prev, cur = 0, 0
	}
	elapsed := max(now-idx*size, 0)
	est := 0.0
	if w.Sliding {
		est = float64(prev) * float64(size-elapsed) / float64(size)
	}
	reset := usec(size - elapsed)
	if est+float64(cur)+float64(cost) > float64(w.Limit) {
		return Result{Reset: reset, RetryAfter: usec(w.retry(size, elapsed, cur, prev, cost))}
	}
	cur += cost
	*s = state{a: idx, b: cur, c: prev, exp: (idx + 1) * size}
	if w.Sliding {
		s.exp += size
	}
	rem := int64(math.Floor(float64(w.Limit) - est - float64(cur)))
	return Result{Allowed: true, Remaining: max(rem, 0), Reset: reset}
}

// retry is the wait, in microseconds, until a request of cost would pass.
func (w Window) retry(size, elapsed, cur, prev, cost int64) int64 {
	if !w.Sliding {
		return size - elapsed
	}
	if cur+cost <= w.Limit {
		// The current window has room: wait until enough of the previous
		// one has slid out. prev > 0, or the request would have passed.
		need := math.Ceil(float64(size) - float64(w.Limit-cur-cost)*float64(size)/float64(prev))
		return max(int64(need)-elapsed, 1)
	}
	// Wait for the next window, then until enough of this one slid out.
	need := 0.0
	if cur > 0 {
		need = math.Ceil(float64(size) - float64(w.Limit-cost)*float64(size)/float64(cur))
	}
	return size - elapsed + max(int64(need), 0)
}

// GCRA is limit-req's algorithm, the generic cell rate algorithm: the
// leaky bucket of nginx's limit_req as a single timestamp. A request may
// pass if it is at most Tolerance early; it then waits until it conforms
// (Delay), unless the plugin is nodelay.
type GCRA struct {
	Interval  time.Duration // 1/rate
	Tolerance time.Duration // burst × Interval
}

// NewGCRA returns the GCRA of rate requests per second with burst extra
// requests, rounded to whole microseconds.
func NewGCRA(rate, burst float64) GCRA {
	iv := time.Duration(math.Round(1e6/rate)) * time.Microsecond
	iv = max(iv, time.Microsecond)
	return GCRA{Interval: iv, Tolerance: time.Duration(math.Round(burst*float64(iv.Microseconds()))) * time.Microsecond}
}

func (g GCRA) take(s *state, now int64) Result {
	iv, tol := g.Interval.Microseconds(), g.Tolerance.Microseconds()
	tat := max(s.a, now)
	wait := tat - now
	if wait > tol {
		return Result{RetryAfter: usec(wait - tol), Reset: usec(wait)}
	}
	tat += iv
	*s = state{a: tat, exp: tat}
	return Result{Allowed: true, Delay: usec(wait), Remaining: (tol + iv - (tat - now)) / iv, Reset: usec(tat - now)}
}

// Conn is limit-conn's algorithm: at most Max requests in flight per key,
// and up to Burst more that are delayed first (APISIX's limit-conn).
type Conn struct {
	Max   int64
	Burst int64
	// Delay is the wait of a request over Max, per Max requests over:
	// ceil((n-Max)/Max) × Delay.
	Delay time.Duration
}

// admit decides for the request that would make n in flight.
func (c Conn) admit(n int64) Result {
	if n > c.Max+c.Burst {
		return Result{}
	}
	r := Result{Allowed: true, Remaining: max(c.Max-n, 0)}
	if n > c.Max {
		r.Delay = time.Duration((n-c.Max+c.Max-1)/c.Max) * c.Delay
	}
	return r
}

func usec(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// adjust corrects the count of a Window by delta units after the fact:
// ai-rate-limiting charges a request its estimated tokens when it is
// admitted and the difference to its real usage when it ends. age is the
// time since the admission, which tells the window the estimate was
// charged to (measured on the gateway's monotonic clock, so it holds on
// Redis's clock too).
//
// A charge (delta > 0) goes to the current window, which may take it over
// the limit: later requests wait. A refund (delta < 0) comes off the
// window the estimate was charged to while it is the current one, or the
// previous one (which a sliding window still weighs); older, it is
// dropped, so that a refund never turns into credit in a window it was
// not charged to. No count goes below zero. It reports whether s changed.
func (w Window) adjust(s *state, now, delta, age int64) bool {
	size := w.Size.Microseconds()
	idx := now / size
	if s.a > idx {
		idx = s.a // see take
	}
	cur, prev := s.b, s.c
	switch s.a {
	case idx:
	case idx - 1:
		prev, cur = cur, 0
	default:
		prev, cur = 0, 0
	}
	if delta >= 0 {
		cur += delta
	} else {
		switch (now - age) / size {
		case idx:
			cur = max(cur+delta, 0)
		case idx - 1:
			prev = max(prev+delta, 0)
		default:
			return false
		}
	}
	*s = state{a: idx, b: cur, c: prev, exp: (idx + 1) * size}
	if w.Sliding {
		s.exp += size
	}
	return true
}
