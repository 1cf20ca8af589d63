package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MCP metrics. Label values are bounded: routes and servers come from the
// config, methods are the spec's plus what clients send (the route counts
// unknown ones as "_other"), and tool names are those the server listed
// (others are "_unlisted").
type mcpMetrics struct {
	sessions  *prometheus.GaugeVec
	requests  *prometheus.CounterVec
	toolCalls *prometheus.CounterVec
	toolDur   *prometheus.HistogramVec
	all       []prometheus.Collector
}

func newMCPMetrics() *mcpMetrics {
	m := &mcpMetrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_mcp_sessions", Help: "MCP sessions open on this gateway, by route and server.",
		}, []string{"route", "server"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_mcp_requests_total", Help: "MCP messages and streams, by route, server, JSON-RPC method (GET and DELETE for streams and session ends) and HTTP status.",
		}, []string{"route", "server", "method", "code"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_mcp_tool_calls_total", Help: "MCP tool calls, by route, server, tool and outcome (ok, error, tool_error, denied, upstream_error).",
		}, []string{"route", "server", "tool", "outcome"}),
		toolDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_mcp_tool_call_duration_seconds", Help: "Time from sending an MCP tool call upstream to the end of its answer, by route, server and tool.",
			Buckets: aiDurationBuckets,
		}, []string{"route", "server", "tool"}),
	}
	m.all = []prometheus.Collector{m.sessions, m.requests, m.toolCalls, m.toolDur}
	return m
}

// MCPSessions adds delta to the open sessions of route and server.
func (m *Metrics) MCPSessions(route, server string, delta int) {
	m.mcp.sessions.WithLabelValues(route, server).Add(float64(delta))
}

// MCPRequest is one finished request on an mcp route.
type MCPRequest struct {
	Route, Server, Method, Code string
	// Tool is set for tools/call: the metric label (see the type's doc).
	Tool, Outcome string
	Duration      time.Duration
}

// MCP records a finished request on an mcp route.
func (m *Metrics) MCP(q MCPRequest) {
	m.mcp.requests.WithLabelValues(q.Route, q.Server, q.Method, q.Code).Inc()
	if q.Tool != "" {
		m.mcp.toolCalls.WithLabelValues(q.Route, q.Server, q.Tool, q.Outcome).Inc()
		if q.Outcome != "denied" {
			m.mcp.toolDur.WithLabelValues(q.Route, q.Server, q.Tool).Observe(q.Duration.Seconds())
		}
	}
}
