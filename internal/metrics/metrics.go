// Package metrics owns Sluice's Prometheus registry. Names follow
// sluice_<subsystem>_<name>_<unit>; labels are route, upstream, target and
// status code, never the raw path, so cardinality stays bounded by config.
//
// The request path is hot, so per-route observers are resolved once per
// config generation (Route) and status-code counters are cached per route.
package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the set of collectors one gateway process reports.
type Metrics struct {
	Registry *prometheus.Registry

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstreamDur     *prometheus.HistogramVec
	requestBytes    *prometheus.CounterVec
	responseBytes   *prometheus.CounterVec
	inFlight        prometheus.Gauge
	retries         *prometheus.CounterVec
	targetHealthy   *prometheus.GaugeVec
	reloads         *prometheus.CounterVec
	reloadOK        prometheus.Gauge
	reloadTimestamp prometheus.Gauge
	panics          prometheus.Counter
	decisions       *prometheus.CounterVec
	consumers       *prometheus.CounterVec
	ai              *aiMetrics
	mcp             *mcpMetrics
}

// Buckets for request durations: 1ms to 60s, dense where proxies live.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New registers every collector on a fresh registry, with Go runtime and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_requests_total", Help: "HTTP requests served, by route, upstream and status code.",
		}, []string{"route", "upstream", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_http_request_duration_seconds", Help: "Time from request received to response complete.",
			Buckets: durationBuckets,
		}, []string{"route", "upstream"}),
		upstreamDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_upstream_response_duration_seconds", Help: "Time from the first upstream attempt to its response headers.",
			Buckets: durationBuckets,
		}, []string{"route", "upstream"}),
		requestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_request_body_bytes_total", Help: "Request body bytes received.",
		}, []string{"route"}),
		responseBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_response_body_bytes_total", Help: "Response body bytes sent.",
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_http_requests_in_flight", Help: "Requests being served now.",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_upstream_retries_total", Help: "Upstream attempts after the first, by upstream.",
		}, []string{"upstream"}),
		targetHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_upstream_target_healthy", Help: "1 if the upstream target takes traffic, 0 if it is ejected.",
		}, []string{"upstream", "target"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_config_reloads_total", Help: "Configuration loads, by result (success or failure).",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_config_last_reload_successful", Help: "1 if the last configuration load succeeded.",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_config_last_reload_success_timestamp_seconds", Help: "When the running configuration was loaded.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_http_handler_panics_total", Help: "Panics recovered while serving a request.",
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_plugin_decisions_total", Help: "Outcomes of plugins (allowed, rejected, delayed, fallback ...), by route and plugin.",
		}, []string{"route", "plugin", "decision"}),
		consumers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_consumer_requests_total", Help: "Requests of identified consumers, by route, consumer and status class (2xx, 4xx ...).",
		}, []string{"route", "consumer", "class"}),
		ai:  newAIMetrics(),
		mcp: newMCPMetrics(),
	}
	reg.MustRegister(m.ai.all...)
	reg.MustRegister(m.mcp.all...)
	reg.MustRegister(m.requests, m.duration, m.upstreamDur, m.requestBytes, m.responseBytes, m.inFlight,
		m.retries, m.targetHealthy, m.reloads, m.reloadOK, m.reloadTimestamp, m.panics, m.decisions, m.consumers,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Reload records the outcome of a configuration load.
func (m *Metrics) Reload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.reloadOK.Set(1)
		m.reloadTimestamp.Set(float64(time.Now().Unix()))
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
	m.reloadOK.Set(0)
}

// TargetHealth sets the health gauge of one upstream target.
func (m *Metrics) TargetHealth(upstream, target string, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	m.targetHealthy.WithLabelValues(upstream, target).Set(v)
}

// Decision returns the counter of one plugin outcome on one route ("" for
// global plugins on unmatched requests).
func (m *Metrics) Decision(route, plugin, decision string) prometheus.Counter {
	return m.decisions.WithLabelValues(route, plugin, decision)
}

var statusClasses = [...]string{"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Consumer counts one request of an identified consumer.
func (m *Metrics) Consumer(route, consumer string, code int) {
	class := "5xx"
	if i := code / 100; i >= 0 && i < len(statusClasses) {
		class = statusClasses[i]
	}
	m.consumers.WithLabelValues(route, consumer, class).Inc()
}

// Panic counts a recovered handler panic.
func (m *Metrics) Panic() { m.panics.Inc() }

// InFlight returns the in-flight gauge.
func (m *Metrics) InFlight() prometheus.Gauge { return m.inFlight }

// Route holds one route's observers, resolved once per config generation.
type Route struct {
	m                 *Metrics
	route, upstream   string
	duration, upDur   prometheus.Observer
	reqBytes, rspByte prometheus.Counter
	retries           prometheus.Counter

	mu    sync.Mutex
	codes atomic.Pointer[map[int]prometheus.Counter] // copy on write: reads take no lock
}

// Route returns the observers for one route and its upstream ("" if none).
func (m *Metrics) Route(route, upstream string) *Route {
	r := &Route{
		m: m, route: route, upstream: upstream,
		duration: m.duration.WithLabelValues(route, upstream),
		upDur:    m.upstreamDur.WithLabelValues(route, upstream),
		reqBytes: m.requestBytes.WithLabelValues(route),
		rspByte:  m.responseBytes.WithLabelValues(route),
	}
	if upstream != "" {
		r.retries = m.retries.WithLabelValues(upstream)
	}
	empty := map[int]prometheus.Counter{}
	r.codes.Store(&empty)
	return r
}

// Observe records one finished request.
func (r *Route) Observe(code int, total, upstream time.Duration, reqBytes, rspBytes int64, retries int) {
	r.counter(code).Inc()
	r.duration.Observe(total.Seconds())
	if upstream > 0 {
		r.upDur.Observe(upstream.Seconds())
	}
	if reqBytes > 0 {
		r.reqBytes.Add(float64(reqBytes))
	}
	if rspBytes > 0 {
		r.rspByte.Add(float64(rspBytes))
	}
	if retries > 0 && r.retries != nil {
		r.retries.Add(float64(retries))
	}
}

func (r *Route) counter(code int) prometheus.Counter {
	if c, ok := (*r.codes.Load())[code]; ok {
		return c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.codes.Load()
	if c, ok := old[code]; ok {
		return c
	}
	c := r.m.requests.WithLabelValues(r.route, r.upstream, strconv.Itoa(code))
	next := make(map[int]prometheus.Counter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[code] = c
	r.codes.Store(&next)
	return c
}
