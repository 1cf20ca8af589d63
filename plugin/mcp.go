package plugin

import (
	"strings"
	"time"
)

// MCP is the state of a request on an mcp route, parsed once from the
// JSON-RPC body before any plugin runs, so limits, ACLs and logs key on the
// MCP method and tool without reading the body again. It is nil on other
// routes, and on an mcp route's GET and DELETE requests Method is "".
type MCP struct {
	Server          string // the mcp_servers entry the request goes to
	Kind            string // "request", "notification", "response"; "" for GET and DELETE
	Method          string // JSON-RPC method: "tools/call", "initialize" ...
	Name            string // tool or prompt name (tools/call, prompts/get) or resource URI
	ArgBytes        int    // size of the call's arguments
	ProtocolVersion string // the request's MCP protocol version, when it says
	Session         string // the gateway's session name (not the id the client holds)
	// ID is the request's JSON-RPC id as sent (raw JSON: 7 or "a"), so a
	// refusal can answer it.
	ID []byte

	// Set by the route after the answer.
	Outcome  string        // ok | error (JSON-RPC error) | tool_error (isError result) | denied | upstream_error
	Duration time.Duration // upstream time of the call
}

// MCP outcomes.
const (
	MCPOK            = "ok"
	MCPError         = "error"
	MCPToolError     = "tool_error"
	MCPDenied        = "denied"
	MCPUpstreamError = "upstream_error"
)

// Glob matches s against pattern, where * matches any run of characters
// (none included) and every other character matches itself: the pattern
// language of MCP tool names in ACLs and limits ("search_*", "*__read").
func Glob(pattern, s string) bool {
	first, rest, star := strings.Cut(pattern, "*")
	if !star {
		return pattern == s
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for {
		next, after, more := strings.Cut(rest, "*")
		if !more {
			return len(s) >= len(rest) && strings.HasSuffix(s, rest)
		}
		i := strings.Index(s, next)
		if i < 0 {
			return false
		}
		s, rest = s[i+len(next):], after
	}
}
