package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// envStdioServer makes the test binary an MCP stdio server (see TestMain),
// so the gateway can run it as an mcp_servers command.
const envStdioServer = "SLUICE_TEST_STDIO_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(envStdioServer) == "1" {
		serveStdio()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type echoArgs struct {
	Text string `json:"text"`
}

func serveStdio() {
	s := mcp.NewServer(&mcp.Implementation{Name: "stdio-test", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, echoArgs, error) {
		return nil, echoArgs{Text: "pid" + ":" + in.Text}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "crash"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, echoArgs, error) {
		os.Exit(3)
		return nil, echoArgs{}, nil
	})
	_ = s.Run(context.Background(), &mcp.StdioTransport{})
}

// TestStdioServerThroughGateway runs the test binary as a stdio MCP server
// behind an mcp route: a go-sdk client lists and calls its tools over
// Streamable HTTP, and a crash mid-call is a JSON-RPC error followed by a
// 404 for the ended session.
func TestStdioServerThroughGateway(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr, status := freePort(t), freePort(t)
	cfg := `listeners: [{addr: ` + addr + `}]
status: {addr: ` + status + `}
mcp_servers:
  - name: local
    command: ["` + exe + `"]
    env: {` + envStdioServer + `: "1"}
routes:
  - name: mcp
    match: {paths: ["/mcp"]}
    mcp: {servers: [local]}
`
	path := writeFile(t, "stdio.yaml", cfg)
	var stdout, stderr syncWriter
	in, err := start(source{name: path, path: path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { in.shutdown() })

	cs, err := mcpConnect(t, "http://"+addr+"/mcp", "", "2025-11-25")
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr.String())
	}
	if got := toolNames(t, cs); got != "crash,echo" {
		t.Fatalf("tools = %s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("echo = %+v, %v", res, err)
	}
	if b, _ := json.Marshal(res.StructuredContent); !strings.Contains(string(b), `"pid:hi"`) {
		t.Fatalf("echo = %s", b)
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "crash", Arguments: map[string]any{"text": ""}})
	if err == nil {
		// The JSON-RPC error for the call, or the end of the session's
		// stream, whichever the client sees first: never a hang.
		t.Fatalf("crash mid-call succeeded; want an error")
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "again"}})
	if err == nil {
		t.Fatal("a call on the crashed session succeeded; want the session ended")
	}
	// A new session gets a new process.
	cs2, err := mcpConnect(t, "http://"+addr+"/mcp", "", "2025-11-25")
	if err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	if got := toolNames(t, cs2); got != "crash,echo" {
		t.Fatalf("tools after restart = %s", got)
	}
}

// TestFederatedServers federates a stdio server and the built-in one
// behind one route: one session, both servers' tools under their prefixes,
// calls routed to each, and metrics by the owning server.
func TestFederatedServers(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr, status := freePort(t), freePort(t)
	cfg := `listeners: [{addr: ` + addr + `}]
status: {addr: ` + status + `}
mcp_servers:
  - name: local
    command: ["` + exe + `"]
    env: {` + envStdioServer + `: "1"}
  - {name: gateway, builtin: gateway}
routes:
  - name: tools
    match: {paths: ["/mcp"]}
    mcp:
      servers: [local, gateway]
      tools:
        deny: {"*": ["local__crash"]}
`
	path := writeFile(t, "federated.yaml", cfg)
	var stdout, stderr syncWriter
	in, err := start(source{name: path, path: path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { in.shutdown() })

	cs, err := mcpConnect(t, "http://"+addr+"/mcp", "", "2025-11-25")
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, stderr.String())
	}
	if got, want := toolNames(t, cs), "local__echo,gateway__list_routes,gateway__upstream_health,gateway__usage"; got != want {
		t.Fatalf("tools = %s; want %s", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "local__echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("local__echo = %+v, %v", res, err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "gateway__list_routes", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("gateway__list_routes = %+v, %v", res, err)
	}
	if b, _ := json.Marshal(res); !strings.Contains(string(b), `tools`) {
		t.Fatalf("list_routes does not list the route: %s", b)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "local__crash", Arguments: map[string]any{}}); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("local__crash: %v; want the ACL's refusal", err)
	}
	_, metrics := body("http://" + status + "/metrics")
	for _, want := range []string{
		`sluice_mcp_tool_calls_total{outcome="ok",route="tools",server="local",tool="local__echo"} 1`,
		`sluice_mcp_tool_calls_total{outcome="ok",route="tools",server="gateway",tool="gateway__list_routes"} 1`,
		`sluice_mcp_requests_total{code="200",method="tools/list",route="tools",server="*"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grep(metrics, "sluice_mcp_"))
	}
}

// TestStdioSurvivesReload: a reload that leaves a stdio server's entry as
// it was keeps its processes, so open sessions go on; one that changes the
// entry restarts it, and a new session works.
func TestStdioSurvivesReload(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr, status := freePort(t), freePort(t)
	config := func(route, level string) string {
		return `listeners: [{addr: ` + addr + `}]
status: {addr: ` + status + `}
mcp_servers:
  - name: local
    command: ["` + exe + `"]
    env: {` + envStdioServer + `: "1", LEVEL: ` + level + `}
routes:
  - name: ` + route + `
    match: {paths: ["/mcp"]}
    mcp: {servers: [local]}
`
	}
	path := writeFile(t, "reload.yaml", config("mcp", "info"))
	var stdout, stderr syncWriter
	in, err := start(source{name: path, path: path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { in.shutdown() })
	// The test drives reloads itself (wait, which watches the file, is
	// not running) and counts them in the log.
	applied := func(n int) {
		in.reload("test", false)
		if got := strings.Count(stdout.String()+stderr.String(), `"msg":"configuration applied"`); got != n {
			t.Fatalf("%d configurations applied; want %d\n%s", got, n, stderr.String())
		}
	}
	call := func(cs *mcp.ClientSession) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
		if err == nil && res.IsError {
			err = errors.New("tool error")
		}
		return err
	}
	cs, err := mcpConnect(t, "http://"+addr+"/mcp", "", "2025-11-25")
	if err != nil {
		t.Fatal(err)
	}
	if err := call(cs); err != nil {
		t.Fatal(err)
	}
	// A change elsewhere in the file: the stdio entry is as it was.
	os.WriteFile(path, []byte(config("mcp", "info")+"\nconsumers: [{name: someone}]\n"), 0o600)
	applied(2)
	if err := call(cs); err != nil {
		t.Fatalf("the session ended at a reload that left its server alone: %v", err)
	}
	os.WriteFile(path, []byte(config("mcp", "debug")), 0o600)
	applied(3)
	if err := call(cs); err == nil {
		t.Fatal("a call on the old process's session succeeded after the server's entry changed; want it restarted")
	}
	cs2, err := mcpConnect(t, "http://"+addr+"/mcp", "", "2025-11-25")
	if err != nil {
		t.Fatalf("a new session after the restart: %v", err)
	}
	if err := call(cs2); err != nil {
		t.Fatal(err)
	}
}
