package route

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sluicegw/sluice/internal/mcp/message"
	"github.com/sluicegw/sluice/internal/mcp/sessionid"
	"github.com/sluicegw/sluice/plugin"
)

// fedServer is newMCPServer's server plus a prompt, a resource and a tool
// that asks the client for its roots, so a federation test sees every
// kind of name and a server-to-client request.
func fedServer(name string, opts *mcp.ServerOptions) *mcp.Server {
	s := newMCPServer(name, nil)
	if opts != nil {
		s = mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, opts)
		mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			return nil, echoOut{Text: name + ":" + in.Text}, nil
		})
	}
	s.AddPrompt(&mcp.Prompt{Name: "greet"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello from " + name}}}}, nil
	})
	s.AddResource(&mcp.Resource{Name: "hello", URI: "file:///hello.txt", MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: name + " says hello"}}}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "roots", Description: "counts the client's roots"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		res, err := req.Session.ListRoots(ctx, nil)
		if err != nil {
			return nil, echoOut{}, err
		}
		var uris []string
		for _, r := range res.Roots {
			uris = append(uris, r.URI)
		}
		return nil, echoOut{Text: strings.Join(uris, ",")}, nil
	})
	return s
}

func fedHandler(t *testing.T, servers ...Server) *Handler {
	t.Helper()
	return newHandler(t, Config{Federation: &Federation{Servers: servers, Version: "test"}})
}

func upstreamServerOf(t *testing.T, name string, u *upstreamServer) Server {
	return Server{Name: name, Pool: pool(t, u.URL), Path: "/mcp"}
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatalf("listing tools: %v", err)
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func callText(t *testing.T, cs *mcp.ClientSession, tool, text string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": text}})
	if err != nil {
		return "", err
	}
	if res.IsError {
		return "", fmt.Errorf("tool error: %+v", res.Content[0])
	}
	var out echoOut
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &out)
	return out.Text, nil
}

// TestFederation puts two servers with the same tool names behind one
// route and uses them through the go-sdk client of each era.
func TestFederation(t *testing.T) {
	stateful := []*upstreamServer{serve(t, fedServer("alpha", nil), nil), serve(t, fedServer("beta", nil), nil)}
	stateless := []*upstreamServer{
		serve(t, fedServer("alpha", nil), &mcp.StreamableHTTPOptions{Stateless: true}),
		serve(t, fedServer("beta", nil), &mcp.StreamableHTTPOptions{Stateless: true}),
	}
	tests := []struct {
		name, version string
		ups           []*upstreamServer
		sealed        bool
	}{
		{"2025-11-25 client, stateful servers", "2025-11-25", stateful, true},
		{"2025-06-18 client, stateful servers", "2025-06-18", stateful, true},
		{"2025-11-25 client, stateless servers", "2025-11-25", stateless, true},
		{"2026 client, stateless servers", "2026-07-28", stateless, false},
		// The servers refuse 2026's server/discover; the refusal passes
		// and the client falls back to initialize.
		{"2026 client, stateful servers", "2026-07-28", stateful, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fedHandler(t, upstreamServerOf(t, "alpha", tt.ups[0]), upstreamServerOf(t, "beta", tt.ups[1]))
			gw := gateway(t, h)
			client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
			client.AddRoots(&mcp.Root{URI: "file:///work"})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: gw.URL, HTTPClient: &http.Client{Transport: consumerTransport{"agent"}}, MaxRetries: -1},
				&mcp.ClientSessionOptions{ProtocolVersion: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if sid := cs.ID(); tt.sealed != strings.HasPrefix(sid, "s1.") {
				t.Fatalf("client session id = %q; sealed = %v, want %v", sid, !tt.sealed, tt.sealed)
			}
			init := cs.InitializeResult()
			if (tt.sealed && (init.ServerInfo == nil || init.ServerInfo.Name != "sluice")) || init.Capabilities.Tools == nil || init.Capabilities.Prompts == nil || init.Capabilities.Resources == nil {
				t.Fatalf("merged initialize result = %+v; want sluice's serverInfo with tools, prompts and resources", init)
			}

			want := []string{"alpha__count", "alpha__echo", "alpha__fail", "alpha__roots", "alpha__secret", "beta__count", "beta__echo", "beta__fail", "beta__roots", "beta__secret"}
			if got := toolNames(t, cs); !slices.Equal(got, want) {
				t.Fatalf("tools = %v; want %v", got, want)
			}
			for _, server := range []string{"alpha", "beta"} {
				if got, err := callText(t, cs, server+"__echo", "hi"); err != nil || got != server+":hi" {
					t.Fatalf("%s__echo = %q, %v; want %q", server, got, err, server+":hi")
				}
			}
			if _, err := callText(t, cs, "alpha__fail", "x"); err == nil {
				t.Fatal("alpha__fail succeeded; want its tool error")
			}
			for _, name := range []string{"echo", "gamma__echo", "alpha_echo"} {
				if _, err := callText(t, cs, name, "x"); err == nil || !strings.Contains(err.Error(), "names no server") {
					t.Fatalf("calling %q: %v; want a names-no-server error", name, err)
				}
			}
			if tt.ups[0] == stateful[0] {
				// A server request (roots/list) inside a tool call (only
				// a server with sessions can make one): its id names the
				// server, and the client's answer goes back to it.
				if got, err := callText(t, cs, "beta__roots", ""); err != nil || got != "file:///work" {
					t.Fatalf("beta__roots = %q, %v; want the client's root", got, err)
				}
			}

			prompt, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "beta__greet"})
			if err != nil || prompt.Messages[0].Content.(*mcp.TextContent).Text != "hello from beta" {
				t.Fatalf("GetPrompt(beta__greet) = %+v, %v", prompt, err)
			}
			res, err := cs.ListResources(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var uris []string
			for _, r := range res.Resources {
				uris = append(uris, r.URI)
			}
			slices.Sort(uris)
			if want := []string{"mcp://alpha/file:///hello.txt", "mcp://beta/file:///hello.txt"}; !slices.Equal(uris, want) {
				t.Fatalf("resources = %v; want %v", uris, want)
			}
			read, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "mcp://alpha/file:///hello.txt"})
			if err != nil || read.Contents[0].Text != "alpha says hello" || read.Contents[0].URI != "mcp://alpha/file:///hello.txt" {
				t.Fatalf("ReadResource = %+v, %v", read, err)
			}
			for _, up := range tt.ups {
				up.mu.Lock()
				for i, a := range up.auth {
					if a != "" {
						t.Errorf("request %d reached a server with the agent's credentials %q", i, a)
					}
				}
				up.mu.Unlock()
			}
		})
	}
}

// TestFederationPages lists more tools than the servers put on a page: the
// gateway's cursor carries each server's own until all are done.
func TestFederationPages(t *testing.T) {
	a := mcp.NewServer(&mcp.Implementation{Name: "a", Version: "1"}, &mcp.ServerOptions{PageSize: 2})
	b := mcp.NewServer(&mcp.Implementation{Name: "b", Version: "1"}, &mcp.ServerOptions{PageSize: 3})
	for i := range 5 {
		for _, s := range []*mcp.Server{a, b} {
			mcp.AddTool(s, &mcp.Tool{Name: fmt.Sprintf("t%d", i)}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
				return nil, echoOut{}, nil
			})
		}
	}
	h := fedHandler(t, upstreamServerOf(t, "a", serve(t, a, nil)), upstreamServerOf(t, "b", serve(t, b, nil)))
	cs := connect(t, gateway(t, h).URL, "2025-11-25", "agent", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Tools) != 5 || first.NextCursor == "" {
		t.Fatalf("first page: %d tools, cursor %q; want 2+3 and a cursor", len(first.Tools), first.NextCursor)
	}
	got := toolNames(t, cs)
	if len(got) != 10 || got[0] != "a__t0" || got[9] != "b__t4" {
		t.Fatalf("all pages: %v; want a__t0..a__t4 and b__t0..b__t4", got)
	}
	if _, err := cs.ListTools(ctx, &mcp.ListToolsParams{Cursor: "not a cursor"}); err == nil || !strings.Contains(err.Error(), "invalid cursor") {
		t.Fatalf("a forged cursor: %v; want invalid cursor", err)
	}
}

// TestFederationListChanged: a server's tools/list_changed reaches the
// client on the merged stream, and the new tool is listed.
func TestFederationListChanged(t *testing.T) {
	alpha := fedServer("alpha", nil)
	h := fedHandler(t, upstreamServerOf(t, "alpha", serve(t, alpha, nil)), upstreamServerOf(t, "beta", serve(t, fedServer("beta", nil), nil)))
	changed := make(chan struct{}, 4)
	cs := connect(t, gateway(t, h).URL, "2025-11-25", "agent", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	before := len(toolNames(t, cs))
	// The client opens its GET stream in the background: add tools until
	// a change notification arrives through it.
	deadline := time.After(20 * time.Second)
	for i := 0; ; i++ {
		mcp.AddTool(alpha, &mcp.Tool{Name: fmt.Sprintf("new%d", i)}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			return nil, echoOut{}, nil
		})
		select {
		case <-changed:
			if after := toolNames(t, cs); len(after) <= before || !slices.Contains(after, "alpha__new0") {
				t.Fatalf("after the change: %v", after)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("tools/list_changed never reached the client through the merged stream")
		}
	}
}

// TestFederationFailOpen: a server that is down when the session begins is
// left out; the others serve, and its tools say why they cannot.
func TestFederationFailOpen(t *testing.T) {
	down := serve(t, fedServer("down", nil), nil)
	downURL := down.URL
	down.Close()
	h := fedHandler(t, upstreamServerOf(t, "alpha", serve(t, fedServer("alpha", nil), nil)), Server{Name: "down", Pool: pool(t, downURL), Path: "/mcp"})
	cs := connect(t, gateway(t, h).URL, "2025-11-25", "agent", nil)
	if got, err := callText(t, cs, "alpha__echo", "hi"); err != nil || got != "alpha:hi" {
		t.Fatalf("alpha__echo = %q, %v", got, err)
	}
	if names := toolNames(t, cs); len(names) != 5 || !strings.HasPrefix(names[0], "alpha__") {
		t.Fatalf("tools = %v; want alpha's five", names)
	}
	if _, err := callText(t, cs, "down__echo", "x"); err == nil || !strings.Contains(err.Error(), "not part of this session") {
		t.Fatalf("down__echo: %v; want not part of this session", err)
	}
}

// TestFederationACL applies tool rules to the federated names.
func TestFederationACL(t *testing.T) {
	alpha, beta := serve(t, fedServer("alpha", nil), nil), serve(t, fedServer("beta", nil), nil)
	h := newHandler(t, Config{
		Federation: &Federation{Servers: []Server{upstreamServerOf(t, "alpha", alpha), upstreamServerOf(t, "beta", beta)}},
		Tools:      NewACL(map[string][]string{"agent": {"alpha__*"}}, map[string][]string{"*": {"*__secret"}}),
	})
	cs := connect(t, gateway(t, h).URL, "2025-11-25", "agent", nil)
	if got, want := toolNames(t, cs), []string{"alpha__count", "alpha__echo", "alpha__fail", "alpha__roots"}; !slices.Equal(got, want) {
		t.Fatalf("tools = %v; want %v", got, want)
	}
	for _, tool := range []string{"beta__echo", "alpha__secret"} {
		if _, err := callText(t, cs, tool, "x"); err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Fatalf("%s: %v; want not allowed", tool, err)
		}
	}
}

// alternate sends each request to the next of several gateways, as a load
// balancer without affinity would.
type alternate struct {
	urls []*url.URL
	n    atomic.Int64
}

func (a *alternate) RoundTrip(r *http.Request) (*http.Response, error) {
	u := a.urls[a.n.Add(1)%int64(len(a.urls))]
	r = r.Clone(r.Context())
	r.URL.Host, r.Host = u.Host, u.Host
	r.Header.Set("X-Test-Consumer", "agent")
	return http.DefaultTransport.RoundTrip(r)
}

// TestFederationReplicas: a federated session's legs are sealed in its id,
// so two gateways with the same keys and no shared store serve it in turn.
func TestFederationReplicas(t *testing.T) {
	alpha, beta := serve(t, fedServer("alpha", nil), nil), serve(t, fedServer("beta", nil), nil)
	sealer, err := sessionid.New(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	var urls []*url.URL
	for range 2 {
		h := newHandler(t, Config{Sealer: sealer, Federation: &Federation{Servers: []Server{upstreamServerOf(t, "alpha", alpha), upstreamServerOf(t, "beta", beta)}}})
		u, _ := url.Parse(gateway(t, h).URL)
		urls = append(urls, u)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: urls[0].String(), HTTPClient: &http.Client{Transport: &alternate{urls: urls}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		server := []string{"alpha", "beta"}[i%2]
		if got, err := callText(t, cs, server+"__echo", "hi"); err != nil || got != server+":hi" {
			t.Fatalf("call %d: %q, %v", i, got, err)
		}
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing sent DELETE, which ended the session at both servers.
	for name, up := range map[string]*upstreamServer{"alpha": alpha, "beta": beta} {
		up.mu.Lock()
		if !slices.Contains(up.methods, http.MethodDelete) {
			t.Errorf("%s never got the session's DELETE: %v", name, up.methods)
		}
		up.mu.Unlock()
	}
}

// TestFederationBadInput: what a client can get wrong on a federated route
// gets an MCP answer, not a hang or a pass-through.
func TestFederationBadInput(t *testing.T) {
	h := fedHandler(t, upstreamServerOf(t, "alpha", serve(t, fedServer("alpha", nil), nil)), upstreamServerOf(t, "beta", serve(t, fedServer("beta", nil), nil)))
	gw := gateway(t, h)
	cs := connect(t, gw.URL, "2025-11-25", "agent", nil)
	post := func(body string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, gw.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("X-Test-Consumer", "agent")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	session := map[string]string{"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": "2025-11-25"}
	tests := []struct {
		name, body string
		hdr        map[string]string
		status     int
		want       string
	}{
		{"no session", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, map[string]string{"Mcp-Protocol-Version": "2025-11-25"}, 400, "needs a session"},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"tasks/list"}`, session, 200, `"code":-32601`},
		{"response to nothing", `{"jsonrpc":"2.0","id":7,"result":{}}`, session, 400, "answers no request"},
		{"response to an unknown server", `{"jsonrpc":"2.0","id":"gamma:1","result":{}}`, session, 400, "answers no request"},
		{"unknown prompt server", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet"}}`, session, 200, "names no server"},
		{"foreign resource", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}`, session, 200, "names no server"},
		{"ping", `{"jsonrpc":"2.0","id":3,"method":"ping"}`, session, 200, `"result":{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(tt.body, tt.hdr)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("got %d %s; want %d with %q", status, body, tt.status, tt.want)
			}
		})
	}
	// A stateless (2026) client has no stream to open.
	req, _ := http.NewRequest(http.MethodGet, gw.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET without a session: %d; want 405", resp.StatusCode)
	}
}

// TestFederatedEvent checks the event rewriting rules on their own.
func TestFederatedEvent(t *testing.T) {
	h := &Handler{members: []*member{{name: "alpha"}}, sep: "__"}
	st := &state{msg: mustParse(t, `{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"mcp://alpha/file:///x"}}`)}
	x := &plugin.Exchange{MCP: &plugin.MCP{}}
	tests := []struct{ name, raw, want string }{
		{"server request", "id: 9\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"roots/list\"}\n\n", "id: alpha:9\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"alpha:3\",\"method\":\"roots/list\"}\n\n"},
		{"string id request", "data: {\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":\"sampling/createMessage\"}\n\n", "data: {\"jsonrpc\":\"2.0\",\"id\":\"alpha:\\\"q\\\"\",\"method\":\"sampling/createMessage\"}\n\n"},
		{"resource update", "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\",\"params\":{\"uri\":\"file:///x\"}}\n\n", "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\",\"params\":{\"uri\":\"mcp://alpha/file:///x\"}}\n\n"},
		{"read result", "data: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"contents\":[{\"uri\":\"file:///x\",\"text\":\"t\"}]}}\n\n", "data: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"contents\":[{\"uri\":\"mcp://alpha/file:///x\",\"text\":\"t\"}]}}\n\n"},
		{"priming event", "id: 0\ndata:\nretry: 500\n\n", "id: alpha:0\ndata:\nretry: 500\n\n"},
		{"progress passes", "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n", "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFramer(strings.NewReader(tt.raw), 1<<20)
			raw, data, err := fr.next()
			if err != nil {
				t.Fatal(err)
			}
			got := h.fedEvent("alpha", raw, data, st, x, false, nil)
			if !bytes.Equal(got, []byte(tt.want)) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func mustParse(t *testing.T, s string) message.Message {
	t.Helper()
	m, err := message.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFederationModernStreams: a 2026 client's subscriptions/listen opens
// every server's listen stream, merged into one, and a server's list
// change reaches the client through it; completions route by prompt name.
func TestFederationModernStreams(t *testing.T) {
	complete := func(name string) func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
		return func(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{name + ":" + req.Params.Ref.Name}}}, nil
		}
	}
	alpha := fedServer("alpha", &mcp.ServerOptions{CompletionHandler: complete("alpha")})
	beta := fedServer("beta", &mcp.ServerOptions{CompletionHandler: complete("beta")})
	opts := &mcp.StreamableHTTPOptions{Stateless: true}
	h := fedHandler(t, upstreamServerOf(t, "alpha", serve(t, alpha, opts)), upstreamServerOf(t, "beta", serve(t, beta, opts)))
	changed := make(chan struct{}, 4)
	cs := connect(t, gateway(t, h).URL, "2026-07-28", "agent", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "beta__greet"}, Argument: mcp.CompleteParamsArgument{Name: "x", Value: "y"}})
	if err != nil || len(res.Completion.Values) != 1 || res.Completion.Values[0] != "beta:greet" {
		t.Fatalf("Complete(beta__greet) = %+v, %v; want beta's completion of its own greet", res, err)
	}
	mcp.AddTool(beta, &mcp.Tool{Name: "late"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		return nil, echoOut{}, nil
	})
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("beta's tools/list_changed never reached the client through the merged listen stream")
	}
	if names := toolNames(t, cs); !slices.Contains(names, "beta__late") {
		t.Fatalf("tools after the change: %v", names)
	}
}

// FuzzFederatedEvent feeds arbitrary events through a federated route's
// rewriting: it must never panic, must keep an event an event, and must
// keep JSON data JSON.
func FuzzFederatedEvent(f *testing.F) {
	f.Add("id: 9\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"roots/list\"}\n\n")
	f.Add("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\",\"params\":{\"uri\":\"file:///x\"}}\n\n")
	f.Add("data: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"contents\":[{\"uri\":\"file:///x\"}]}}\n\n")
	f.Add("id: 0\ndata:\nretry: 500\n\n")
	f.Add(": keep-alive\n\n")
	f.Add("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/subscriptions/acknowledged\"}\n\n")
	h := &Handler{members: []*member{{name: "alpha"}}, sep: "__"}
	st := &state{msg: message.Message{Kind: message.Request, ID: []byte("5"), Method: "resources/read"}}
	f.Fuzz(func(t *testing.T, in string) {
		fr := newFramer(strings.NewReader(in), 1<<16)
		var once sync.Once
		for {
			raw, data, err := fr.next()
			if err != nil {
				return
			}
			x := &plugin.Exchange{MCP: &plugin.MCP{}}
			out := h.fedEvent("alpha", raw, data, st, x, true, &once)
			if out == nil {
				continue
			}
			if len(bytes.TrimSpace(raw)) > 0 && !bytes.HasSuffix(out, []byte("\n\n")) {
				t.Fatalf("fedEvent(%q) = %q: not one event", raw, out)
			}
			_, odata, err := newFramer(bytes.NewReader(out), 1<<17).next()
			if err != nil {
				t.Fatalf("fedEvent(%q) = %q: unreadable: %v", raw, out, err)
			}
			if json.Valid(data) && !json.Valid(odata) {
				t.Fatalf("fedEvent(%q) = %q: JSON data became invalid", raw, out)
			}
		}
	})
}
