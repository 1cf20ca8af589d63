package route

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/mcp/sessionid"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// upstreamServer is a go-sdk MCP server with a few tools, served over
// Streamable HTTP by httptest; sessionIDs records what it was sent.
type upstreamServer struct {
	*httptest.Server
	mu       sync.Mutex
	sessions []string // Mcp-Session-Id of each request
	methods  []string // HTTP method of each request
	hosts    []string
	auth     []string
}

type echoIn struct {
	Text string `json:"text"`
}

type echoOut struct {
	Text string `json:"text"`
}

// newMCPServer builds the go-sdk server the tests put behind the route.
// progress, when set, is waited on after each progress notification of the
// "count" tool: the test signals it when the client has received that
// notification, so the next one is sent only then.
func newMCPServer(name string, progress chan struct{}) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		return nil, echoOut{Text: name + ":" + in.Text}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "secret", Description: "not for everyone"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		return nil, echoOut{Text: "classified"}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "a tool error"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		return nil, echoOut{}, errors.New("it failed")
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
					return nil, echoOut{}, errors.New("the client never saw the progress notification: the gateway buffers")
				}
			}
		}
		return nil, echoOut{Text: "counted"}, nil
	})
	return s
}

func startUpstream(t *testing.T, name string, opts *mcp.StreamableHTTPOptions, progress chan struct{}) *upstreamServer {
	t.Helper()
	return serve(t, newMCPServer(name, progress), opts)
}

// serve serves s over Streamable HTTP, recording what each request carried.
func serve(t *testing.T, s *mcp.Server, opts *mcp.StreamableHTTPOptions) *upstreamServer {
	t.Helper()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, opts)
	u := &upstreamServer{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.sessions = append(u.sessions, r.Header.Get("Mcp-Session-Id"))
		u.methods = append(u.methods, r.Method)
		u.hosts = append(u.hosts, r.Host)
		u.auth = append(u.auth, r.Header.Get("Authorization")+r.Header.Get("X-Api-Key"))
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func pool(t *testing.T, urls ...string) *upstream.Pool {
	t.Helper()
	uc := config.Upstream{Name: "mcp-test"}
	for _, u := range urls {
		uc.Targets = append(uc.Targets, config.Target{URL: u})
	}
	ucs := []config.Upstream{uc}
	config.ApplyDefaults(&config.Config{Upstreams: ucs})
	ucs[0].Retries.Attempts = 0
	p, err := upstream.New(ucs[0], upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

var testKeys = []string{"test-session-key-0123456789"}

func newHandler(t testing.TB, cfg Config) *Handler {
	t.Helper()
	if cfg.Route == "" {
		cfg.Route = "mcp"
	}
	if cfg.Sealer == nil {
		s, err := sessionid.New(testKeys)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Sealer = s
	}
	if cfg.Server.Name == "" {
		cfg.Server.Name = "everything"
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// gateway serves h the way the gateway does: an Exchange per request (the
// consumer from the X-Test-Consumer header, as an auth plugin would set
// it), Wrap before the terminal, refusals rendered by WriteError.
func gateway(t *testing.T, h *Handler, consumers ...*plugin.Consumer) *httptest.Server {
	t.Helper()
	byName := map[string]*plugin.Consumer{}
	for _, c := range consumers {
		byName[c.Name] = c
	}
	chain := h.Wrap(h)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &plugin.Exchange{Route: "mcp", RequestID: "rid"}
		if c := r.Header.Get("X-Test-Consumer"); c != "" {
			x.Consumer, x.Caller = c, byName[c]
		}
		r = r.WithContext(plugin.WithExchange(r.Context(), x))
		err := chain.ServeHTTP(w, r)
		var pe *plugin.Error
		if errors.As(err, &pe) {
			if testing.Verbose() {
				t.Logf("%s %s: %v", r.Method, r.URL, pe)
			}
			h.WriteError(w, r, pe, "rid")
		} else if err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("handler error: %v", err)
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// consumerTransport adds the test consumer header.
type consumerTransport struct{ consumer string }

func (c consumerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test-Consumer", c.consumer)
	r.Header.Set("Authorization", "Bearer agent-token")
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, url, version, consumer string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: consumerTransport{consumer}}, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%s): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callEcho(t *testing.T, cs *mcp.ClientSession, text string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		t.Fatalf("call echo: %v", err)
	}
	if res.IsError {
		t.Fatalf("echo returned a tool error: %+v", res.Content)
	}
	var out echoOut
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &out)
	return out.Text
}

func TestProxyBothEras(t *testing.T) {
	stateful := startUpstream(t, "stateful", nil, nil)
	stateless := startUpstream(t, "stateless", &mcp.StreamableHTTPOptions{Stateless: true}, nil)
	tests := []struct {
		name, version string
		up            *upstreamServer
		server        string // the server's name, which prefixes its echo
		sealed        bool   // the client holds a gateway session id
	}{
		{"legacy client, stateful server", "2025-11-25", stateful, "stateful", true},
		{"2025-06-18 client, stateful server", "2025-06-18", stateful, "stateful", true},
		{"2026 client, stateless server", "2026-07-28", stateless, "stateless", false},
		{"legacy client, stateless server", "2025-11-25", stateless, "stateless", true},
		// A 2026 client meets a legacy-only server: the server's -32022
		// passes through and the client falls back to initialize.
		{"2026 client, stateful server", "2026-07-28", stateful, "stateful", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, Config{Server: Server{Name: "everything", Pool: pool(t, tt.up.URL), Path: "/mcp"}})
			gw := gateway(t, h)
			cs := connect(t, gw.URL, tt.version, "agent", nil)
			if got, want := callEcho(t, cs, "hi"), tt.server+":hi"; got != want {
				t.Fatalf("echo = %q; want %q", got, want)
			}
			if sid := cs.ID(); tt.sealed != strings.HasPrefix(sid, "s1.") {
				t.Fatalf("client session id = %q; sealed = %v, want %v", sid, strings.HasPrefix(sid, "s1."), tt.sealed)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil || len(tools.Tools) != 4 {
				t.Fatalf("ListTools = %v, %v; want 4 tools", tools, err)
			}
			tt.up.mu.Lock()
			defer tt.up.mu.Unlock()
			for i, a := range tt.up.auth {
				if a != "" {
					t.Fatalf("request %d reached the server with the agent's credentials %q", i, a)
				}
			}
			for i, s := range tt.up.sessions {
				if strings.HasPrefix(s, "s1.") {
					t.Fatalf("request %d reached the server with the gateway's sealed id", i)
				}
			}
		})
	}
}

// TestStreamingOrder proves events pass one by one: the server sends
// progress notification N+1 only after the client has received N.
func TestStreamingOrder(t *testing.T) {
	progress := make(chan struct{})
	up := startUpstream(t, "s", nil, progress)
	h := newHandler(t, Config{Server: Server{Name: "s", Pool: pool(t, up.URL), Path: "/mcp"}})
	gw := gateway(t, h)
	var got atomic.Int32
	cs := connect(t, gw.URL, "2025-11-25", "", &mcp.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			got.Add(1)
			progress <- struct{}{}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"text": ""}}
	p.SetProgressToken("tok")
	res, err := cs.CallTool(ctx, p)
	if err != nil || res.IsError {
		t.Fatalf("count = %+v, %v", res, err)
	}
	if got.Load() != 3 {
		t.Fatalf("client saw %d progress notifications; want 3", got.Load())
	}
}

// TestAffinity runs two gateways (no shared store, same keys) over two
// stateful replicas: a session begun on one gateway continues on the
// other, always at the replica that holds it.
func TestAffinity(t *testing.T) {
	a := startUpstream(t, "a", nil, nil)
	b := startUpstream(t, "b", nil, nil)
	p := pool(t, a.URL, b.URL)
	gw1 := gateway(t, newHandler(t, Config{Server: Server{Name: "everything", Pool: p, Path: "/mcp"}}))
	gw2 := gateway(t, newHandler(t, Config{Server: Server{Name: "everything", Pool: p, Path: "/mcp"}}))

	for i := range 4 {
		cs := connect(t, gw1.URL, "2025-11-25", "agent", nil)
		first := callEcho(t, cs, "x")
		replica := strings.SplitN(first, ":", 2)[0]
		// Continue the same session through the other gateway.
		other := rawSession{url: gw2.URL, id: cs.ID(), consumer: "agent"}
		for j := range 3 {
			got := other.callEcho(t, fmt.Sprint(j))
			if !strings.HasPrefix(got, replica+":") {
				t.Fatalf("session %d: call %d through gateway 2 reached %q; the session lives on %q", i, j, got, replica)
			}
		}
	}
}

// rawSession speaks Streamable HTTP by hand with a session id it did not
// negotiate, as a client moved to another gateway replica would.
type rawSession struct {
	url, id, consumer string
}

func (s rawSession) post(t *testing.T, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
	}
	if s.consumer != "" {
		req.Header.Set("X-Test-Consumer", s.consumer)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// rpcResult reads a JSON-RPC answer from a JSON or SSE body.
func rpcResult(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var data []byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(d, `"id"`) {
				data = []byte(d)
				break
			}
		}
	} else {
		data, _ = io.ReadAll(resp.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("answer %q (status %d) is not JSON: %v", data, resp.StatusCode, err)
	}
	return m
}

func (s rawSession) callEcho(t *testing.T, text string) string {
	t.Helper()
	resp := s.post(t, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"`+text+`"}}}`, nil)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("tools/call through the other gateway: %d %s", resp.StatusCode, b)
	}
	m := rpcResult(t, resp)
	res, _ := m["result"].(map[string]any)
	sc, _ := res["structuredContent"].(map[string]any)
	out, _ := sc["text"].(string)
	return out
}

func TestToolACL(t *testing.T) {
	up := startUpstream(t, "s", nil, nil)
	h := newHandler(t, Config{Server: Server{Name: "s", Pool: pool(t, up.URL), Path: "/mcp"},
		Tools: NewACL(map[string][]string{"*": {"echo", "count", "fail"}, "admins": {"*"}}, map[string][]string{"intern": {"fail"}})})
	gw := gateway(t, h, &plugin.Consumer{Name: "boss", Groups: []string{"admins"}}, &plugin.Consumer{Name: "intern"})

	names := func(cs *mcp.ClientSession) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, tl := range res.Tools {
			n = append(n, tl.Name)
		}
		return strings.Join(n, ",")
	}
	tests := []struct {
		consumer, version, tools string
		secret                   bool
	}{
		{"boss", "2025-11-25", "count,echo,fail,secret", true},
		{"agent", "2025-11-25", "count,echo,fail", false},
		{"intern", "2025-11-25", "count,echo", false},
		{"intern", "2026-07-28", "count,echo", false},
	}
	for _, tt := range tests {
		t.Run(tt.consumer+" "+tt.version, func(t *testing.T) {
			cs := connect(t, gw.URL, tt.version, tt.consumer, nil)
			if got := names(cs); got != tt.tools {
				t.Fatalf("tools/list for %s = %s; want %s", tt.consumer, got, tt.tools)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "secret", Arguments: map[string]any{"text": ""}})
			if tt.secret && err != nil {
				t.Fatalf("allowed call refused: %v", err)
			}
			if !tt.secret && (err == nil || !strings.Contains(err.Error(), `tool "secret" is not allowed`)) {
				t.Fatalf("denied call: err = %v; want a JSON-RPC error naming the tool", err)
			}
		})
	}
	if got := h.ToolLabel("secret"); got != "secret" {
		t.Fatalf("ToolLabel(secret) = %q after the server listed it", got)
	}
	if got := h.ToolLabel("made-up"); got != "_unlisted" {
		t.Fatalf("ToolLabel(made-up) = %q", got)
	}
}

func TestSessionQuotaAndBinding(t *testing.T) {
	up := startUpstream(t, "s", nil, nil)
	var sessions atomic.Int64
	h := newHandler(t, Config{Server: Server{Name: "s", Pool: pool(t, up.URL), Path: "/mcp"}, MaxPerConsumer: 1,
		OnSessions: func(d int) { sessions.Add(int64(d)) }})
	gw := gateway(t, h)
	cs := connect(t, gw.URL, "2025-11-25", "agent", nil)
	c := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw.URL, HTTPClient: &http.Client{Transport: consumerTransport{"agent"}}, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err == nil || !strings.Contains(err.Error(), "Too Many Requests") {
		t.Fatalf("second session of a consumer with max 1: %v; want the quota error", err)
	}
	// Another consumer is not affected, and cannot use the first one's id.
	connect(t, gw.URL, "2025-11-25", "other", nil)
	resp := rawSession{url: gw.URL, id: cs.ID(), consumer: "other"}.post(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another consumer's session id: status %d; want 404", resp.StatusCode)
	}
	resp.Body.Close()
	if sessions.Load() != 2 {
		t.Fatalf("open sessions gauge = %d; want 2", sessions.Load())
	}
	// Ending the session frees the slot.
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	connect(t, gw.URL, "2025-11-25", "agent", nil)
}

func TestBadInput(t *testing.T) {
	up := startUpstream(t, "s", nil, nil)
	h := newHandler(t, Config{Server: Server{Name: "s", Pool: pool(t, up.URL), Path: "/mcp"}, MaxBody: 1024,
		AllowedOrigins: []string{"https://app.example.com"}})
	gw := gateway(t, h)
	other, _ := sessionid.New([]string{"another-gateway-key-01234"})
	foreign, _ := other.Seal("mcp", &sessionid.State{ID: "x", Issued: time.Now().Unix(), Legs: []sessionid.Leg{{Server: "s"}}})
	expired, _ := h.cfg.Sealer.Seal("mcp", &sessionid.State{ID: "y", Issued: time.Now().Add(-48 * time.Hour).Unix(), Legs: []sessionid.Leg{{Server: "s"}}})
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}}`
	tests := []struct {
		name   string
		method string
		body   string
		hdr    map[string]string
		status int
		code   float64
	}{
		{"malformed JSON", "POST", `{"jsonrpc":`, nil, 400, -32700},
		{"not JSON-RPC", "POST", `{"jsonrpc":"2.0"}`, nil, 400, -32600},
		{"batch", "POST", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, nil, 400, -32600},
		{"duplicate method", "POST", `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}`, nil, 400, -32600},
		{"oversized", "POST", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("a", 2000) + `"}}`, nil, 413, -32600},
		{"2026 without Mcp-Method", "POST", call, map[string]string{"Mcp-Protocol-Version": "2026-07-28"}, 400, -32020},
		{"2026 method mismatch", "POST", call, map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}, 400, -32020},
		{"2026 name mismatch", "POST", call, map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "secret"}, 400, -32020},
		{"2026 meta without header", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
			map[string]string{"Mcp-Protocol-Version": ""}, 400, -32020},
		{"foreign session", "POST", call, map[string]string{"Mcp-Session-Id": foreign}, 404, -32600},
		{"expired session", "POST", call, map[string]string{"Mcp-Session-Id": expired}, 404, -32600},
		{"garbage session", "GET", "", map[string]string{"Mcp-Session-Id": "abc"}, 404, -32600},
		{"foreign origin", "POST", call, map[string]string{"Origin": "http://evil.example.com", "Host": "evil.example.com"}, 403, -32003},
		{"PUT", "PUT", "", nil, 405, -32600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, gw.URL, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for k, v := range tt.hdr {
				if k == "Host" {
					req.Host = v
					continue
				}
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			m := rpcResult(t, resp)
			e, _ := m["error"].(map[string]any)
			if resp.StatusCode != tt.status || e["code"] != tt.code {
				t.Fatalf("status %d, error %v; want %d with code %v", resp.StatusCode, m, tt.status, tt.code)
			}
			if e["message"] == "" {
				t.Fatalf("error without a message: %v", m)
			}
		})
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.sessions) != 0 {
		t.Fatalf("bad input reached the server %d times", len(up.sessions))
	}
}

func TestOrigins(t *testing.T) {
	h := newHandler(t, Config{Server: Server{Name: "s", Handler: http.NotFoundHandler()}, Hosts: []string{"mcp.example.com", "*.corp.example"},
		AllowedOrigins: []string{"https://app.example.com"}})
	tests := []struct {
		origin, host string
		ok           bool
	}{
		{"", "evil.example.com", true}, // not a browser
		{"https://app.example.com", "gw", true},
		{"https://mcp.example.com", "mcp.example.com", true},
		{"https://a.corp.example", "x", true},
		{"http://localhost:3000", "127.0.0.1:8080", true},
		{"http://localhost:3000", "evil.example.com", false},
		{"http://evil.example.com", "evil.example.com", false}, // DNS rebinding
		{"null", "127.0.0.1", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "http://"+tt.host+"/mcp", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := h.originAllowed(r); got != tt.ok {
			t.Errorf("origin %q host %q: allowed = %v; want %v", tt.origin, tt.host, got, tt.ok)
		}
	}
}

// TestKeepAliveAndHost opens an idle GET stream: keep-alive comments
// arrive, and the server saw its own host, not the client's.
func TestKeepAliveAndHost(t *testing.T) {
	var host atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer up.Close()
	h := newHandler(t, Config{Server: Server{Name: "s", Pool: pool(t, up.URL), Path: "/mcp"}, KeepAlive: 20 * time.Millisecond})
	gw := gateway(t, h)
	req, _ := http.NewRequest("GET", gw.URL, nil)
	req.Host = "public.example.com"
	req.Header.Set("Accept", "text/event-stream")
	// A session's GET stream: without a session it would open a legacy
	// HTTP+SSE stream (legacy.go).
	sid, _ := h.cfg.Sealer.Seal("mcp", &sessionid.State{ID: "k", Issued: time.Now().Unix(), Legs: []sessionid.Leg{{Server: "s", Upstream: "u"}}})
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for range 2 {
		line, err := br.ReadString('\n')
		if err != nil || line != ": keep-alive\n" {
			t.Fatalf("read %q, %v; want a keep-alive comment", line, err)
		}
		if blank, _ := br.ReadString('\n'); blank != "\n" {
			t.Fatalf("keep-alive not followed by a blank line: %q", blank)
		}
	}
	if got := host.Load(); got != strings.TrimPrefix(up.URL, "http://") {
		t.Fatalf("upstream saw Host %q; want its own %q", got, strings.TrimPrefix(up.URL, "http://"))
	}
}

// TestDisconnectCancelsUpstream: when the client goes away, the upstream
// request's context ends (2026: closing the stream is cancellation).
func TestDisconnectCancelsUpstream(t *testing.T) {
	started, canceled := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
		close(canceled)
	}))
	defer up.Close()
	gw := gateway(t, newHandler(t, Config{Server: Server{Name: "s", Pool: pool(t, up.URL), Path: "/mcp"}}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}`))
	req.Header.Set("Content-Type", "application/json")
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not canceled after the client left")
	}
}

// TestInProcess serves a go-sdk server in-process (as the built-in server
// and the stdio bridge are) through the same route.
func TestInProcess(t *testing.T) {
	s := newMCPServer("inproc", nil)
	h := newHandler(t, Config{Server: Server{Name: "inproc", Handler: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{DisableLocalhostProtection: true})}})
	gw := gateway(t, h)
	cs := connect(t, gw.URL, "2025-11-25", "", nil)
	if got := callEcho(t, cs, "x"); got != "inproc:x" {
		t.Fatalf("echo = %q", got)
	}
}

// TestLegacySSE proxies the 2024-11-05 HTTP+SSE transport: the endpoint
// event is rewritten to the gateway, and posts reach the stream's server.
func TestLegacySSE(t *testing.T) {
	s := newMCPServer("legacy", nil)
	up := httptest.NewServer(mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return s }, nil))
	defer up.Close()
	h := newHandler(t, Config{Server: Server{Name: "legacy", SSE: true, Pool: pool(t, up.URL), Path: "/sse"}})
	gw := gateway(t, h)
	c := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: gw.URL + "/sse", HTTPClient: &http.Client{Transport: consumerTransport{"agent"}}}, nil)
	if err != nil {
		t.Fatalf("connect over SSE: %v", err)
	}
	defer cs.Close()
	if got := callEcho(t, cs, "old"); got != "legacy:old" {
		t.Fatalf("echo = %q", got)
	}
}

// TestStatelessServerSessions: a legacy client of a stateless server holds
// a gateway-only session; ending it (DELETE) frees the consumer's slot
// without asking the server, which would answer 405.
func TestStatelessServerSessions(t *testing.T) {
	up := startUpstream(t, "s", &mcp.StreamableHTTPOptions{Stateless: true}, nil)
	h := newHandler(t, Config{Server: Server{Name: "s", Pool: pool(t, up.URL), Path: "/mcp"}, MaxPerConsumer: 1})
	gw := gateway(t, h)
	for i := range 3 {
		cs := connect(t, gw.URL, "2025-11-25", "agent", nil)
		if got := callEcho(t, cs, "x"); got != "s:x" {
			t.Fatalf("session %d: echo = %q", i, got)
		}
		if err := cs.Close(); err != nil {
			t.Fatalf("session %d: close: %v", i, err)
		}
	}
	if n := h.Sessions(); n != 0 {
		t.Fatalf("%d sessions still open after DELETE", n)
	}
}
