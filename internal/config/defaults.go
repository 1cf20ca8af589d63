package config

import "time"

// Default values that more than one place needs.
const (
	DefaultListenAddr = "127.0.0.1:8080"
	DefaultStatusAddr = "127.0.0.1:9090"
)

// Defaults returns a Config with every documented top-level default filled in
// and every list empty. Parse decodes the file over it; code that builds a
// Config by hand should start from it and then call ApplyDefaults.
func Defaults() *Config {
	return &Config{
		Status: Status{Addr: DefaultStatusAddr},
		Log:    Log{Level: "info", Format: "json", Access: true},
		Tracing: Tracing{
			Endpoint:      "http://127.0.0.1:4318/v1/traces",
			SamplingRatio: 1,
			ServiceName:   "sluice",
		},
		Reload:   Reload{Watch: true, Interval: Duration(time.Second), Drain: Duration(30 * time.Second)},
		Shutdown: Shutdown{Drain: Duration(30 * time.Second)},
	}
}

// defaultListener is a listener with every default but Addr.
func defaultListener() Listener {
	return Listener{
		ReadHeaderTimeout: Duration(10 * time.Second),
		IdleTimeout:       Duration(120 * time.Second),
		BodyIdleTimeout:   Duration(60 * time.Second),
		MaxHeaderBytes:    64 << 10,
		MaxRequestBody:    32 << 20,
		HTTP2:             HTTP2{MaxConcurrentStreams: 250},
		Server:            "sluice",
	}
}

// defaultUpstream is an upstream with every default but Name and Targets.
func defaultUpstream() Upstream {
	return Upstream{
		Balancer: "round_robin",
		Passive: Passive{
			MaxFailures: 5,
			Eject:       Duration(30 * time.Second),
			FailOn:      []int{502, 503, 504},
		},
		Timeouts: UpstreamTimeouts{
			Connect:        Duration(2 * time.Second),
			ResponseHeader: Duration(60 * time.Second),
			Idle:           Duration(90 * time.Second),
		},
		Retries: Retries{
			Attempts: 1,
			On:       []string{"connect_failure"},
			Budget:   RetryBudget{Ratio: 0.2, MinPerSecond: 10},
		},
		PassHost:  "pass",
		KeepAlive: KeepAlive{MaxIdlePerTarget: 256},
	}
}

// defaultRoute is a route with every default but Name, Match and Upstream.
func defaultRoute() Route { return Route{Auth: RouteAuth{Mode: "any"}} }

// defaultRedis is the redis block with every default but the addresses.
func defaultRedis() Redis { return Redis{Timeout: Duration(50 * time.Millisecond)} }

// defaultTarget is a target with every default but URL.
func defaultTarget() Target { return Target{Weight: 1} }

// defaultHealthCheck is the health check that `health_check: {}` turns on.
func defaultHealthCheck() HealthCheck {
	return HealthCheck{
		Path:      "/healthz",
		Interval:  Duration(2 * time.Second),
		Timeout:   Duration(time.Second),
		Healthy:   2,
		Unhealthy: 3,
	}
}

// ApplyDefaults fills in per-item defaults (each listener's, upstream's,
// target's and health check's) and top-level defaults, for a Config that was
// not produced by Parse: built in Go, or decoded with encoding/json over
// Defaults(). It is idempotent.
//
// It sets a field only when the field is zero and zero is not a meaningful
// setting of its own. Fields where zero means something are left alone, so a
// hand-built Config gets zero for them: listeners[].body_idle_timeout and
// listeners[].max_request_body (0 disables), upstreams[].passive.max_failures
// (0 disables), upstreams[].retries.attempts, retries.budget.ratio and
// retries.budget.min_per_second, tracing.sampling_ratio, reload.drain,
// shutdown.drain, status.addr ("" disables) and the booleans. Parse sets
// those defaults too, because it can tell an absent key from a zero, and it
// leaves an explicit zero for Validate to judge. A nil Listeners gets one
// listener on 127.0.0.1:8080; an empty non-nil one is left for Validate.
func ApplyDefaults(c *Config) {
	if c == nil {
		return
	}
	if c.Listeners == nil {
		l := defaultListener()
		l.Addr = DefaultListenAddr
		c.Listeners = []Listener{l}
	}
	dl := defaultListener()
	for i := range c.Listeners {
		l := &c.Listeners[i]
		setZero(&l.ReadHeaderTimeout, dl.ReadHeaderTimeout)
		setZero(&l.IdleTimeout, dl.IdleTimeout)
		setZero(&l.MaxHeaderBytes, dl.MaxHeaderBytes)
		setZero(&l.HTTP2.MaxConcurrentStreams, dl.HTTP2.MaxConcurrentStreams)
		setZero(&l.Server, dl.Server)
	}
	du, dt, dh := defaultUpstream(), defaultTarget(), defaultHealthCheck()
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		setZero(&u.Balancer, du.Balancer)
		setZero(&u.PassHost, du.PassHost)
		for j := range u.Targets {
			setZero(&u.Targets[j].Weight, dt.Weight)
		}
		if h := u.HealthCheck; h != nil {
			setZero(&h.Path, dh.Path)
			setZero(&h.Interval, dh.Interval)
			setZero(&h.Timeout, dh.Timeout)
			setZero(&h.Healthy, dh.Healthy)
			setZero(&h.Unhealthy, dh.Unhealthy)
		}
		setZero(&u.Passive.Eject, du.Passive.Eject)
		if u.Passive.FailOn == nil {
			u.Passive.FailOn = append([]int(nil), du.Passive.FailOn...)
		}
		setZero(&u.Timeouts.Connect, du.Timeouts.Connect)
		setZero(&u.Timeouts.ResponseHeader, du.Timeouts.ResponseHeader)
		setZero(&u.Timeouts.Idle, du.Timeouts.Idle)
		if u.Retries.On == nil {
			u.Retries.On = append([]string(nil), du.Retries.On...)
		}
		setZero(&u.KeepAlive.MaxIdlePerTarget, du.KeepAlive.MaxIdlePerTarget)
	}
	for i := range c.Routes {
		setZero(&c.Routes[i].Auth.Mode, "any")
	}
	if c.Redis != nil {
		setZero(&c.Redis.Timeout, defaultRedis().Timeout)
	}
	d := Defaults()
	setZero(&c.Log.Level, d.Log.Level)
	setZero(&c.Log.Format, d.Log.Format)
	setZero(&c.Tracing.Endpoint, d.Tracing.Endpoint)
	setZero(&c.Tracing.ServiceName, d.Tracing.ServiceName)
	setZero(&c.Reload.Interval, d.Reload.Interval)
}

// setZero sets *p to v if *p is the zero value.
func setZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
