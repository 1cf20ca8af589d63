package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.key != "" {
		r.Header.Set("Authorization", "Bearer "+b.key)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func mcpConnect(t *testing.T, url, key, version string) (*mcp.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{key}}, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

func toolNames(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return strings.Join(names, ",")
}

// TestDefaultConfigMCP lists and calls the built-in server's tools at the
// default config's /mcp with the go-sdk client, in both protocol eras.
func TestDefaultConfigMCP(t *testing.T) {
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
	for _, v := range []string{"2025-11-25", "2026-07-28"} {
		cs, err := mcpConnect(t, "http://"+addr+"/mcp", "", v)
		if err != nil {
			t.Fatalf("connect %s: %v", v, err)
		}
		if got := toolNames(t, cs); got != "list_routes,upstream_health,usage" {
			t.Fatalf("%s: tools = %s", v, got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_routes", Arguments: map[string]any{}})
		cancel()
		if err != nil || res.IsError {
			t.Fatalf("%s: list_routes = %+v, %v", v, res, err)
		}
		b, _ := json.Marshal(res.StructuredContent)
		if !strings.Contains(string(b), `"name":"mcp"`) || !strings.Contains(string(b), `"kind":"ai"`) {
			t.Fatalf("%s: list_routes does not show the default routes: %s", v, b)
		}
	}
}

// TestMCPGatewayExample runs examples/mcp-gateway.yaml: the authorization
// challenge and metadata, API keys as Bearer tokens, the tool ACL on list
// and call, the per-consumer session quota, a tool-call limit, and the
// MCP metrics.
func TestMCPGatewayExample(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../examples/mcp-gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	addr, status := freePort(t), freePort(t)
	data := strings.ReplaceAll(string(raw), "127.0.0.1:8080", addr)
	data = strings.ReplaceAll(data, "127.0.0.1:9090", status)
	data = "status: {addr: " + status + "}\n" + data
	path := writeFile(t, "mcp-gateway.yaml", data)
	var stdout, stderr syncWriter
	in, err := start(source{name: path, path: path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { in.shutdown() })
	base := "http://" + addr

	// No credential: 401 with the challenge that leads to the metadata.
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantChallenge := `Bearer resource_metadata="` + base + `/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != wantChallenge || !strings.Contains(string(b), `"jsonrpc":"2.0","id":1,"error"`) {
		t.Fatalf("no key: %d %q %s; want 401 with %q and a JSON-RPC error", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b, wantChallenge)
	}
	for _, p := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		code, doc := body(base + p)
		if code != 200 || !strings.Contains(doc, `"resource":"`+base+`/mcp"`) || !strings.Contains(doc, `"authorization_servers":["https://idp.example.com"]`) {
			t.Fatalf("GET %s = %d %s", p, code, doc)
		}
	}

	agent, err := mcpConnect(t, base+"/mcp", "key-agent-0123456789", "2025-11-25")
	if err != nil {
		t.Fatalf("agent connect: %v", err)
	}
	if got := toolNames(t, agent); got != "list_routes,upstream_health,usage" {
		t.Fatalf("agent tools = %s", got)
	}
	intern, err := mcpConnect(t, base+"/mcp", "key-intern-0123456789", "2026-07-28")
	if err != nil {
		t.Fatalf("intern connect: %v", err)
	}
	if got := toolNames(t, intern); got != "list_routes" {
		t.Fatalf("intern tools = %s; want only list_routes", got)
	}
	call := func(cs *mcp.ClientSession, tool string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
		if err == nil && res.IsError {
			t.Fatalf("%s: tool error %+v", tool, res.Content)
		}
		return err
	}
	if err := call(intern, "usage"); err == nil || !strings.Contains(err.Error(), `tool "usage" is not allowed`) {
		t.Fatalf("intern calling usage: %v; want the ACL's JSON-RPC error", err)
	}
	// Sessions: the agent holds one; two more fit, the fourth does not.
	for i := 0; i < 2; i++ {
		if _, err := mcpConnect(t, base+"/mcp", "key-agent-0123456789", "2025-11-25"); err != nil {
			t.Fatalf("agent session %d: %v", i+2, err)
		}
	}
	if _, err := mcpConnect(t, base+"/mcp", "key-agent-0123456789", "2025-11-25"); err == nil || !strings.Contains(err.Error(), "Too Many Requests") {
		t.Fatalf("agent's 4th session: %v; want 429", err)
	}
	// Tool calls: 5 a minute per consumer.
	for i := 0; i < 5; i++ {
		if err := call(agent, "list_routes"); err != nil {
			t.Fatalf("agent call %d: %v", i+1, err)
		}
	}
	if err := call(agent, "list_routes"); err == nil || !strings.Contains(err.Error(), "Too Many Requests") {
		t.Fatalf("agent's 6th call within the minute: %v; want 429", err)
	}
	_, metrics := body("http://" + status + "/metrics")
	for _, want := range []string{
		`sluice_mcp_tool_calls_total{outcome="ok",route="mcp",server="gateway",tool="list_routes"} 5`,
		`sluice_mcp_tool_calls_total{outcome="denied",route="mcp",server="gateway",tool="usage"} 1`,
		`sluice_mcp_sessions{route="mcp",server="gateway"} 3`, // the 2026 client holds no session
		`sluice_mcp_requests_total{code="200",method="initialize",route="mcp",server="gateway"} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grep(metrics, "sluice_mcp_"))
	}
	// Audit lines are written by the route's own goroutine, just after
	// the answers.
	waitUntil(t, "an audit line for the tool calls", func() bool {
		return strings.Contains(stdout.String()+stderr.String(), `"msg":"mcp tool call"`)
	})
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
