package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/websocket"
)

type errorBody struct {
	Error struct {
		Type      string `json:"type"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func decodeError(t *testing.T, body string) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Error.Type == "" || e.Error.RequestID == "" {
		t.Fatalf("error body %q lacks type or request_id", body)
	}
	return e
}

func TestProxyBasicsAndHeaders(t *testing.T) {
	t.Parallel()
	var got http.Header
	var gotHost, gotPath string
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotHost, gotPath = r.Host, r.URL.RequestURI()
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Up", "yes")
		fmt.Fprint(w, "hello")
	}))
	h := start(t, simple("", up.URL))

	req, _ := http.NewRequest("GET", h.url+"/a/b?x=1&y=2", nil)
	req.Host = "api.example.com"
	req.Header.Set("Connection", "X-Drop-Me")
	req.Header.Set("X-Drop-Me", "1")
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	req.Header.Set("X-Keep", "kept")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if resp.StatusCode != 200 || string(body) != "hello" {
		t.Fatalf("got %d %q; want 200 hello", resp.StatusCode, body)
	}
	if gotPath != "/a/b?x=1&y=2" {
		t.Errorf("upstream path = %q; want /a/b?x=1&y=2", gotPath)
	}
	if gotHost != "api.example.com" {
		t.Errorf("upstream Host = %q; want the client's (pass_host: pass)", gotHost)
	}
	if got.Get("X-Drop-Me") != "" {
		t.Errorf("header named in Connection reached the upstream")
	}
	if got.Get("X-Keep") != "kept" {
		t.Errorf("ordinary header lost")
	}
	if xff := got.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q; want 127.0.0.1 (untrusted incoming value dropped)", xff)
	}
	if fwd := got.Get("Forwarded"); !strings.HasPrefix(fwd, "for=127.0.0.1;proto=http;host=api.example.com") {
		t.Errorf("Forwarded = %q", fwd)
	}
	if got.Get("X-Forwarded-Proto") != "http" || got.Get("X-Forwarded-Host") != "api.example.com" {
		t.Errorf("X-Forwarded-Proto/Host = %q/%q", got.Get("X-Forwarded-Proto"), got.Get("X-Forwarded-Host"))
	}
	if resp.Header.Get("X-Secret") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop response headers reached the client: %v", resp.Header)
	}
	if resp.Header.Get("X-Up") != "yes" {
		t.Errorf("response header lost")
	}
}

// TestPluginResponseHeaderWins: a response header a plugin set before the
// upstream answered is sent once, with the plugin's value, next to the
// upstream's own fields, on both kinds of listener (h1server takes the
// upstream's header map over and puts the exchange in the request context
// itself; net/http gets the fields copied and the edge adds the exchange).
func TestPluginResponseHeaderWins(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Stamp"] = []string{"upstream"}
		w.Header().Set("X-Up", "yes")
		fmt.Fprint(w, "hello")
	}))
	for _, server := range []string{"h1server", "net/http"} {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			cfg := simple("", up.URL) + "    plugins: [{name: test-stamp}]\n"
			if server == "net/http" {
				cfg = strings.Replace(cfg, "{addr: 127.0.0.1:0}", "{addr: 127.0.0.1:0, server: net/http}", 1)
			}
			h := start(t, cfg)
			for range 3 { // and on a reused connection
				resp, err := http.Get(h.url + "/x")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "hello" || resp.Header.Get("X-Up") != "yes" ||
					len(resp.Header["X-Stamp"]) != 1 || resp.Header.Get("X-Stamp") != "gateway:all" {
					t.Fatalf("got %q with header %v; want hello, X-Up and one X-Stamp: gateway:all", body, resp.Header)
				}
			}
		})
	}
}

func TestTrustedProxyForwardedFor(t *testing.T) {
	t.Parallel()
	var xff, proto atomic.Value
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xff.Store(r.Header.Get("X-Forwarded-For"))
		proto.Store(r.Header.Get("X-Forwarded-Proto"))
	}))
	h := start(t, "trusted_proxies: [127.0.0.0/8]\n"+simple("", up.URL))
	req, _ := http.NewRequest("GET", h.url+"/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := xff.Load(); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q; want trusted value kept and peer appended", got)
	}
	if got := proto.Load(); got != "https" {
		t.Errorf("X-Forwarded-Proto = %q; want the trusted proxy's https", got)
	}
	if !strings.Contains(h.logs.String(), `"client_ip":"203.0.113.7"`) {
		t.Errorf("access log does not name the real client 203.0.113.7")
	}
}

func TestNoRouteIsJSON404(t *testing.T) {
	t.Parallel()
	h := start(t, `listeners: [{addr: 127.0.0.1:0}]
upstreams:
  - name: up
    targets: [{url: "http://127.0.0.1:9"}]
routes:
  - name: only
    match: {paths: [/only], methods: [GET]}
    upstream: up
    plugins: [{name: test-deny}]
`)
	resp, body := h.get("/nothing")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if e := decodeError(t, body); e.Error.Type != "route_not_found" {
		t.Errorf("type = %q", e.Error.Type)
	}
	if m := h.metric(`sluice_http_requests_total{code="404",route="",upstream=""}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("unmatched request not counted: %q", m)
	}
	// A plugin's error is rendered the same way.
	resp, body = h.get("/only")
	if resp.StatusCode != 403 || decodeError(t, body).Error.Type != "forbidden" {
		t.Errorf("plugin error: %d %s", resp.StatusCode, body)
	}
}

// TestSSEEventByEvent proves streaming by ordering: the upstream sends event
// N+1 only after the client has received event N. Any buffering deadlocks
// (and the test fails on its deadline) instead of passing slowly.
func TestSSEEventByEvent(t *testing.T) {
	t.Parallel()
	const n = 5
	received := make(chan int)
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", "") // let the server chunk
		rc := http.NewResponseController(w)
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "id: %d\ndata: {\"n\":%d}\n\n", i, i)
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case got := <-received:
				if got != i {
					return
				}
			case <-time.After(10 * time.Second):
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	h := start(t, simple("", up.URL))
	resp, err := http.Get(h.url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for i := 0; i < n; i++ {
		done := make(chan string, 1)
		go func() {
			var ev strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					done <- "error: " + err.Error()
					return
				}
				if line == "\n" {
					done <- ev.String()
					return
				}
				ev.WriteString(line)
			}
		}()
		select {
		case ev := <-done:
			if want := fmt.Sprintf("id: %d\ndata: {\"n\":%d}\n", i, i); ev != want {
				t.Fatalf("event %d = %q; want %q", i, ev, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never arrived: the proxy buffered the stream", i)
		}
		received <- i
	}
}

// TestRequestBodyStreams proves request bodies are not buffered: the
// upstream answers after reading the first chunk, while the client has not
// sent the second yet.
func TestRequestBodyStreams(t *testing.T) {
	t.Parallel()
	firstSeen := make(chan struct{})
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "first" {
			http.Error(w, "bad first chunk", 500)
			return
		}
		close(firstSeen)
		rest, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s+%s", buf, rest)
	}))
	h := start(t, simple("", up.URL))
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("first"))
		select {
		case <-firstSeen:
			pw.Write([]byte("second"))
			pw.Close()
		case <-time.After(5 * time.Second):
			pw.CloseWithError(fmt.Errorf("upstream never saw the first chunk: request body buffered"))
		}
	}()
	resp, err := http.Post(h.url+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "first+second" {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

func TestWebSocketEcho(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, websocket.Handler(func(ws *websocket.Conn) { io.Copy(ws, ws) }))
	h := start(t, simple("", up.URL))
	ws, err := websocket.Dial("ws"+strings.TrimPrefix(h.url, "http")+"/ws", "", h.url)
	if err != nil {
		t.Fatalf("dial through gateway: %v", err)
	}
	defer ws.Close()
	for _, msg := range []string{"one", "two", strings.Repeat("x", 70000)} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		// The echo server may split a large message into several frames.
		got := ""
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(got) < len(msg) {
			var part string
			if err := websocket.Message.Receive(ws, &part); err != nil {
				t.Fatal(err)
			}
			got += part
		}
		if got != msg {
			t.Fatalf("echo = %.20q; want %.20q", got, msg)
		}
	}
}

func TestTrailersPassed(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(200)
		fmt.Fprint(w, "body")
		w.Header().Set("X-Checksum", "abc123")
	}))
	h := start(t, simple("", up.URL))
	resp, err := http.Get(h.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Trailer.Get("X-Checksum"); got != "abc123" {
		t.Fatalf("trailer = %q; want abc123", got)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	canceled := make(chan struct{})
	started := make(chan struct{})
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	}))
	h := start(t, simple("", up.URL))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	conn.Close()
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream request was not canceled after the client left")
	}
}

func TestBodyLimits(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		fmt.Fprint(w, "ok")
	}))
	h := start(t, strings.Replace(simple("", up.URL), "listeners: [{addr: 127.0.0.1:0}]", "listeners: [{addr: 127.0.0.1:0, max_request_body: 1KiB}]", 1))
	cases := []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"under limit", strings.NewReader(strings.Repeat("a", 1024)), 200},
		{"declared over limit", strings.NewReader(strings.Repeat("a", 1025)), 413},
		{"chunked over limit", io.MultiReader(strings.NewReader(strings.Repeat("a", 2000))), 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(h.url+"/", "text/plain", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d (%s); want %d", resp.StatusCode, b, tc.status)
			}
			if tc.status == 413 && decodeError(t, string(b)).Error.Type != "body_too_large" {
				t.Errorf("body = %s", b)
			}
		})
	}
}

func TestUpstreamFailuresMapToStatus(t *testing.T) {
	t.Parallel()
	// A port that was just listening and is now closed refuses connections.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	slow := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))

	t.Run("refused is 502", func(t *testing.T) {
		h := start(t, simple("    retries: {attempts: 0}\n", dead))
		resp, body := h.get("/")
		if resp.StatusCode != 502 || decodeError(t, body).Error.Type != "upstream_unavailable" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	t.Run("slow is 504", func(t *testing.T) {
		h := start(t, simple("    timeouts: {response_header: 100ms}\n    retries: {attempts: 0}\n", slow.URL))
		resp, body := h.get("/")
		if resp.StatusCode != 504 || decodeError(t, body).Error.Type != "upstream_timeout" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
}

func TestRetries(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()

	var hits503 atomic.Int64
	unavailable := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits503.Add(1)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(503)
	}))
	var hitsOK atomic.Int64
	ok := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hitsOK.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "ok:%s", b)
	}))
	retries := "    balancer: round_robin\n    retries: {attempts: 1, on: [connect_failure, 503], budget: {min_per_second: 1000}}\n"

	t.Run("connect failure retried even for POST", func(t *testing.T) {
		h := start(t, simple(retries, dead, ok.URL))
		for i := 0; i < 4; i++ {
			resp, err := http.Post(h.url+"/", "text/plain", strings.NewReader("payload"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok:payload" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
			}
		}
	})
	t.Run("503 retried for GET", func(t *testing.T) {
		h := start(t, simple(retries, unavailable.URL, ok.URL))
		for i := 0; i < 4; i++ {
			resp, _ := h.get("/")
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d", i, resp.StatusCode)
			}
		}
	})
	t.Run("POST whose body was sent is never repeated", func(t *testing.T) {
		h := start(t, simple(retries, unavailable.URL))
		before := hits503.Load()
		resp, err := http.Post(h.url+"/", "text/plain", strings.NewReader("charge the card"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Fatalf("status = %d; want the upstream's 503 passed through", resp.StatusCode)
		}
		if n := hits503.Load() - before; n != 1 {
			t.Fatalf("upstream saw the POST %d times; want exactly 1", n)
		}
	})
}

func TestRetryBudgetCapsRetries(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	failing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(503)
	})
	up1, up2 := upstreamServer(t, failing), upstreamServer(t, failing)
	h := start(t, simple("    retries: {attempts: 3, on: [503], budget: {ratio: 0.1, min_per_second: 1}}\n", up1.URL, up2.URL))
	const n = 50
	for i := 0; i < n; i++ {
		resp, _ := h.get("/")
		if resp.StatusCode != 503 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// Without a budget 50 requests would make 200 attempts.
	if got := hits.Load(); got > n+n/10+5 {
		t.Fatalf("%d attempts for %d requests: the retry budget did not cap retries", got, n)
	}
}

func TestHealthCheckEjectsAndRecovers(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	healthy.Store(true)
	var hitsA atomic.Int64
	a := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !healthy.Load() {
				w.WriteHeader(500)
			}
			return
		}
		hitsA.Add(1)
		fmt.Fprint(w, "a")
	}))
	b := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "b") }))
	h := start(t, simple("    health_check: {path: /healthz, interval: 20ms, timeout: 1s, healthy: 2, unhealthy: 2}\n", a.URL, b.URL))
	gauge := func() string { return h.metric(`sluice_upstream_target_healthy{target="` + a.URL + `",upstream="up"}`) }
	if g := gauge(); !strings.HasSuffix(g, " 1") {
		t.Fatalf("health gauge before any probe = %q; want 1", g)
	}

	healthy.Store(false)
	waitFor(t, "target a to be ejected", func() bool { return strings.HasSuffix(gauge(), " 0") })
	before := hitsA.Load()
	for i := 0; i < 20; i++ {
		if resp, body := h.get("/"); resp.StatusCode != 200 || body != "b" {
			t.Fatalf("while a is down got %d %q; want b", resp.StatusCode, body)
		}
	}
	if hitsA.Load() != before {
		t.Fatalf("ejected target still got traffic")
	}
	healthy.Store(true)
	waitFor(t, "target a to recover", func() bool { return strings.HasSuffix(gauge(), " 1") })
	waitFor(t, "traffic to reach a again", func() bool {
		h.get("/")
		return hitsA.Load() > before
	})
}

func TestPanicIsA500AndServingGoesOn(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "fine") }))
	h := start(t, simple("", up.URL)+"    plugins: [{name: test-panic}]\n")
	resp, body := h.get("/?panic=1")
	if resp.StatusCode != 500 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	e := decodeError(t, body)
	if !strings.Contains(h.logs.String(), e.Error.RequestID) || !strings.Contains(h.logs.String(), "panic") {
		t.Errorf("panic log line with request id %s missing", e.Error.RequestID)
	}
	if resp, body := h.get("/"); resp.StatusCode != 200 || body != "fine" {
		t.Fatalf("after panic: %d %q", resp.StatusCode, body)
	}
	if m := h.metric("sluice_http_handler_panics_total"); !strings.HasSuffix(m, " 1") {
		t.Errorf("panic metric = %q", m)
	}
}

func TestMalformedRequestIs400(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "fine") }))
	h := start(t, simple("", up.URL))
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(conn, raw)
		line, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if !strings.Contains(line, " 400 ") {
			t.Errorf("%q: status line %q; want 400", raw, line)
		}
	}
	if resp, _ := h.get("/"); resp.StatusCode != 200 {
		t.Fatalf("gateway stopped serving after malformed requests")
	}
}

func TestMetricsAndAccessLog(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "12345") }))
	h := start(t, simple("", up.URL))
	h.get("/users/42")
	if m := h.metric(`sluice_http_requests_total{code="200",route="all",upstream="up"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("requests_total = %q", m)
	}
	if m := h.metric(`sluice_http_response_body_bytes_total{route="all"}`); !strings.HasSuffix(m, " 5") {
		t.Errorf("response bytes = %q", m)
	}
	if m := h.metric(`sluice_config_last_reload_successful`); !strings.HasSuffix(m, " 1") {
		t.Errorf("reload gauge = %q", m)
	}
	logs := h.logs.String()
	for _, want := range []string{`"msg":"access"`, `"route":"all"`, `"upstream":"up"`, `"status":200`, `"bytes_out":5`, `"path":"/users/42"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s", want)
		}
	}
	resp, _ := http.Get(h.status + "/readyz")
	if resp.StatusCode != 200 {
		t.Errorf("/readyz = %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// TestAccessLogLine pins the access line's layout: its fields, in order,
// with their JSON types, as documented in docs/observability.md.
func TestAccessLogLine(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "12345") }))
	h := start(t, simple("", up.URL))
	h.get("/users/42?q=1")
	var line string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"access"`) {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no access line in %s", h.logs.String())
	}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line %s: %v %v", line, tok, err)
	}
	var got []string
	values := map[string]any{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%T", k, v))
		values[k.(string)] = v
	}
	want := []string{"time:string", "level:string", "msg:string", "request_id:string", "method:string",
		"host:string", "path:string", "route:string", "upstream:string", "target:string", "status:json.Number",
		"duration_ms:json.Number", "upstream_ms:json.Number", "attempts:json.Number", "bytes_in:json.Number",
		"bytes_out:json.Number", "client_ip:string", "consumer:string"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access line fields (-want +got):\n%s\nline: %s", diff, line)
	}
	for k, v := range map[string]any{"level": "INFO", "method": "GET", "path": "/users/42", "route": "all",
		"upstream": "up", "status": json.Number("200"), "attempts": json.Number("1"), "bytes_out": json.Number("5"),
		"client_ip": "127.0.0.1", "consumer": ""} {
		if values[k] != v {
			t.Errorf("%s = %v; want %v", k, values[k], v)
		}
	}
}

// TestReloadUnderLoad swaps configurations while clients hammer the
// gateway: not one request may fail.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	a := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "a") }))
	b := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "b") }))
	cfgA, cfgB := simple("", a.URL), simple("", b.URL)
	h := start(t, cfgA)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var seen sync.Map
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(h.url + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				seen.Store(string(body), true)
				ok.Add(1)
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if i%2 == 0 {
			h.apply(cfgB)
		} else {
			h.apply(cfgA)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads", failed.Load(), failed.Load()+ok.Load())
	}
	_, sawA := seen.Load("a")
	_, sawB := seen.Load("b")
	if !sawA || !sawB {
		t.Fatalf("reloads did not take effect: saw a=%v b=%v", sawA, sawB)
	}
}

func TestBadReloadKeepsOldConfig(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "old") }))
	h := start(t, simple("", up.URL))
	cfg := loadConfig(t, simple("", up.URL), testKinds)
	cfg.Routes[0].Match.Paths = []string{"/{unterminated"}
	ps := h.gw.Apply(cfg)
	if len(ps) == 0 {
		t.Fatal("a bad config was applied")
	}
	if resp, body := h.get("/x"); resp.StatusCode != 200 || body != "old" {
		t.Fatalf("old config stopped serving: %d %q", resp.StatusCode, body)
	}
	if m := h.metric("sluice_config_last_reload_successful"); !strings.HasSuffix(m, " 0") {
		t.Errorf("reload gauge = %q; want 0", m)
	}
	if m := h.metric(`sluice_config_reloads_total{result="failure"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("failure counter = %q", m)
	}
}

// TestUpstreamCutMidBodyAbortsClient: when the upstream dies after the
// headers went out, the client must see a broken response (not a short one
// that looks complete), and the gateway logs it and keeps serving.
func TestUpstreamCutMidBodyAbortsClient(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			fmt.Fprint(w, "fine")
			return
		}
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		fmt.Fprint(w, "only ten b")
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	h := start(t, simple("", up.URL))
	// Depending on whether the gateway had flushed the headers, the client
	// fails reading them or reading the body; it must never succeed.
	resp, err := http.Get(h.url + "/cut")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("client read a cut response to a clean end; want an error")
	}
	if !strings.Contains(h.logs.String(), "response aborted after it started") {
		t.Errorf("abort not logged")
	}
	if resp, body := h.get("/ok"); resp.StatusCode != 200 || body != "fine" {
		t.Fatalf("after abort: %d %q", resp.StatusCode, body)
	}
}
