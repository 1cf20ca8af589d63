// Package upstream owns the pools of targets behind routes: balancers
// (smooth weighted round robin, least_conn, p2c, Maglev hash), active and
// passive health, the retry budget, and one tuned http.Transport per pool.
//
// The proxy uses a Pool once per attempt:
//
//	t := pool.Pick(key, tried)
//	t.Begin()
//	resp, err := pool.Transport().RoundTrip(outReq)
//	t.End()
//	pool.Report(t, outcome)
//
// A Pool starts no goroutine until Start, and Close releases everything
// Start acquired.
package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/config"
)

// Defaults applied when a zero value arrives where config documents a default.
const (
	defaultConnect        = 2 * time.Second
	defaultResponseHeader = 60 * time.Second
	defaultIdle           = 90 * time.Second
	defaultEject          = 30 * time.Second
	defaultMaxIdle        = 256
	defaultHCPath         = "/healthz"
	defaultHCInterval     = 2 * time.Second
	defaultHCTimeout      = 1 * time.Second
	defaultHCHealthy      = 2
	defaultHCUnhealthy    = 3
)

// Options are the pool's collaborators. The zero value is usable.
type Options struct {
	// Logger receives health transitions and panic-mode warnings. Nil means
	// slog.Default().
	Logger *slog.Logger
	// OnHealth, if set, is called on every health transition of a target
	// (for a metrics gauge), with the target's String and its new state.
	// Calls for one target are serialised and in order; OnHealth must be
	// quick and must not call back into the Pool.
	OnHealth func(target string, healthy bool)

	// now replaces time.Now in tests.
	now func() time.Time
}

// Pool is a named set of targets with a balancer, health state, a retry
// budget and a transport. All methods are safe for concurrent use.
type Pool struct {
	name     string
	targets  []*Target
	bal      balancer
	hashOn   hashOn
	log      *slog.Logger
	onHealth func(string, bool)
	now      func() time.Time

	transport *transport
	budget    *Budget

	attempts    int
	retryConn   bool
	retryTime   bool
	retryStatus statusSet

	maxFailures int32
	eject       time.Duration
	failOn      statusSet
	// nOut counts targets with a non-zero ejectedUntil, so Pick reads the
	// clock only while some target is passively out.
	nOut atomic.Int32
	// panicking is set while every target is unhealthy and Pick ignores
	// health; it makes the warning print once per episode.
	panicking atomic.Bool

	hc *config.HealthCheck // normalised copy, nil when active checks are off

	mu      sync.Mutex // guards started, closed, cancel
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New builds a Pool from a validated upstream. It reads the TLS files named
// in cfg.TLS and returns an error naming the upstream and the file when one
// cannot be used. Zero values where config documents a default get that
// default; Passive.MaxFailures 0 disables passive ejection and
// Retries.Attempts 0 disables retries, as documented in config.
func New(cfg config.Upstream, opts Options) (*Pool, error) {
	p := &Pool{
		name:     cfg.Name,
		log:      opts.Logger,
		onHealth: opts.OnHealth,
		now:      opts.now,
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("upstream", cfg.Name)
	if p.now == nil {
		p.now = time.Now
	}
	errorf := func(format string, args ...any) error {
		return fmt.Errorf("upstreams[%s]: "+format, append([]any{cfg.Name}, args...)...)
	}
	if len(cfg.Targets) == 0 {
		return nil, errorf("no targets")
	}

	anyHTTPS := false
	for i, tc := range cfg.Targets {
		t, err := newTarget(p, i, tc)
		if err != nil {
			return nil, errorf("targets[%d]: %w", i, err)
		}
		anyHTTPS = anyHTTPS || t.url.Scheme == "https"
		p.targets = append(p.targets, t)
	}

	var err error
	switch cfg.Balancer {
	case "", "round_robin":
		p.bal = newSWRR(p.targets)
	case "least_conn":
		p.bal = newLeastConn(p.targets)
	case "p2c":
		p.bal = newP2C(p.targets)
	case "hash":
		if p.hashOn, err = parseHashOn(cfg.HashOn); err != nil {
			return nil, errorf("hash_on: %w", err)
		}
		p.bal = newMaglev(p.targets)
	default:
		return nil, errorf("unknown balancer %q (want round_robin, least_conn, p2c or hash)", cfg.Balancer)
	}

	// Passive health.
	p.maxFailures = int32(max(cfg.Passive.MaxFailures, 0))
	p.eject = orDefault(cfg.Passive.Eject.D(), defaultEject)
	failOn := cfg.Passive.FailOn
	if failOn == nil {
		failOn = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	}
	for _, s := range failOn {
		p.failOn.add(s)
	}

	// Retries.
	p.attempts = 1 + max(cfg.Retries.Attempts, 0)
	on := cfg.Retries.On
	if on == nil {
		on = []string{"connect_failure"}
	}
	for i, s := range on {
		switch s {
		case "connect_failure":
			p.retryConn = true
		case "timeout":
			p.retryTime = true
		default:
			code, err := strconv.Atoi(s)
			if err != nil || code < 100 || code > 599 {
				return nil, errorf("retries.on[%d]: %q is not connect_failure, timeout or a status code", i, s)
			}
			p.retryStatus.add(code)
		}
	}
	p.budget = newBudget(cfg.Retries.Budget.Ratio, cfg.Retries.Budget.MinPerSecond, p.now)

	// Active health.
	if hc := cfg.HealthCheck; hc != nil {
		n := *hc
		if n.Path == "" {
			n.Path = defaultHCPath
		}
		if !strings.HasPrefix(n.Path, "/") {
			n.Path = "/" + n.Path
		}
		n.Interval = config.Duration(orDefault(n.Interval.D(), defaultHCInterval))
		n.Timeout = config.Duration(orDefault(n.Timeout.D(), defaultHCTimeout))
		n.Healthy = orDefault(n.Healthy, defaultHCHealthy)
		n.Unhealthy = orDefault(n.Unhealthy, defaultHCUnhealthy)
		n.ExpectStatus = slices.Clone(n.ExpectStatus)
		p.hc = &n
	}

	if p.transport, err = newPoolTransport(cfg, anyHTTPS, len(p.targets)); err != nil {
		return nil, errorf("%w", err)
	}
	return p, nil
}

func newTarget(p *Pool, i int, tc config.Target) (*Target, error) {
	u, err := url.Parse(tc.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: scheme must be http or https", tc.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q: no host", tc.URL)
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	return &Target{
		pool:     p,
		url:      base,
		host:     host,
		str:      u.Scheme + "://" + host,
		weight:   int64(orDefault(tc.Weight, 1)),
		index:    i,
		reported: true,
	}, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Name returns the upstream's name.
func (p *Pool) Name() string { return p.name }

// Targets returns the pool's targets in config order. The slice is a copy;
// the Targets are shared.
func (p *Pool) Targets() []*Target { return slices.Clone(p.targets) }

// Transport returns the pool's RoundTripper: one *http.Transport tuned from
// the upstream's timeouts, TLS and keep-alive settings, shared by every
// attempt and by active health probes.
func (p *Pool) Transport() http.RoundTripper { return p.transport }

// Retry returns the pool's retry budget.
func (p *Pool) Retry() *Budget { return p.budget }

// Attempts returns the most attempts one request may make: 1 + retries.attempts.
func (p *Pool) Attempts() int { return p.attempts }

// RetryOn reports whether an attempt with outcome o may be retried under
// retries.on. A timed-out dial counts as a connect_failure.
func (p *Pool) RetryOn(o Outcome) bool {
	switch {
	case o.ConnectFailure && p.retryConn:
		return true
	case o.Timeout && p.retryTime:
		return true
	default:
		return o.Status != 0 && p.retryStatus.has(o.Status)
	}
}

func (p *Pool) nowNano() int64 { return p.now().UnixNano() }

// Pick returns the target for the next attempt of a request. It returns nil
// only when the pool has no targets, which New refuses, so the proxy's 503
// for nil is a safety net. key matters to the hash balancer only.
// tried lists the targets this request already attempted; they are avoided
// while any other healthy target exists.
//
// Preference, in order: healthy and untried; healthy (a retry may go back
// to a tried target); then, when no target is healthy, any untried target,
// then any target. Those last two are panic mode (as in Envoy's panic
// threshold): failing open keeps traffic flowing when health checks are
// wrong about every target at once. Entering panic mode logs one warning,
// and leaving it logs once more.
//
// Pick does not block on I/O and does not allocate. round_robin (and
// least_conn's ties, and hash without a key) hold one short mutex for a pass
// over the targets; p2c and keyed hash take no lock.
func (p *Pool) Pick(key Key, tried []*Target) *Target {
	f := filter{tried: tried, health: true, avoidTried: true}
	if p.nOut.Load() > 0 {
		f.now = p.nowNano()
	}
	if t := p.bal.pick(key, f); t != nil {
		p.calm()
		return t
	}
	if len(tried) > 0 {
		f.avoidTried = false
		if t := p.bal.pick(key, f); t != nil {
			p.calm()
			return t
		}
	}
	// Panic mode: nobody is healthy.
	f.health, f.avoidTried = false, true
	t := p.bal.pick(key, f)
	if t == nil && len(tried) > 0 {
		f.avoidTried = false
		t = p.bal.pick(key, f)
	}
	if t != nil && !p.panicking.Load() && p.panicking.CompareAndSwap(false, true) {
		p.log.Warn("no healthy target; balancing across all targets (panic mode)")
	}
	return t
}

func (p *Pool) calm() {
	if p.panicking.Load() && p.panicking.CompareAndSwap(true, false) {
		p.log.Info("healthy target available again; leaving panic mode")
	}
}

// Report feeds the outcome of one attempt on t to passive health checking.
// A failure is a connect failure, a timeout, or a status in passive.fail_on;
// any other response is a success and resets t's consecutive-failure count.
// A neutral outcome (no failure, Status 0) is ignored.
//
// passive.max_failures consecutive failures eject t for passive.eject. When
// that period ends t is half-open: it takes traffic again, the first success
// readmits it fully, and the first failure ejects it for another period.
// Outcomes of attempts that finish while t is still ejected are ignored.
func (p *Pool) Report(t *Target, o Outcome) {
	if p.maxFailures <= 0 || t == nil || t.pool != p || o.neutral() {
		return
	}
	failed := o.ConnectFailure || o.Timeout || p.failOn.has(o.Status)
	if !failed && t.fails.Load() == 0 && t.ejectedUntil.Load() == 0 {
		return // the common case: a success on a healthy target, lock-free
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := p.nowNano()
	if t.passiveOut {
		if now < t.ejectedUntil.Load() {
			return // still resting; this attempt began before the ejection
		}
		if failed {
			t.ejectedUntil.Store(now + int64(p.eject))
			p.log.Warn("target failed while half-open; ejected again", "target", t.str, "eject", p.eject, "outcome", o)
			return
		}
		t.passiveOut = false
		t.fails.Store(0)
		t.ejectedUntil.Store(0)
		p.nOut.Add(-1)
		p.transition(t, "passive: success while half-open")
		return
	}
	if !failed {
		t.fails.Store(0)
		return
	}
	if t.fails.Add(1) < p.maxFailures {
		return
	}
	t.fails.Store(0)
	t.passiveOut = true
	t.ejectedUntil.Store(now + int64(p.eject))
	p.nOut.Add(1)
	p.transition(t, fmt.Sprintf("passive: %d consecutive failures, ejected for %s", p.maxFailures, p.eject))
}

// transition reports t's health through the logger and OnHealth if it
// changed since the last report. The caller holds t.mu.
func (p *Pool) transition(t *Target, reason string) {
	healthy := !t.down.Load() && !t.passiveOut
	if healthy == t.reported {
		return
	}
	t.reported = healthy
	if healthy {
		p.log.Info("target healthy", "target", t.str, "reason", reason)
	} else {
		p.log.Warn("target unhealthy", "target", t.str, "reason", reason)
	}
	if p.onHealth != nil {
		p.onHealth(t.str, healthy)
	}
}

// Start starts active health checking, if configured. It returns at once;
// calling it again, or after Close, does nothing.
func (p *Pool) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed || p.hc == nil {
		p.started = true
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.checkLoop(ctx, p.done)
}

// Close stops active health checking, waits for the probe loop to exit and
// closes idle upstream connections. It is idempotent. In-flight requests on
// the transport are not interrupted.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	p.transport.CloseIdleConnections()
}

// Target returns the pool's target whose String is s, or nil. Unlike a
// search of Targets it copies nothing: the MCP route looks up a session's
// target on every request of the session.
func (p *Pool) Target(s string) *Target {
	for _, t := range p.targets {
		if t.str == s {
			return t
		}
	}
	return nil
}

// Len returns the number of targets.
func (p *Pool) Len() int { return len(p.targets) }
