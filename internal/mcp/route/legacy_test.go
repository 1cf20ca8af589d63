package route

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sluicegw/sluice/internal/mcp/sessionid"
)

// connectSSE connects a go-sdk client over the legacy HTTP+SSE transport.
func connectSSE(t *testing.T, url, consumer string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	t.Helper()
	// The stream lives in the context given to Connect.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c := mcp.NewClient(&mcp.Implementation{Name: "sse-client", Version: "1"}, opts)
	return c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: consumerTransport{consumer}}}, nil)
}

// eventually waits up to 10s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLegacySSEClient: a client of the 2024-11-05 HTTP+SSE transport
// reaches a Streamable HTTP server, an in-process one and a 2026-only one.
// Answers (JSON, or SSE with progress) arrive on its stream; so do the
// server's notifications from its own GET stream; closing the client's
// stream ends the server's session.
func TestLegacySSEClient(t *testing.T) {
	tests := []struct {
		name     string
		modern   bool // a 2026-only server: no server session, no GET stream
		inproc   bool
		jsonResp bool
	}{
		{name: "streamable"},
		{name: "streamable, JSON answers", jsonResp: true},
		{name: "in-process", inproc: true},
		{name: "2026-only", modern: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			progress := make(chan struct{})
			var srv *mcp.Server
			var handler http.Handler
			if tt.modern {
				srv = newModernServer("up", progress)
				handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
			} else {
				srv = mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
				addTools(srv, "up", progress)
				handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
					&mcp.StreamableHTTPOptions{JSONResponse: tt.jsonResp, DisableLocalhostProtection: true})
			}
			cfg := Config{Server: Server{Name: "up"}}
			if tt.inproc {
				cfg.Server.Handler = rec.wrap(handler)
			} else {
				up := httptest.NewServer(rec.wrap(handler))
				defer up.Close()
				cfg.Server.Pool, cfg.Server.Path = pool(t, up.URL), "/mcp"
			}
			var sessions atomic.Int64
			cfg.OnSessions = func(d int) { sessions.Add(int64(d)) }
			h := newHandler(t, cfg)
			gw := gateway(t, h)

			var got atomic.Int32
			changed := make(chan struct{}, 1)
			cs, err := connectSSE(t, gw.URL+"/mcp", "agent", &mcp.ClientOptions{
				ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
					got.Add(1)
					progress <- struct{}{}
				},
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
					select {
					case changed <- struct{}{}:
					default:
					}
				},
			})
			if err != nil {
				t.Fatalf("connect over SSE: %v", err)
			}
			if sessions.Load() != 1 {
				t.Fatalf("open sessions = %d; want 1", sessions.Load())
			}
			if got := callEcho(t, cs, "old"); got != "up:old" {
				t.Fatalf("echo = %q", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil || len(tools.Tools) != 2 {
				t.Fatalf("ListTools = %v, %v; want 2 tools", tools, err)
			}
			if !tt.jsonResp {
				p := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"text": ""}}
				p.SetProgressToken("tok")
				res, err := cs.CallTool(ctx, p)
				if err != nil || res.IsError || got.Load() != 3 {
					t.Fatalf("count = %+v, %v after %d progress notifications; want 3", res, err, got.Load())
				}
			}
			if err := cs.Ping(ctx, nil); err != nil {
				t.Fatalf("ping: %v", err)
			}
			if !tt.modern {
				// A notification outside any request: it comes on the
				// server's GET stream, which the gateway pipes on.
				eventually(t, "the server's GET stream", func() bool { return rec.count("GET") == 1 })
				srv.AddTool(&mcp.Tool{Name: "late", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					return &mcp.CallToolResult{}, nil
				})
				select {
				case <-changed:
				case <-time.After(10 * time.Second):
					t.Fatal("tools/list_changed never reached the client")
				}
			}
			if err := cs.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			eventually(t, "the session to end", func() bool { return h.Sessions() == 0 && sessions.Load() == 0 })
			wantDeletes := 1
			if tt.modern {
				wantDeletes = 0 // no server session to end
				if n := rec.count("POST initialize"); n != 1 {
					t.Fatalf("initialize reached the 2026 server %d times; want 1 (%s)", n, rec)
				}
			}
			eventually(t, "DELETE at the server", func() bool { return rec.count("DELETE") == wantDeletes })
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.fault) > 0 {
				t.Fatalf("2026 requests without matching headers and _meta: %s", rec.fault)
			}
		})
	}
}

// openLegacy opens a legacy stream by hand and returns its endpoint.
func openLegacy(t *testing.T, url, consumer string) (endpoint string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Test-Consumer", consumer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		resp.Body.Close()
		return "", func() {}
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the endpoint event: %v", err)
		}
		if ep, ok := strings.CutPrefix(line, "data: "); ok {
			return strings.TrimSpace(ep), func() { cancel(); resp.Body.Close() }
		}
	}
}

func TestLegacySSEBadInput(t *testing.T) {
	rec := &recorder{}
	s := newMCPServer("up", nil)
	up := httptest.NewServer(rec.wrap(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)))
	defer up.Close()
	p := pool(t, up.URL)
	h := newHandler(t, Config{Server: Server{Name: "up", Pool: p, Path: "/mcp"}, MaxBody: 1024, MaxPerConsumer: 1})
	gw := gateway(t, h)
	other := gateway(t, newHandler(t, Config{Server: Server{Name: "up", Pool: p, Path: "/mcp"}}))

	ep, stop := openLegacy(t, gw.URL+"/mcp", "agent")
	defer stop()
	if !strings.HasPrefix(ep, "/mcp?session=s1.") {
		t.Fatalf("endpoint = %q; want the route's path with a sealed session", ep)
	}
	if ep2, stop2 := openLegacy(t, gw.URL+"/mcp", "agent"); ep2 != "" {
		stop2()
		t.Fatalf("a second stream for a consumer with max 1 opened")
	}
	closed, stopClosed := openLegacy(t, gw.URL+"/mcp", "other")
	stopClosed()
	eventually(t, "the closed stream's session to end", func() bool { return h.Sessions() == 1 })
	foreignKeys, _ := sessionid.New([]string{"another-gateway-key-01234"})
	foreign, _ := foreignKeys.Seal("mcp", &sessionid.State{ID: "x", Issued: time.Now().Unix(), Legs: []sessionid.Leg{{Server: "up", Target: legacyClient}}})
	list := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	tests := []struct {
		name, url, consumer, body string
		status                    int
		code                      float64
	}{
		{"garbage session", gw.URL + "/mcp?session=abc", "agent", list, 404, -32600},
		{"foreign session", gw.URL + "/mcp?session=" + foreign, "agent", list, 404, -32600},
		{"another consumer", gw.URL + ep, "intruder", list, 404, -32600},
		{"closed stream", gw.URL + closed, "other", list, 404, -32600},
		{"another replica", other.URL + ep, "agent", list, 404, -32600},
		{"malformed JSON", gw.URL + ep, "agent", `{"jsonrpc":`, 400, -32700},
		{"oversize", gw.URL + ep, "agent", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("a", 2000) + `"}}`, 413, -32600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", tt.url, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Test-Consumer", tt.consumer)
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
	if got := rec.String(); got != "" {
		t.Fatalf("bad input reached the server: %s", got)
	}
}
