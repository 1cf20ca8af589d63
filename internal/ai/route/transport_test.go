package route_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/ai/route"
)

const (
	completion = `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
	roleChunk  = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}` + "\n\n"
	textChunk  = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\n"
)

// provider is a plain-HTTP provider for the transport tests. It counts
// connections and user agents, and it reports the cancellation of a
// request it holds.
type provider struct {
	*httptest.Server
	conns atomic.Int32
	// ua is the User-Agent of the last request: net/http sends one of its
	// own, h1 none, which tells the transports apart.
	ua atomic.Value
	// hold makes it hold each request, after the stream's first content
	// when it streams, until the request is cancelled.
	hold      bool
	received  chan struct{} // a request arrived (and its stream began)
	cancelled chan struct{} // a held request was cancelled
}

func newProvider(t *testing.T, hold bool) *provider {
	t.Helper()
	p := &provider{hold: hold, received: make(chan struct{}, 16), cancelled: make(chan struct{}, 16)}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.Start()
	t.Cleanup(p.Close)
	return p
}

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	p.ua.Store(r.Header.Get("User-Agent"))
	body, _ := io.ReadAll(r.Body)
	if strings.Contains(string(body), `"stream":true`) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, roleChunk+textChunk)
		w.(http.Flusher).Flush()
	} else if !p.hold {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, completion)
		return
	}
	p.received <- struct{}{}
	if !p.hold {
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		return
	}
	<-r.Context().Done()
	p.cancelled <- struct{}{}
}

// waitCancelled fails the test unless the provider saw a held request
// cancelled: the route gave it up and closed its connection.
func (p *provider) waitCancelled(t *testing.T) {
	t.Helper()
	select {
	case <-p.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the provider's request was not cancelled")
	}
}

func chat(t *testing.T, ctx context.Context, fr *front, stream bool) (*http.Response, error) {
	t.Helper()
	body := `{"model":"smart","messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"smart","messages":[{"role":"user","content":"hi"}],"stream":true}`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fr.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

// TestUpstreamReuse: plain-HTTP providers are reached over h1, which keeps
// the connection between requests; a request h1 cannot carry (an Expect
// header from the provider's configuration) goes through net/http.
func TestUpstreamReuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers map[string]string
		ua      string // the User-Agent the provider must see
	}{
		{name: "h1"},
		{name: "net/http", headers: map[string]string{"Expect": "100-continue"}, ua: "Go-http-client/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newProvider(t, false)
			p := route.Provider{Name: "up", Type: route.TypeOpenAICompatible, BaseURL: up.URL + "/v1", Headers: tt.headers}
			fr := newFront(t, one([]route.Provider{p}, route.Target{Provider: "up", Model: "m"}))
			const n = 5
			for i := range n {
				resp, err := chat(t, context.Background(), fr, false)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"content":"hi"`) {
					t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
				}
				if r := fr.result(t); r.Usage.Input != 3 || r.ErrorKind != "" {
					t.Errorf("request %d: Result = %+v", i, r)
				}
			}
			if got := up.conns.Load(); got != 1 {
				t.Errorf("%d requests used %d connections to the provider; want 1", n, got)
			}
			if got := up.ua.Load(); got != tt.ua {
				t.Errorf("the provider saw User-Agent %q; want %q", got, tt.ua)
			}
		})
	}
}

// TestUpstreamCancel: each way an attempt ends early (a timeout of the
// route, the client going away) cancels the provider's request.
func TestUpstreamCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stream bool
		set    func(*route.Config)
		cancel bool // the client gives up once the provider has the request
		status int
		kind   string
	}{
		{name: "response timeout", set: func(c *route.Config) { c.Providers[0].Timeouts.Response = 200 * time.Millisecond },
			status: http.StatusGatewayTimeout, kind: "upstream_timeout"},
		{name: "total timeout", set: func(c *route.Config) { c.Timeouts.Total = 200 * time.Millisecond },
			status: http.StatusGatewayTimeout, kind: "timeout"},
		{name: "between chunks", stream: true, set: func(c *route.Config) { c.Timeouts.BetweenChunks = 50 * time.Millisecond },
			status: http.StatusOK, kind: "stream_stalled"},
		{name: "total timeout mid-stream", stream: true, set: func(c *route.Config) { c.Timeouts.Total = 500 * time.Millisecond },
			status: http.StatusOK, kind: "timeout"},
		{name: "client cancels", cancel: true, kind: "client_closed"}, // no response
		{name: "client cancels mid-stream", stream: true, cancel: true, status: http.StatusOK, kind: "client_closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newProvider(t, true)
			cfg := one([]route.Provider{{Name: "up", Type: route.TypeOpenAICompatible, BaseURL: up.URL + "/v1"}},
				route.Target{Provider: "up", Model: "m"})
			if tt.set != nil {
				tt.set(&cfg)
			}
			fr := newFront(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel && !tt.stream {
				go func() {
					<-up.received
					cancel()
				}()
			}
			resp, err := chat(t, ctx, fr, tt.stream)
			switch {
			case tt.cancel && !tt.stream:
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d; want the client's request cancelled", resp.StatusCode)
				}
			case err != nil:
				t.Fatal(err)
			default:
				defer resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d; want %d", resp.StatusCode, tt.status)
				}
				if tt.stream {
					// The first content arrives before the provider stalls.
					line, err := bufio.NewReader(resp.Body).ReadString('\n')
					if err != nil || !strings.HasPrefix(line, "data: ") {
						t.Fatalf("first line %q, %v", line, err)
					}
					if tt.cancel {
						cancel()
					}
				}
				_, _ = io.Copy(io.Discard, resp.Body)
			}
			up.waitCancelled(t)
			if r := fr.result(t); r.ErrorKind != tt.kind || r.Attempts != 1 {
				t.Errorf("Result = %+v; want ErrorKind %s after 1 attempt", r, tt.kind)
			}
		})
	}
}
