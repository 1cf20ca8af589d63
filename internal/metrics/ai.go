package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AI metrics follow the OpenTelemetry GenAI semantic conventions where one
// exists (gen_ai.client.token.usage, gen_ai.server.request.duration,
// gen_ai.server.time_to_first_token, gen_ai.server.time_per_output_token,
// with dots as underscores and the unit as a suffix, as the OTel Prometheus
// exporter writes them), and use sluice_ai_* counters for what the
// conventions leave out: totals by consumer, cost, errors, fallbacks.
//
// Label values are bounded by config: routes, provider names and model
// names come from the config (a "*" model passes client names through, so
// gen_ai_request_model is as bounded as the client's choice of models the
// providers accept), and consumers are the configured ones plus
// "_unlisted".

// tokenBuckets are OTel's advice for gen_ai.client.token.usage.
var tokenBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}

// ttftBuckets are OTel's advice for time-to-first-token and per-token
// durations, in seconds.
var ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}

// aiDurationBuckets are OTel's advice for gen_ai.server.request.duration.
var aiDurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}

type aiMetrics struct {
	tokenUsage *prometheus.HistogramVec
	duration   *prometheus.HistogramVec
	ttft       *prometheus.HistogramVec
	perToken   *prometheus.HistogramVec
	tokens     *prometheus.CounterVec
	cost       *prometheus.CounterVec
	errors     *prometheus.CounterVec
	fallbacks  *prometheus.CounterVec
	retries    *prometheus.CounterVec
	unpriced   *prometheus.CounterVec
	all        []prometheus.Collector
}

var genAILabels = []string{"route", "gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model"}

func newAIMetrics() *aiMetrics {
	a := &aiMetrics{
		tokenUsage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gen_ai_client_token_usage", Help: "Tokens used per LLM request, by token type (input, output) (OTel gen_ai.client.token.usage).",
			Buckets: tokenBuckets,
		}, append(genAILabels[:len(genAILabels):len(genAILabels)], "gen_ai_token_type")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gen_ai_server_request_duration_seconds", Help: "Duration of AI requests, from arrival to the end of the response (OTel gen_ai.server.request.duration).",
			Buckets: aiDurationBuckets,
		}, append(genAILabels[:len(genAILabels):len(genAILabels)], "error_type")),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gen_ai_server_time_to_first_token_seconds", Help: "Time from request arrival to the first content of the answer (OTel gen_ai.server.time_to_first_token).",
			Buckets: ttftBuckets,
		}, genAILabels),
		perToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gen_ai_server_time_per_output_token_seconds", Help: "Time per output token after the first, of streamed answers (OTel gen_ai.server.time_per_output_token).",
			Buckets: ttftBuckets,
		}, genAILabels),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_ai_tokens_total", Help: "Tokens used, by route, consumer, provider, model and type (input, output, cached_input, cache_creation, reasoning; cached and cache_creation are parts of input, reasoning of output).",
		}, []string{"route", "consumer", "provider", "model", "type"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_ai_cost_usd_total", Help: "Cost of AI requests in US dollars, from the price table, by route, consumer, provider and model.",
		}, []string{"route", "consumer", "provider", "model"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_ai_errors_total", Help: "Failed AI requests, by route, provider (last tried) and kind (rate_limited, upstream_error, stream_cut ...).",
		}, []string{"route", "provider", "kind"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_ai_fallbacks_total", Help: "Moves to the next target of a model, by route and client model.",
		}, []string{"route", "model"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_ai_retries_total", Help: "Upstream attempts after the first, by route and client model.",
		}, []string{"route", "model"}),
		unpriced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_ai_unpriced_requests_total", Help: "AI requests with usage but no price for the provider model, so no cost.",
		}, []string{"provider", "model"}),
	}
	a.all = []prometheus.Collector{a.tokenUsage, a.duration, a.ttft, a.perToken, a.tokens, a.cost,
		a.errors, a.fallbacks, a.retries, a.unpriced}
	return a
}

// AIRequest is one finished request of an ai route, for AI.
type AIRequest struct {
	Route, Consumer string
	Operation       string // chat, embeddings
	Provider        string // config name of the provider that served, or the last tried
	RequestModel    string // the client's model name
	ResponseModel   string // the provider model
	Stream          bool
	Input, Output   int64 // tokens
	CachedInput     int64
	CacheCreation   int64
	Reasoning       int64
	UsageKnown      bool
	CostUSD         float64
	CostKnown       bool
	ErrorKind       string // "" on success
	Attempts        int
	Fallbacks       int
	Duration        time.Duration
	TTFT            time.Duration // zero when nothing was answered
}

// AI records one finished request of an ai route. Requests answered before
// any provider was chosen (a bad request, a rate limit) count under
// provider "".
func (m *Metrics) AI(q AIRequest) {
	a := m.ai
	lv := []string{q.Route, q.Operation, q.Provider, q.RequestModel, q.ResponseModel}
	a.duration.WithLabelValues(append(lv, q.ErrorKind)...).Observe(q.Duration.Seconds())
	if q.ErrorKind != "" {
		a.errors.WithLabelValues(q.Route, q.Provider, q.ErrorKind).Inc()
	}
	if q.Fallbacks > 0 {
		a.fallbacks.WithLabelValues(q.Route, q.RequestModel).Add(float64(q.Fallbacks))
	}
	if q.Attempts > 1 {
		a.retries.WithLabelValues(q.Route, q.RequestModel).Add(float64(q.Attempts - 1))
	}
	if q.TTFT > 0 && q.Provider != "" {
		a.ttft.WithLabelValues(lv...).Observe(q.TTFT.Seconds())
		if q.Stream && q.UsageKnown && q.Output > 1 && q.Duration > q.TTFT {
			a.perToken.WithLabelValues(lv...).Observe((q.Duration - q.TTFT).Seconds() / float64(q.Output-1))
		}
	}
	if !q.UsageKnown {
		return
	}
	a.tokenUsage.WithLabelValues(append(lv, "input")...).Observe(float64(q.Input))
	if q.Operation != "embeddings" {
		a.tokenUsage.WithLabelValues(append(lv, "output")...).Observe(float64(q.Output))
	}
	for _, t := range [...]struct {
		typ string
		n   int64
	}{{"input", q.Input}, {"output", q.Output}, {"cached_input", q.CachedInput}, {"cache_creation", q.CacheCreation}, {"reasoning", q.Reasoning}} {
		if t.n > 0 {
			a.tokens.WithLabelValues(q.Route, q.Consumer, q.Provider, q.ResponseModel, t.typ).Add(float64(t.n))
		}
	}
	switch {
	case q.CostKnown:
		a.cost.WithLabelValues(q.Route, q.Consumer, q.Provider, q.ResponseModel).Add(q.CostUSD)
	case q.Input+q.Output > 0:
		a.unpriced.WithLabelValues(q.Provider, q.ResponseModel).Inc()
	}
}
