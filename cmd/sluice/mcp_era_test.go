package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestDefaultConfigMCPLegacySSE lists and calls the built-in server's tools
// at the default config's /mcp with a client of the legacy HTTP+SSE
// transport (2024-11-05), which the gateway translates to Streamable HTTP.
func TestDefaultConfigMCPLegacySSE(t *testing.T) {
	t.Parallel()
	addr, status := freePort(t), freePort(t)
	data := strings.ReplaceAll(string(defaultConfig), "127.0.0.1:8080", addr)
	data = strings.ReplaceAll(data, "127.0.0.1:9090", status)
	path := writeFile(t, "default.yaml", data)
	var stdout, stderr syncWriter
	in, err := start(source{name: path, path: path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { in.shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-sse", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: "http://" + addr + "/mcp", HTTPClient: &http.Client{}}, nil)
	if err != nil {
		t.Fatalf("connect over HTTP+SSE: %v", err)
	}
	defer cs.Close()
	if got := toolNames(t, cs); got != "list_routes,upstream_health,usage" {
		t.Fatalf("tools = %s", got)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_routes", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("list_routes = %+v, %v", res, err)
	}
}
