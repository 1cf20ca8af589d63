package upstream

import (
	"net/url"
	"sync"
	"sync/atomic"
)

// Target is one server of a Pool. Its methods are safe for concurrent use.
// A Target belongs to its Pool; callers never create one.
type Target struct {
	pool   *Pool
	url    *url.URL
	host   string // host:port, with the scheme's default port filled in
	str    string // scheme://host:port
	weight int64
	index  int

	inflight atomic.Int64

	// down is set while active health checks hold the target out.
	down atomic.Bool
	// ejectedUntil is the unix-nanosecond time a passive ejection ends; 0
	// when the target is not passively ejected or half-open. Pick reads it
	// without a lock.
	ejectedUntil atomic.Int64
	// fails counts consecutive passive failures; read without mu on the
	// success fast path of Report.
	fails atomic.Int32

	// mu guards the health state machine below and serialises OnHealth calls
	// for this target, so transitions are reported in order.
	mu         sync.Mutex
	passiveOut bool // ejected, or half-open and not yet readmitted
	probeOK    int  // consecutive passing probes
	probeFail  int  // consecutive failing probes
	reported   bool // last health reported through OnHealth (starts true)
}

// URL returns the target's base URL (scheme://host:port). The URL is shared:
// callers must not modify it.
func (t *Target) URL() *url.URL { return t.url }

// Host returns the target's host:port, with the scheme's default port filled
// in when the configured URL had none.
func (t *Target) Host() string { return t.host }

// String returns scheme://host:port. It is the name used in logs and in
// Options.OnHealth.
func (t *Target) String() string { return t.str }

// Weight returns the target's configured weight (at least 1).
func (t *Target) Weight() int { return int(t.weight) }

// InFlight returns the number of attempts between Begin and End.
func (t *Target) InFlight() int64 { return t.inflight.Load() }

// Begin marks the start of an attempt on t; least_conn and p2c balance on
// the number of attempts in flight. Every Begin must be paired with End.
func (t *Target) Begin() { t.inflight.Add(1) }

// End marks the end of an attempt started with Begin.
func (t *Target) End() { t.inflight.Add(-1) }

// Healthy reports whether t is currently eligible for traffic: not held out
// by active health checks and not inside a passive ejection period. A
// half-open target (ejection period over, no verdict yet) counts as healthy.
func (t *Target) Healthy() bool {
	if t.down.Load() {
		return false
	}
	u := t.ejectedUntil.Load()
	return u == 0 || t.pool.nowNano() >= u
}

// Key is the balancing key of one request for the hash balancer, as computed
// by Pool.HashKey. When HasHash is false the hash balancer falls back to
// smooth weighted round robin; the other balancers ignore Key.
type Key struct {
	Hash    uint64
	HasHash bool
}

// Outcome is the result of one attempt, as seen by passive health checks
// (Pool.Report) and the retry policy (Pool.RetryOn).
//
// A dial that timed out has both ConnectFailure and Timeout set. An Outcome
// with no failure flag and Status 0 (for example, the client went away) is
// neutral: it neither counts as a failure nor resets the failure count.
type Outcome struct {
	// ConnectFailure: the connection (TCP or TLS handshake) could not be
	// made, so the request was never sent.
	ConnectFailure bool
	// Timeout: a deadline expired (connect, response header, or context).
	Timeout bool
	// Status is the upstream response status, or 0 when there was none.
	Status int
}

func (o Outcome) neutral() bool { return !o.ConnectFailure && !o.Timeout && o.Status == 0 }

// statusSet is a set of HTTP status codes 0-639 as a bitmap, so membership
// tests on the request path neither hash nor allocate.
type statusSet [10]uint64

func (s *statusSet) add(code int) {
	if code >= 0 && code < 640 {
		s[code/64] |= 1 << (code % 64)
	}
}

func (s *statusSet) has(code int) bool {
	return code >= 0 && code < 640 && s[code/64]&(1<<(code%64)) != 0
}
