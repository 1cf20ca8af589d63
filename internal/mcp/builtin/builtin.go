// Package builtin is Sluice's own MCP server: a few read-only tools that let
// an agent look at the gateway it is talking through (routes, upstream
// health, usage). The embedded default config routes an MCP endpoint to it,
// so `make run` offers tools to list without any other MCP server.
//
// The gateway mounts [New]'s handler as an in-process upstream spoken to over
// Streamable HTTP. One endpoint serves both MCP protocol eras: clients of
// 2025-11-25 and older (initialize handshake, Mcp-Session-Id) and clients of
// 2026-07-28 (stateless requests, server/discover, per-request _meta).
package builtin

import (
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Source is what the tools read; the gateway implements it.
//
// Its methods are called concurrently, once per tool call, from request
// goroutines, so each should return a consistent snapshot quickly. The server
// copies what it returns before sorting or filtering, so a Source may hand
// out slices it keeps using.
type Source interface {
	Routes() []Route
	Upstreams() []Upstream
	Usage() []Usage
}

// Route is one configured route as the tools show it. Hosts, Paths and
// Methods are kept in config order, because that is the order users wrote.
type Route struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"` // "http", "ai" or "mcp"
	Hosts    []string `json:"hosts"`
	Paths    []string `json:"paths"`
	Methods  []string `json:"methods"`
	Upstream string   `json:"upstream"`
}

// Upstream is one upstream pool and the live state of its targets.
type Upstream struct {
	Name    string   `json:"name"`
	Targets []Target `json:"targets"`
}

// Target is one node of an upstream.
type Target struct {
	URL      string `json:"url"`
	Healthy  bool   `json:"healthy"`
	InFlight int64  `json:"in_flight"`
}

// Usage is the traffic one consumer sent through one route since the gateway
// started. Consumer is empty for requests no authentication plugin claimed.
type Usage struct {
	Route        string  `json:"route"`
	Consumer     string  `json:"consumer"`
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// Route kinds, as Route.Kind spells them.
const (
	KindHTTP = "http"
	KindAI   = "ai"
	KindMCP  = "mcp"
)

// modernVersion is the first MCP protocol version without the initialize
// handshake and sessions (SEP-2575). Versions are dates, so they compare as
// strings, which is also how the SDK compares them.
const modernVersion = "2026-07-28"

// legacyIdleTimeout closes legacy sessions nobody has used for this long.
// Clients often vanish without the DELETE that would end their session, and
// each open session holds a goroutine and its state in the handler's map.
const legacyIdleTimeout = 30 * time.Minute

const instructions = `This is Sluice's built-in MCP server. Sluice is an API, AI and MCP gateway; ` +
	`these read-only tools describe the gateway instance serving this endpoint: ` +
	`list_routes shows its routes (filter by kind: http, ai or mcp), ` +
	`upstream_health shows each upstream's targets, whether they are healthy and their in-flight requests, ` +
	`and usage shows requests, errors, tokens and cost per route and consumer since the gateway started. ` +
	`The tools change nothing, and calling them again is safe.`

// New returns the built-in MCP server as an http.Handler for one endpoint.
// version is Sluice's version, reported as the server's version; empty means
// "dev".
//
// The handler keeps legacy sessions in memory (closed after 30 idle minutes
// or on DELETE) and is safe for concurrent use. It does no authentication and
// no Host or Origin checks: the gateway in front of it does those.
func New(src Source, version string) http.Handler {
	if version == "" {
		version = "dev"
	}
	server := mcp.NewServer(&mcp.Implementation{
		Name:    "sluice",
		Title:   "Sluice gateway",
		Version: version,
	}, &mcp.ServerOptions{
		Instructions: instructions,
		// The tool set never changes, so no listChanged, and the server logs
		// nothing to clients; without this the SDK would advertise logging.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
	})
	addTools(server, src)

	getServer := func(*http.Request) *mcp.Server { return server }
	base := mcp.StreamableHTTPOptions{
		// The SDK turns away requests that arrive on a loopback address with
		// a Host that is not loopback (DNS rebinding protection). This
		// handler never has a socket of its own: the gateway calls it with
		// the client's request, whose local address is the gateway's
		// listener, so `make run` on 127.0.0.1 reached by any other name
		// (a container port forward, a local proxy, a *.localhost alias)
		// would get 403. The gateway applies its own Host and Origin rules
		// to the route before the request gets here.
		DisableLocalhostProtection: true,
		// Every answer here is one JSON-RPC response with no progress or
		// log notifications before it, so SSE framing would buy nothing and
		// plain JSON is simpler for the gateway to proxy, log and inspect.
		JSONResponse: true,
	}
	legacy, modern := base, base
	legacy.SessionTimeout = legacyIdleTimeout
	modern.Stateless = true
	return &eraSplit{
		legacy: mcp.NewStreamableHTTPHandler(getServer, &legacy),
		modern: mcp.NewStreamableHTTPHandler(getServer, &modern),
	}
}

// eraSplit sends each request to the handler for its protocol era.
//
// The SDK (v1.8.0) has no single handler that does both: a stateful handler
// rejects 2026-07-28 calls with CodeUnsupportedProtocolVersion (only
// server/discover gets through, and it advertises legacy versions only, so a
// 2026 client falls back to initialize); a stateless handler takes 2026
// requests and legacy initialize, but never issues Mcp-Session-Id and treats
// every legacy request as already initialized. Both handlers share one
// mcp.Server, which the SDK allows.
//
// The split reads only the Mcp-Protocol-Version header: 2026-07-28 clients
// must send it on every request, equal to the body's _meta protocol version
// (the SDK checks that they match), and legacy clients send either nothing
// (initialize) or a version before 2026-07-28.
type eraSplit struct {
	legacy http.Handler // stateful: initialize, Mcp-Session-Id, GET stream, DELETE
	modern http.Handler // stateless: each POST stands alone; GET and DELETE get 405
}

func (s *eraSplit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Mcp-Protocol-Version") >= modernVersion {
		s.modern.ServeHTTP(w, r)
		return
	}
	s.legacy.ServeHTTP(w, r)
}
