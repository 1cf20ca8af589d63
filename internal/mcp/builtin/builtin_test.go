package builtin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fakeSource hands out data in no particular order, with nil lists, as a
// gateway reading maps might.
type fakeSource struct{}

func (fakeSource) Routes() []Route {
	return []Route{
		{Name: "tools", Kind: KindMCP, Paths: []string{"/mcp"}, Methods: []string{"POST", "GET", "DELETE"}, Upstream: "builtin"},
		{Name: "chat", Kind: KindAI, Hosts: []string{"api.example.com"}, Paths: []string{"/v1/chat/completions"}, Methods: []string{"POST"}, Upstream: "openai"},
		{Name: "web", Kind: KindHTTP, Paths: []string{"/"}, Upstream: "web"},
	}
}

func (fakeSource) Upstreams() []Upstream {
	return []Upstream{
		{Name: "web", Targets: []Target{
			{URL: "http://10.0.0.2:8080", Healthy: false},
			{URL: "http://10.0.0.1:8080", Healthy: true, InFlight: 3},
		}},
		{Name: "openai", Targets: []Target{{URL: "https://api.openai.com", Healthy: true, InFlight: 1}}},
	}
}

func (fakeSource) Usage() []Usage {
	return []Usage{
		{Route: "chat", Consumer: "bob", Requests: 2, InputTokens: 20, OutputTokens: 8, CostUSD: 0.25},
		{Route: "web", Consumer: "alice", Requests: 5, Errors: 1},
		{Route: "chat", Consumer: "alice", Requests: 10, Errors: 2, InputTokens: 100, OutputTokens: 40, CostUSD: 0.5},
	}
}

var (
	wantRoutes = []Route{
		{Name: "chat", Kind: KindAI, Hosts: []string{"api.example.com"}, Paths: []string{"/v1/chat/completions"}, Methods: []string{"POST"}, Upstream: "openai"},
		{Name: "tools", Kind: KindMCP, Hosts: []string{}, Paths: []string{"/mcp"}, Methods: []string{"POST", "GET", "DELETE"}, Upstream: "builtin"},
		{Name: "web", Kind: KindHTTP, Hosts: []string{}, Paths: []string{"/"}, Methods: []string{}, Upstream: "web"},
	}
	wantOpenAI = Upstream{Name: "openai", Targets: []Target{{URL: "https://api.openai.com", Healthy: true, InFlight: 1}}}
	wantWeb    = Upstream{Name: "web", Targets: []Target{
		{URL: "http://10.0.0.1:8080", Healthy: true, InFlight: 3},
		{URL: "http://10.0.0.2:8080", Healthy: false},
	}}
	chatAlice = Usage{Route: "chat", Consumer: "alice", Requests: 10, Errors: 2, InputTokens: 100, OutputTokens: 40, CostUSD: 0.5}
	chatBob   = Usage{Route: "chat", Consumer: "bob", Requests: 2, InputTokens: 20, OutputTokens: 8, CostUSD: 0.25}
	webAlice  = Usage{Route: "web", Consumer: "alice", Requests: 5, Errors: 1}
)

// toolCase is one tools/call and what it must return: want is the expected
// structured output (nil for error results), and wantText lists substrings
// of the text content.
type toolCase struct {
	name     string
	tool     string
	args     map[string]any
	want     any
	wantErr  bool
	wantText []string
}

var toolCases = []toolCase{
	{
		name:     "routes all",
		tool:     "list_routes",
		want:     &listRoutesOut{Routes: wantRoutes},
		wantText: []string{"3 routes", "chat (ai) hosts=api.example.com paths=/v1/chat/completions methods=POST -> openai"},
	},
	{
		name:     "routes of kind ai",
		tool:     "list_routes",
		args:     map[string]any{"kind": "ai"},
		want:     &listRoutesOut{Routes: wantRoutes[:1]},
		wantText: []string{"1 route\n"},
	},
	{
		name:     "routes of unknown kind",
		tool:     "list_routes",
		args:     map[string]any{"kind": "grpc"},
		wantErr:  true,
		wantText: []string{`unknown kind "grpc"`, "http, ai or mcp"},
	},
	{
		name:     "upstreams all",
		tool:     "upstream_health",
		want:     &upstreamHealthOut{Upstreams: []Upstream{wantOpenAI, wantWeb}},
		wantText: []string{"web: 1/2 healthy", "http://10.0.0.2:8080 UNHEALTHY, 0 in flight"},
	},
	{
		name: "one upstream",
		tool: "upstream_health",
		args: map[string]any{"upstream": "web"},
		want: &upstreamHealthOut{Upstreams: []Upstream{wantWeb}},
	},
	{
		name:     "unknown upstream",
		tool:     "upstream_health",
		args:     map[string]any{"upstream": "anthropic"},
		wantErr:  true,
		wantText: []string{`unknown upstream "anthropic"`, "known upstreams are openai, web"},
	},
	{
		name:     "usage all",
		tool:     "usage",
		want:     &usageOut{Usage: []Usage{chatAlice, chatBob, webAlice}, Total: usageTotal{Requests: 17, Errors: 3, InputTokens: 120, OutputTokens: 48, CostUSD: 0.75}},
		wantText: []string{"3 rows; total 17 requests, 3 errors, 120 input + 48 output tokens, $0.75", "chat / bob: 2 requests"},
	},
	{
		name: "usage of a consumer",
		tool: "usage",
		args: map[string]any{"consumer": "alice"},
		want: &usageOut{Usage: []Usage{chatAlice, webAlice}, Total: usageTotal{Requests: 15, Errors: 3, InputTokens: 100, OutputTokens: 40, CostUSD: 0.5}},
	},
	{
		name: "usage of a route and consumer",
		tool: "usage",
		args: map[string]any{"route": "chat", "consumer": "bob"},
		want: &usageOut{Usage: []Usage{chatBob}, Total: usageTotal{Requests: 2, InputTokens: 20, OutputTokens: 8, CostUSD: 0.25}},
	},
	{
		name:     "usage of an idle consumer",
		tool:     "usage",
		args:     map[string]any{"consumer": "carol"},
		want:     &usageOut{Usage: []Usage{}},
		wantText: []string{"0 rows"},
	},
	{
		name:     "unknown argument",
		tool:     "usage",
		args:     map[string]any{"model": "gpt"},
		wantErr:  true,
		wantText: []string{"model"},
	},
}

// TestClientEras drives the server with the SDK's own client at each
// protocol era it must serve, over real HTTP.
func TestClientEras(t *testing.T) {
	tests := []struct {
		name        string
		version     string // ClientSessionOptions.ProtocolVersion
		wantVersion string // negotiated
		wantSession bool   // legacy eras get an Mcp-Session-Id
	}{
		{name: "2025-06-18", version: "2025-06-18", wantVersion: "2025-06-18", wantSession: true},
		{name: "2025-11-25", version: "2025-11-25", wantVersion: "2025-11-25", wantSession: true},
		{name: "default is 2026-07-28", version: "", wantVersion: "2026-07-28", wantSession: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(New(fakeSource{}, "1.2.3"))
			t.Cleanup(srv.Close)
			ctx := t.Context()

			client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil)
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL},
				&mcp.ClientSessionOptions{ProtocolVersion: tt.version})
			if err != nil {
				t.Fatalf("Connect(%q): %v", tt.version, err)
			}
			t.Cleanup(func() { cs.Close() })

			ir := cs.InitializeResult()
			if ir.ProtocolVersion != tt.wantVersion {
				t.Errorf("negotiated version = %q; want %q", ir.ProtocolVersion, tt.wantVersion)
			}
			if ir.ServerInfo == nil || ir.ServerInfo.Name != "sluice" || ir.ServerInfo.Version != "1.2.3" {
				t.Errorf("server info = %+v; want sluice 1.2.3", ir.ServerInfo)
			}
			if !strings.Contains(ir.Instructions, "Sluice") {
				t.Errorf("instructions = %q; want a description of Sluice", ir.Instructions)
			}
			if got := cs.ID() != ""; got != tt.wantSession {
				t.Errorf("has session ID = %v (%q); want %v", got, cs.ID(), tt.wantSession)
			}

			checkToolList(t, ctx, cs)
			for _, tc := range toolCases {
				t.Run(tc.name, func(t *testing.T) { checkToolCall(t, ctx, cs, tc) })
			}
		})
	}
}

func checkToolList(t *testing.T, ctx context.Context, cs *mcp.ClientSession) {
	t.Helper()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if a := tool.Annotations; a == nil || !a.ReadOnlyHint || !a.IdempotentHint {
			t.Errorf("tool %s annotations = %+v; want read-only and idempotent", tool.Name, a)
		}
		if tool.InputSchema == nil || tool.OutputSchema == nil {
			t.Errorf("tool %s: input schema %v, output schema %v; want both", tool.Name, tool.InputSchema, tool.OutputSchema)
		}
		if tool.Description == "" {
			t.Errorf("tool %s has no description", tool.Name)
		}
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"list_routes", "upstream_health", "usage"}, names); diff != "" {
		t.Errorf("tool names (-want +got):\n%s", diff)
	}
}

func checkToolCall(t *testing.T, ctx context.Context, cs *mcp.ClientSession, tc toolCase) {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
	if err != nil {
		t.Fatalf("CallTool(%s, %v): %v", tc.tool, tc.args, err)
	}
	text := resultText(res)
	if res.IsError != tc.wantErr {
		t.Fatalf("CallTool(%s, %v).IsError = %v (%q); want %v", tc.tool, tc.args, res.IsError, text, tc.wantErr)
	}
	for _, s := range tc.wantText {
		if !strings.Contains(text, s) {
			t.Errorf("CallTool(%s, %v) text = %q; want it to contain %q", tc.tool, tc.args, text, s)
		}
	}
	if tc.want == nil {
		return
	}
	// The client sees structured content as decoded JSON; decode it again
	// into the tool's output type to compare.
	data, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatalf("marshal structured content: %v", err)
	}
	got := reflectNew(tc.want)
	if err := json.Unmarshal(data, got); err != nil {
		t.Fatalf("structured content %s: %v", data, err)
	}
	if diff := cmp.Diff(tc.want, got); diff != "" {
		t.Errorf("CallTool(%s, %v) structured content (-want +got):\n%s", tc.tool, tc.args, diff)
	}
}

// reflectNew returns a new zero value of the output type want points to.
func reflectNew(want any) any {
	switch want.(type) {
	case *listRoutesOut:
		return new(listRoutesOut)
	case *upstreamHealthOut:
		return new(upstreamHealthOut)
	case *usageOut:
		return new(usageOut)
	}
	panic("unknown output type")
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

const (
	modernMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	initBody   = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
)

// TestRawHTTP pins the wire behavior the gateway relies on when it proxies
// to this handler: which era handles a request, and the SDK's answers.
func TestRawHTTP(t *testing.T) {
	srv := httptest.NewServer(New(fakeSource{}, "1.2.3"))
	t.Cleanup(srv.Close)

	modern := map[string]string{"Mcp-Protocol-Version": "2026-07-28"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	tests := []struct {
		name        string
		method      string
		host        string // request Host; empty means the listener's
		header      map[string]string
		body        string
		wantStatus  int
		wantSession bool
		wantCode    int      // JSON-RPC error code; 0 means a result or no JSON
		wantBody    []string // substrings of the body
	}{
		{
			name:       "2026 tools/list without session",
			method:     http.MethodPost,
			header:     with(modern, "Mcp-Method", "tools/list"),
			body:       `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{` + modernMeta + `}}`,
			wantStatus: http.StatusOK,
			wantBody:   []string{`"name":"list_routes"`, `"name":"upstream_health"`, `"name":"usage"`, `"io.modelcontextprotocol/serverInfo"`},
		},
		{
			name:       "2026 tools/call names the tool in Mcp-Name",
			method:     http.MethodPost,
			header:     with(modern, "Mcp-Method", "tools/call", "Mcp-Name", "upstream_health"),
			body:       `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"upstream_health","arguments":{"upstream":"openai"},` + modernMeta + `}}`,
			wantStatus: http.StatusOK,
			wantBody:   []string{`"structuredContent":{"upstreams":[{`, `"url":"https://api.openai.com"`},
		},
		{
			name:       "2026 server/discover",
			method:     http.MethodPost,
			header:     with(modern, "Mcp-Method", "server/discover"),
			body:       `{"jsonrpc":"2.0","id":3,"method":"server/discover","params":{` + modernMeta + `}}`,
			wantStatus: http.StatusOK,
			wantBody:   []string{`"supportedVersions":["2026-07-28","2025-11-25"`},
		},
		{
			name:       "2026 without Mcp-Method",
			method:     http.MethodPost,
			header:     modern,
			body:       `{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{` + modernMeta + `}}`,
			wantStatus: http.StatusBadRequest,
			wantCode:   -32020, // CodeHeaderMismatch
		},
		{
			name:       "2026 tools/call without Mcp-Name",
			method:     http.MethodPost,
			header:     with(modern, "Mcp-Method", "tools/call"),
			body:       `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"usage",` + modernMeta + `}}`,
			wantStatus: http.StatusBadRequest,
			wantCode:   -32020,
		},
		{
			name:       "2026 _meta without the version header goes to the legacy handler",
			method:     http.MethodPost,
			body:       `{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{` + modernMeta + `}}`,
			wantStatus: http.StatusBadRequest,
			wantCode:   -32022, // CodeUnsupportedProtocolVersion
		},
		{
			name:       "legacy tools/list without session",
			method:     http.MethodPost,
			header:     map[string]string{"Mcp-Protocol-Version": "2025-11-25"},
			body:       `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`,
			wantStatus: http.StatusOK, // the SDK answers with a JSON-RPC error, code 0
			wantBody:   []string{`method \"tools/list\" is invalid during session initialization`},
		},
		{
			name:        "legacy initialize opens a session",
			method:      http.MethodPost,
			body:        initBody,
			wantStatus:  http.StatusOK,
			wantSession: true,
			wantBody:    []string{`"protocolVersion":"2025-11-25"`, `"version":"1.2.3"`},
		},
		{
			name:        "Host is not checked on a loopback listener",
			method:      http.MethodPost,
			host:        "sluice.example",
			body:        initBody,
			wantStatus:  http.StatusOK,
			wantSession: true,
		},
		{
			name:       "unsupported legacy version",
			method:     http.MethodPost,
			header:     map[string]string{"Mcp-Protocol-Version": "2024-01-01"},
			body:       initBody,
			wantStatus: http.StatusBadRequest,
		},
		{name: "2026 GET", method: http.MethodGet, header: modern, wantStatus: http.StatusMethodNotAllowed},
		{name: "2026 DELETE", method: http.MethodDelete, header: modern, wantStatus: http.StatusMethodNotAllowed},
		{name: "legacy GET without session", method: http.MethodGet, wantStatus: http.StatusBadRequest},
		{name: "legacy DELETE without session", method: http.MethodDelete, wantStatus: http.StatusBadRequest},
		{name: "legacy DELETE of unknown session", method: http.MethodDelete, header: map[string]string{"Mcp-Session-Id": "nope"}, wantStatus: http.StatusNotFound},
		{name: "PUT", method: http.MethodPut, wantStatus: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv.URL, tt.method, tt.host, tt.header, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s status = %d (%s); want %d", tt.method, resp.StatusCode, body, tt.wantStatus)
			}
			if got := resp.Header.Get("Mcp-Session-Id") != ""; got != tt.wantSession {
				t.Errorf("Mcp-Session-Id = %q; want set: %v", resp.Header.Get("Mcp-Session-Id"), tt.wantSession)
			}
			if tt.wantCode != 0 {
				var msg struct {
					Error *struct{ Code int } `json:"error"`
				}
				if err := json.Unmarshal(body, &msg); err != nil || msg.Error == nil || msg.Error.Code != tt.wantCode {
					t.Errorf("body = %s; want JSON-RPC error code %d", body, tt.wantCode)
				}
			}
			for _, s := range tt.wantBody {
				if !strings.Contains(string(body), s) {
					t.Errorf("body = %s; want it to contain %s", body, s)
				}
			}
		})
	}
}

// TestLegacySessionLifecycle checks that a legacy session is usable by its
// ID after initialize and ends with DELETE.
func TestLegacySessionLifecycle(t *testing.T) {
	srv := httptest.NewServer(New(fakeSource{}, ""))
	t.Cleanup(srv.Close)

	resp, body := do(t, srv.URL, http.MethodPost, "", nil, initBody)
	id := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("initialize = %d, session %q (%s); want 200 and a session", resp.StatusCode, id, body)
	}
	if !strings.Contains(string(body), `"version":"dev"`) {
		t.Errorf("initialize body = %s; want server version dev for an empty version", body)
	}
	session := map[string]string{"Mcp-Session-Id": id, "Mcp-Protocol-Version": "2025-11-25"}

	steps := []struct {
		name       string
		method     string
		body       string
		wantStatus int
		wantBody   string
	}{
		{"initialized", http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, http.StatusAccepted, ""},
		{"tools/call", http.MethodPost, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_routes","arguments":{"kind":"mcp"}}}`, http.StatusOK, `"upstream":"builtin"`}, // only in structuredContent
		{"delete", http.MethodDelete, "", http.StatusNoContent, ""},
		{"deleted session is gone", http.MethodPost, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`, http.StatusNotFound, ""},
	}
	for _, st := range steps {
		resp, body := do(t, srv.URL, st.method, "", session, st.body)
		if resp.StatusCode != st.wantStatus {
			t.Fatalf("%s: status = %d (%s); want %d", st.name, resp.StatusCode, body, st.wantStatus)
		}
		if !strings.Contains(string(body), st.wantBody) {
			t.Errorf("%s: body = %s; want it to contain %s", st.name, body, st.wantBody)
		}
	}
}

// do sends one request as a Streamable HTTP client would and returns the
// response with its body read.
func do(t *testing.T, url, method, host string, header map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, data
}
