package route

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// rawMCP is a hand-driven MCP client: the go-sdk client resumes by itself,
// so a test that must cut a stream at a chosen event speaks HTTP directly.
type rawMCP struct {
	t       *testing.T
	url     string
	session string
}

func (c *rawMCP) do(ctx context.Context, method, body string, hdr map[string]string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, c.url, strings.NewReader(body))
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	return resp
}

func (c *rawMCP) initialize() {
	c.t.Helper()
	resp := c.do(context.Background(), http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.session = resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || c.session == "" {
		c.t.Fatalf("initialize: %d, session %q", resp.StatusCode, c.session)
	}
	resp = c.do(context.Background(), http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	resp.Body.Close()
}

// event reads one SSE event: its id and data.
func event(t *testing.T, br *bufio.Reader) (id, data string) {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if id != "" || data != "" {
				return id, data
			}
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(line[5:])
		}
	}
}

// TestResumeThroughGateway cuts a tool call's stream after its first
// progress event and resumes it with Last-Event-ID through the gateway:
// the rest of the call arrives on the resumed stream, from the server that
// holds the session, on a single-server and on a federated route.
func TestResumeThroughGateway(t *testing.T) {
	for _, federated := range []bool{false, true} {
		name := map[bool]string{false: "single server", true: "federated"}[federated]
		t.Run(name, func(t *testing.T) {
			progress := make(chan struct{})
			up := serve(t, newMCPServer("alpha", progress), &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
			srv := Server{Name: "alpha", Pool: pool(t, up.URL), Path: "/mcp"}
			tool := "count"
			var h *Handler
			if federated {
				h = fedHandler(t, srv, upstreamServerOf(t, "beta", serve(t, fedServer("beta", nil), nil)))
				tool = "alpha__count"
			} else {
				h = newHandler(t, Config{Server: srv})
			}
			c := &rawMCP{t: t, url: gateway(t, h).URL}
			c.initialize()

			ctx, cut := context.WithCancel(context.Background())
			resp := c.do(ctx, http.MethodPost, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"`+tool+`","arguments":{"text":""},"_meta":{"progressToken":"p"}}}`, nil)
			br := bufio.NewReader(resp.Body)
			var last string
			for {
				id, data := event(t, br)
				if id != "" {
					last = id
				}
				if strings.Contains(data, `"progress":1`) {
					break
				}
			}
			if federated && !strings.HasPrefix(last, "alpha:") {
				t.Fatalf("event id %q does not name its server", last)
			}
			cut() // the connection drops before progress 2
			resp.Body.Close()
			progress <- struct{}{} // the server goes on to progress 2

			ctx2, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// The server may not have seen the cut yet (409: the stream is
			// still its own); a client retries, as go-sdk's does.
			var resumed *http.Response
			for try := 0; ; try++ {
				resumed = c.do(ctx2, http.MethodGet, "", map[string]string{"Last-Event-Id": last, "Accept": "text/event-stream"})
				if resumed.StatusCode != http.StatusConflict || try == 100 {
					break
				}
				resumed.Body.Close()
				time.Sleep(20 * time.Millisecond)
			}
			defer resumed.Body.Close()
			if resumed.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resumed.Body)
				t.Fatalf("resume: %d %s", resumed.StatusCode, b)
			}
			rb := bufio.NewReader(resumed.Body)
			for want := 2; ; {
				_, data := event(t, rb)
				switch {
				case strings.Contains(data, `"progress":1`):
					t.Fatal("the resumed stream replayed an event before Last-Event-ID")
				case strings.Contains(data, `"progress":2`) && want == 2:
					want = 3
					progress <- struct{}{}
				case strings.Contains(data, `"progress":3`) && want == 3:
					want = 4
					progress <- struct{}{}
				case strings.Contains(data, `"counted"`):
					if want != 4 {
						t.Fatalf("the result came before progress %d", want)
					}
					return
				}
			}
		})
	}
}
