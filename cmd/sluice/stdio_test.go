package main

import (
	"context"
	"encoding/json"
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
