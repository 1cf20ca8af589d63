package route

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sluicegw/sluice/internal/mcp/sessionid"
)

// recorder counts what reaches an MCP server: "POST <method>", "GET",
// "DELETE", and what a 2026 request must carry.
type recorder struct {
	mu    sync.Mutex
	seen  []string
	fault []string // requests that broke a rule the test checks
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		what := r.Method
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			var m struct {
				Method string `json:"method"`
				Params struct {
					Meta map[string]json.RawMessage `json:"_meta"`
				} `json:"params"`
			}
			_ = json.Unmarshal(body, &m)
			what += " " + m.Method
			if r.Header.Get("Mcp-Protocol-Version") == modern && m.Method != "" && !strings.HasPrefix(m.Method, "notifications/") &&
				(r.Header.Get("Mcp-Method") != m.Method || string(m.Params.Meta["io.modelcontextprotocol/protocolVersion"]) != `"`+modern+`"`) {
				rec.mu.Lock()
				rec.fault = append(rec.fault, string(body))
				rec.mu.Unlock()
			}
		}
		rec.mu.Lock()
		rec.seen = append(rec.seen, what)
		rec.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// count returns how many requests were what.
func (rec *recorder) count(what string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := 0
	for _, s := range rec.seen {
		if s == what {
			n++
		}
	}
	return n
}

func (rec *recorder) String() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return strings.Join(rec.seen, ", ")
}

// cafe is a resource URI that is not header-safe: its Mcp-Name header
// takes the base64 form.
const cafe = "file:///café.txt"

// newModernServer is newMCPServer's tools on a server that speaks only
// 2026-07-28, plus a prompt and a resource.
func newModernServer(name string, progress chan struct{}) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "2"},
		&mcp.ServerOptions{SupportedProtocolVersions: []string{modern}, Instructions: "use echo"})
	addTools(s, name, progress)
	s.AddPrompt(&mcp.Prompt{Name: "greet"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello " + req.Params.Arguments["who"]}}}}, nil
	})
	s.AddResource(&mcp.Resource{URI: cafe, Name: "cafe"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "espresso"}}}, nil
	})
	return s
}

// addTools adds newMCPServer's echo and count tools to s.
func addTools(s *mcp.Server, name string, progress chan struct{}) {
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		return nil, echoOut{Text: name + ":" + in.Text}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "count", Description: "progress 1..3"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		for i := 1; i <= 3; i++ {
			err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: 3})
			if err != nil {
				return nil, echoOut{}, err
			}
			if progress != nil {
				select {
				case <-progress:
				case <-ctx.Done():
					return nil, echoOut{}, ctx.Err()
				case <-time.After(10 * time.Second):
					return nil, echoOut{}, errors.New("the client never saw the progress notification")
				}
			}
		}
		return nil, echoOut{Text: "counted"}, nil
	})
}

// startModern serves a 2026-only server over Streamable HTTP, stateless.
func startModern(t *testing.T, rec *recorder, jsonAnswers bool, progress chan struct{}) *httptest.Server {
	t.Helper()
	s := newModernServer("modern", progress)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: jsonAnswers})
	up := httptest.NewServer(rec.wrap(h))
	t.Cleanup(up.Close)
	return up
}

// TestTranslateLegacyClient: clients of the initialize era reach a server
// that speaks only 2026-07-28, with JSON and SSE answers.
func TestTranslateLegacyClient(t *testing.T) {
	for _, jsonAnswers := range []bool{false, true} {
		name := "SSE answers"
		if jsonAnswers {
			name = "JSON answers"
		}
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			progress := make(chan struct{})
			up := startModern(t, rec, jsonAnswers, progress)
			h := newHandler(t, Config{Server: Server{Name: "modern", Pool: pool(t, up.URL), Path: "/mcp"}})
			gw := gateway(t, h)
			for i, version := range []string{"2025-11-25", "2025-06-18"} {
				var got atomic.Int32
				cs := connect(t, gw.URL, version, "agent", &mcp.ClientOptions{
					ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
						got.Add(1)
						progress <- struct{}{}
					},
				})
				init := cs.InitializeResult()
				if init.ProtocolVersion != version || init.ServerInfo.Name != "modern" || init.Instructions != "use echo" || init.Capabilities.Tools == nil {
					b, _ := json.Marshal(init)
					t.Fatalf("%s: initialize result %s; want the client's version and the server's info", version, b)
				}
				sess, err := h.cfg.Sealer.Open("mcp", cs.ID())
				if err != nil || !h.translated(sess) {
					t.Fatalf("%s: session %q is not a translated one (%v)", version, cs.ID(), err)
				}
				if got := callEcho(t, cs, "hi"); got != "modern:hi" {
					t.Fatalf("%s: echo = %q", version, got)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				tools, err := cs.ListTools(ctx, nil)
				if err != nil || len(tools.Tools) != 2 {
					t.Fatalf("%s: ListTools = %v, %v; want 2 tools", version, tools, err)
				}
				if !jsonAnswers { // a JSON answer has no room for progress notifications
					p := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"text": ""}}
					p.SetProgressToken("tok")
					res, err := cs.CallTool(ctx, p)
					if err != nil || res.IsError || got.Load() != 3 {
						t.Fatalf("%s: count = %+v, %v after %d progress notifications; want 3", version, res, err, got.Load())
					}
				}
				pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet", Arguments: map[string]string{"who": "you"}})
				if err != nil || len(pr.Messages) != 1 || pr.Messages[0].Content.(*mcp.TextContent).Text != "hello you" {
					t.Fatalf("%s: GetPrompt = %+v, %v", version, pr, err)
				}
				rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: cafe})
				if err != nil || len(rr.Contents) != 1 || rr.Contents[0].Text != "espresso" {
					t.Fatalf("%s: ReadResource(%s) = %+v, %v", version, cafe, rr, err)
				}
				if err := cs.Ping(ctx, nil); err != nil {
					t.Fatalf("%s: ping: %v", version, err)
				}
				if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
					t.Fatalf("%s: setLevel: %v", version, err)
				}
				// An unknown method is a JSON-RPC error, not a lost session
				// (the 2026 server answers it 404).
				resp := rawSession{url: gw.URL, id: cs.ID(), consumer: "agent"}.post(t, `{"jsonrpc":"2.0","id":5,"method":"nope/nope"}`, map[string]string{"Mcp-Protocol-Version": version})
				m := rpcResult(t, resp)
				if e, _ := m["error"].(map[string]any); resp.StatusCode != 200 || e["code"] != float64(-32601) {
					t.Fatalf("%s: unknown method: %d %v; want 200 with -32601", version, resp.StatusCode, m)
				}
				if got := callEcho(t, cs, "still"); got != "modern:still" {
					t.Fatalf("%s: echo after an error = %q", version, got)
				}
				if err := cs.Close(); err != nil {
					t.Fatalf("%s: close: %v", version, err)
				}
				if n := h.Sessions(); n != 0 {
					t.Fatalf("%s: %d sessions open after close", version, n)
				}
				// The first initialize was tried on the server; after that the
				// gateway knows, and only asks server/discover.
				if got, want := rec.count("POST server/discover"), i+1; got != want {
					t.Fatalf("%s: server/discover %d times; want %d (%s)", version, got, want, rec)
				}
			}
			if rec.count("POST initialize") != 1 || rec.count("GET") != 0 || rec.count("DELETE") != 0 || rec.count("POST ping") != 0 {
				t.Fatalf("the server saw %s; want one initialize, no ping, GET or DELETE", rec)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.fault) > 0 {
				t.Fatalf("2026 requests without matching headers and _meta: %s", rec.fault)
			}
		})
	}
}

// TestTranslateOnlyModernServers: a server that does initialize is proxied
// as it is. A stateful one is never asked server/discover; a stateless one
// once, after which the verdict holds.
func TestTranslateOnlyModernServers(t *testing.T) {
	tests := []struct {
		name      string
		opts      *mcp.StreamableHTTPOptions
		discovers int
	}{
		{"stateful", nil, 0},
		{"stateless", &mcp.StreamableHTTPOptions{Stateless: true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			s := newMCPServer("legacy", nil)
			up := httptest.NewServer(rec.wrap(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, tt.opts)))
			defer up.Close()
			h := newHandler(t, Config{Server: Server{Name: "legacy", Pool: pool(t, up.URL), Path: "/mcp"}})
			gw := gateway(t, h)
			for range 3 {
				cs := connect(t, gw.URL, "2025-11-25", "agent", nil)
				if got := callEcho(t, cs, "x"); got != "legacy:x" {
					t.Fatalf("echo = %q", got)
				}
				if sess, err := h.cfg.Sealer.Open("mcp", cs.ID()); err != nil || h.translated(sess) {
					t.Fatalf("session of a legacy server is translated (%v)", err)
				}
				cs.Close()
			}
			if got := rec.count("POST server/discover"); got != tt.discovers {
				t.Fatalf("server/discover %d times; want %d (%s)", got, tt.discovers, rec)
			}
			if got := rec.count("POST initialize"); got != 3 {
				t.Fatalf("initialize reached the server %d times; want 3", got)
			}
		})
	}
}

// TestTranslateBadInput: refusals inside a translated session keep the
// route's statuses, and nothing reaches the server.
func TestTranslateBadInput(t *testing.T) {
	rec := &recorder{}
	up := startModern(t, rec, false, nil)
	h := newHandler(t, Config{Server: Server{Name: "modern", Pool: pool(t, up.URL), Path: "/mcp"}, MaxBody: 1024})
	gw := gateway(t, h)
	cs := connect(t, gw.URL, "2025-11-25", "agent", nil)
	before := rec.String()
	sid := cs.ID()
	other, _ := sessionid.New([]string{"another-gateway-key-01234"})
	foreign, _ := other.Seal("mcp", &sessionid.State{ID: "x", Issued: time.Now().Unix(), Legs: []sessionid.Leg{{Server: "modern", Version: modern}}})
	tests := []struct {
		name, method, body, session string
		status                      int
		code                        float64
	}{
		{"malformed JSON", "POST", `{"jsonrpc":`, sid, 400, -32700},
		{"oversize", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` + strings.Repeat("a", 2000) + `"}}}`, sid, 413, -32600},
		{"foreign session", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, foreign, 404, -32600},
		{"another consumer's session", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, sid + "|intruder", 404, -32600},
		{"GET stream", "GET", "", sid, 405, -32600},
		{"resource subscription", "POST", `{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"` + cafe + `"}}`, sid, 200, -32601},
		{"initialize again", "POST", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`, sid, 200, -32600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			consumer := "agent"
			id := tt.session
			if s, ok := strings.CutSuffix(id, "|intruder"); ok {
				id, consumer = s, "intruder"
			}
			req, _ := http.NewRequest(tt.method, gw.URL, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", id)
			req.Header.Set("X-Test-Consumer", consumer)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			m := rpcResult(t, resp)
			e, _ := m["error"].(map[string]any)
			if resp.StatusCode != tt.status || e["code"] != tt.code {
				t.Fatalf("status %d, %v; want %d with code %v", resp.StatusCode, m, tt.status, tt.code)
			}
		})
	}
	if after := rec.String(); after != before {
		t.Fatalf("bad input reached the server: %s", strings.TrimPrefix(after, before))
	}
}

func TestModernBody(t *testing.T) {
	const meta = `"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}`
	tests := []struct{ in, want string }{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{` + meta + `}}}`},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}} `,
			`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{` + meta + `}}} `},
		{`{"params": {"name":"e", "arguments":{"_meta":1}},"jsonrpc":"2.0","id":1,"method":"tools/call"}`,
			`{"params": {"name":"e", "arguments":{"_meta":1},"_meta":{` + meta + `}},"jsonrpc":"2.0","id":1,"method":"tools/call"}`},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":{"progressToken":"t","io.modelcontextprotocol/protocolVersion":"2025-11-25"}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":{"progressToken":"t",` + meta + `}}}`},
		{`{"jsonrpc":"2.0","id":1,"method":"x","par\u0061ms":{"_m\u0065ta":{}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"x","par\u0061ms":{"_m\u0065ta":{` + meta + `}}}`},
	}
	for _, tt := range tests {
		got, err := modernBody([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("modernBody(%s) =\n%s, %v; want\n%s", tt.in, got, err, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("modernBody(%s) is not JSON", tt.in)
		}
	}
	if _, err := modernBody([]byte(`{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}`)); err == nil {
		t.Errorf("modernBody with by-position params: no error")
	}
}
