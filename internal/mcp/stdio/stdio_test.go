//go:build unix

package stdio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testTimeout bounds every wait in these tests, so that a bug fails a test
// instead of hanging the run. It is a safety net, not an expectation.
const testTimeout = 30 * time.Second

// A harness is a bridge running the test binary as its stdio server, behind
// an httptest.Server that takes the consumer from the X-Consumer header.
type harness struct {
	srv  *Server
	ts   *httptest.Server
	logs *logBuffer
}

func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cfg := Config{
		Name:    "test",
		Command: []string{exe},
		// The children are this test binary, built with -race when the tests
		// are; its runtime sleeps 1s at exit unless told not to.
		Env:            map[string]string{envTestServer: "1", "GORACE": "atexit_sleep_ms=0"},
		RestartBackoff: 10 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, r.WithContext(WithConsumer(r.Context(), r.Header.Get("X-Consumer"))))
	}))
	// Cleanups run last-in first-out: the bridge ends its streams, then the
	// HTTP server can wait for its handlers.
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return &harness{srv: srv, ts: ts, logs: logs}
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// connect opens a go-sdk client session through the bridge.
func (h *harness) connect(t *testing.T, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v0"}, opts)
	cs, err := client.Connect(testContext(t), &mcp.StreamableClientTransport{Endpoint: h.ts.URL}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callText(ctx context.Context, cs *mcp.ClientSession, params *mcp.CallToolParams) (string, error) {
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		return "", err
	}
	if res.IsError || len(res.Content) != 1 {
		var texts []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				texts = append(texts, tc.Text)
			}
		}
		return "", fmt.Errorf("tool %s failed: %s", params.Name, strings.Join(texts, "; "))
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

func mustCall(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	s, err := callText(testContext(t), cs, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool(%s): %v", name, err)
	}
	return s
}

func childPID(t *testing.T, cs *mcp.ClientSession) int {
	t.Helper()
	pid, err := strconv.Atoi(mustCall(t, cs, "pid", nil))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitFor polls cond until it holds, for things that happen asynchronously
// (a log line, a restart). It fails the test after testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// processGone reports whether pid no longer exists (it was reaped).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// rawResponse is an HTTP answer read whole.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// do sends one raw request to the bridge. hdr holds header name/value pairs.
func (h *harness) do(t *testing.T, method, body string, hdr ...string) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, h.ts.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func initBody(id any, version string) string {
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": id, "method": "initialize",
		"params": map[string]any{
			"protocolVersion": version,
			"capabilities":    map[string]any{},
			"clientInfo":      map[string]any{"name": "raw", "version": "v0"},
		},
	})
	return string(b)
}

// rawSession initializes a session by hand and returns its id.
func (h *harness) rawSession(t *testing.T, consumer string) string {
	t.Helper()
	r := h.do(t, http.MethodPost, initBody(1, "2025-11-25"), "Accept", "application/json", "X-Consumer", consumer)
	sid := r.header.Get(sessionHeader)
	if r.status != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d %q, session %q", r.status, r.body, sid)
	}
	r = h.do(t, http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, sessionHeader, sid, "X-Consumer", consumer)
	if r.status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d %q", r.status, r.body)
	}
	return sid
}

// sseMessages parses an SSE body into its JSON messages.
func sseMessages(t *testing.T, body string) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("SSE data %q: %v", data, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

var modes = []string{ModeSession, ModeShared}

func TestListAndCallTools(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) { c.Mode = mode })
			cs := h.connect(t, nil)
			tools, err := cs.ListTools(testContext(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
			}
			if !slices.Contains(names, "echo") || !slices.Contains(names, "crash") {
				t.Errorf("ListTools() = %v; want echo and crash among them", names)
			}
			if got := mustCall(t, cs, "echo", map[string]any{"text": "hello\nworld <&>"}); got != "hello\nworld <&>" {
				t.Errorf("echo = %q; want %q", got, "hello\nworld <&>")
			}
			if got := h.srv.Stats(); got.Processes != 1 || got.Sessions != 1 {
				t.Errorf("Stats() = %+v; want 1 process, 1 session", got)
			}
		})
	}
}

// TestProgressBeforeResult reads the SSE answer to a tools/call itself, to
// check the order of events and that the client's own token comes back.
func TestProgressBeforeResult(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) { c.Mode = mode })
			sid := h.rawSession(t, "")
			r := h.do(t, http.MethodPost,
				`{"jsonrpc":"2.0","id":"call-1","method":"tools/call","params":{"name":"notify","arguments":{"n":3,"text":"p"},"_meta":{"progressToken":"client-token"}}}`,
				sessionHeader, sid)
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("POST = %d %s %q; want 200 text/event-stream", r.status, r.header.Get("Content-Type"), r.body)
			}
			msgs := sseMessages(t, r.body)
			var kinds []string
			for _, m := range msgs {
				switch {
				case m["method"] == "notifications/progress":
					params := m["params"].(map[string]any)
					kinds = append(kinds, fmt.Sprintf("progress %v %v", params["progressToken"], params["progress"]))
				case m["id"] != nil:
					kinds = append(kinds, fmt.Sprintf("response %v", m["id"]))
				}
			}
			want := []string{"progress client-token 1", "progress client-token 2", "progress client-token 3", "response call-1"}
			if diff := cmp.Diff(want, kinds); diff != "" {
				t.Errorf("SSE events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProgressWithClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var mu sync.Mutex
	var got []float64
	cs := h.connect(t, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, req.Params.Progress)
		},
	})
	params := &mcp.CallToolParams{Name: "notify", Arguments: map[string]any{"n": 4, "text": "x"}}
	params.SetProgressToken(7)
	if _, err := callText(testContext(t), cs, params); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 progress notifications", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 4
	})
}

func TestProcessesPerMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode      string
		samePID   bool
		processes int
	}{
		{ModeSession, false, 2},
		{ModeShared, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) { c.Mode = tt.mode })
			a, b := h.connect(t, nil), h.connect(t, nil)
			if a.ID() == b.ID() {
				t.Fatalf("two sessions share the id %q", a.ID())
			}
			for _, id := range []string{a.ID(), b.ID()} {
				if strings.IndexFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 || len(id) < 20 {
					t.Errorf("session id %q is not long visible ASCII", id)
				}
			}
			pa, pb := childPID(t, a), childPID(t, b)
			if (pa == pb) != tt.samePID {
				t.Errorf("pids %d and %d; want same = %v", pa, pb, tt.samePID)
			}
			if got := h.srv.Stats(); got.Processes != tt.processes || got.Sessions != 2 {
				t.Errorf("Stats() = %+v; want %d processes, 2 sessions", got, tt.processes)
			}
		})
	}
}

// TestSharedConcurrent runs calls from two sessions at once through one
// child. Both go-sdk clients number their requests from the same start, so
// without remapping ids (and progress tokens) answers would cross.
func TestSharedConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Mode = ModeShared })
	type progress struct {
		mu   sync.Mutex
		msgs []string
	}
	var prog [2]progress
	var sessions [2]*mcp.ClientSession
	for i := range sessions {
		sessions[i] = h.connect(t, &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
				prog[i].mu.Lock()
				defer prog[i].mu.Unlock()
				prog[i].msgs = append(prog[i].msgs, req.Params.Message)
			},
		})
	}
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, cs := range sessions {
		for j := range 10 {
			wg.Go(func() {
				want := fmt.Sprintf("session %d call %d", i, j)
				got, err := callText(ctx, cs, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": want}})
				if err != nil || got != want {
					errs <- fmt.Errorf("echo %q = %q, %v", want, got, err)
				}
			})
		}
		wg.Go(func() {
			want := fmt.Sprintf("progress of %d", i)
			params := &mcp.CallToolParams{Name: "notify", Arguments: map[string]any{"n": 3, "text": want}}
			params.SetProgressToken("same-token-in-both-sessions")
			if got, err := callText(ctx, cs, params); err != nil || got != want {
				errs <- fmt.Errorf("notify %q = %q, %v", want, got, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range prog {
		waitFor(t, "3 progress notifications", func() bool {
			prog[i].mu.Lock()
			defer prog[i].mu.Unlock()
			return len(prog[i].msgs) >= 3
		})
		prog[i].mu.Lock()
		want := slices.Repeat([]string{fmt.Sprintf("progress of %d", i)}, 3)
		if diff := cmp.Diff(want, prog[i].msgs); diff != "" {
			t.Errorf("session %d progress (-want +got):\n%s", i, diff)
		}
		prog[i].mu.Unlock()
	}
	if got := mustCall(t, sessions[0], "initialized", nil); got != "1" {
		t.Errorf("the child got notifications/initialized %s times; want 1", got)
	}
}

// TestSharedInitializeCached: later sessions get the first InitializeResult,
// with the version the child negotiated, whatever they asked for.
func TestSharedInitializeCached(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Mode = ModeShared })
	first := h.do(t, http.MethodPost, initBody(1, "2025-11-25"), "Accept", "application/json")
	second := h.do(t, http.MethodPost, initBody("second", "2025-06-18"), "Accept", "application/json")
	for _, r := range []rawResponse{first, second} {
		if r.status != http.StatusOK || r.header.Get(sessionHeader) == "" {
			t.Fatalf("initialize = %d %q", r.status, r.body)
		}
	}
	var a, b struct {
		ID     any `json:"id"`
		Result struct {
			ProtocolVersion string         `json:"protocolVersion"`
			ServerInfo      map[string]any `json:"serverInfo"`
		} `json:"result"`
	}
	if err := errors.Join(json.Unmarshal([]byte(first.body), &a), json.Unmarshal([]byte(second.body), &b)); err != nil {
		t.Fatal(err)
	}
	if b.ID != "second" || b.Result.ProtocolVersion != "2025-11-25" || b.Result.ServerInfo["name"] != "stdio-test" {
		t.Errorf("second initialize = %s; want id second, version 2025-11-25 (the child's), serverInfo stdio-test", second.body)
	}
	if got := h.srv.Stats().Processes; got != 1 {
		t.Errorf("Processes = %d; want 1", got)
	}
}

func TestServerToClientRequests(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) { c.Mode = mode })
			var asked [2]sync.Map
			var sessions [2]*mcp.ClientSession
			for i := range sessions {
				sessions[i] = h.connect(t, &mcp.ClientOptions{
					CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
						in := req.Params.Messages[0].Content.(*mcp.TextContent).Text
						asked[i].Store(in, true)
						return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: fmt.Sprintf("client %d sampled %s", i, in)}}, nil
					},
				})
			}
			for i, cs := range sessions {
				in := fmt.Sprintf("question %d", i)
				want := fmt.Sprintf("client %d sampled %s", i, in)
				if got := mustCall(t, cs, "sample", map[string]any{"text": in}); got != want {
					t.Errorf("sample via session %d = %q; want %q", i, got, want)
				}
			}
			for i := range asked {
				if _, ok := asked[i].Load(fmt.Sprintf("question %d", 1-i)); ok {
					t.Errorf("client %d was asked the other session's question", i)
				}
			}
		})
	}
}

// TestSamplingNeedsCapability: in shared mode the child knows only the first
// client's capabilities, so the bridge refuses sampling for a session that
// did not declare it.
func TestSamplingNeedsCapability(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Mode = ModeShared })
	h.connect(t, &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "first"}}, nil
		},
	})
	plain := h.connect(t, nil)
	_, err := callText(testContext(t), plain, &mcp.CallToolParams{Name: "sample", Arguments: map[string]any{"text": "q"}})
	if err == nil || !strings.Contains(err.Error(), `did not declare the "sampling" capability`) {
		t.Errorf("sample from a session without sampling: %v; want the bridge's refusal", err)
	}
}

// TestListChanged: a notification unrelated to any request reaches, over
// the GET stream, every session of the process that sent it.
func TestListChanged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode        string
		otherGetsIt bool
	}{
		{ModeSession, false},
		{ModeShared, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) { c.Mode = tt.mode })
			var changed [2]atomic.Int64
			var sessions [2]*mcp.ClientSession
			for i := range sessions {
				sessions[i] = h.connect(t, &mcp.ClientOptions{
					ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed[i].Add(1) },
				})
			}
			mustCall(t, sessions[0], "addtool", map[string]any{"text": "added"})
			waitFor(t, "list_changed at the caller", func() bool { return changed[0].Load() == 1 })
			if tt.otherGetsIt {
				waitFor(t, "list_changed at the other session", func() bool { return changed[1].Load() == 1 })
			}
			if got := mustCall(t, sessions[0], "added", nil); got != "added" {
				t.Errorf("new tool = %q", got)
			}
			if !tt.otherGetsIt && changed[1].Load() != 0 {
				t.Error("the other session's process never changed, yet it was told")
			}
		})
	}
}

func TestChildExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode, tool string
		args       map[string]any
		status     string
	}{
		{ModeSession, "crash", nil, "exit status 3"},
		{ModeShared, "crash", nil, "exit status 3"},
		{ModeSession, "exit", map[string]any{"code": 0}, "exit status 0"},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/"+tt.tool, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) {
				c.Mode = tt.mode
				c.RestartBackoff = time.Hour // keep the shared child down
			})
			cs := h.connect(t, nil)
			pid := childPID(t, cs)
			_, err := callText(testContext(t), cs, &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
			want := fmt.Sprintf(`stdio server "test": process exited (%s)`, tt.status)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("CallTool(%s) error = %v; want it to contain %q", tt.tool, err, want)
			}
			r := h.do(t, http.MethodPost, `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`, sessionHeader, cs.ID())
			if r.status != http.StatusNotFound {
				t.Errorf("request after the exit = %d %q; want 404", r.status, r.body)
			}
			// The go-sdk client must take the 404 as the end of its session.
			if _, err := cs.ListTools(testContext(t), nil); !errors.Is(err, mcp.ErrSessionMissing) {
				t.Errorf("ListTools after the exit: %v; want ErrSessionMissing", err)
			}
			if !processGone(pid) {
				t.Errorf("process %d still exists", pid)
			}
			if got := h.srv.Stats(); got.Crashes != 1 || got.Sessions != 0 || got.Processes != 0 {
				t.Errorf("Stats() = %+v; want 1 crash, no session, no process", got)
			}
		})
	}
}

func TestSharedRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Mode = ModeShared })
	cs := h.connect(t, nil)
	oldPID := childPID(t, cs)
	if _, err := callText(testContext(t), cs, &mcp.CallToolParams{Name: "crash"}); err == nil {
		t.Fatal("crash returned no error")
	}
	waitFor(t, "a restarted child", func() bool {
		st := h.srv.Stats()
		return st.Restarts >= 1 && st.Processes == 1
	})
	cs2 := h.connect(t, nil)
	if newPID := childPID(t, cs2); newPID == oldPID {
		t.Errorf("new session runs in the crashed process %d", oldPID)
	}
	if got := mustCall(t, cs2, "echo", map[string]any{"text": "again"}); got != "again" {
		t.Errorf("echo = %q", got)
	}
}

func TestSharedBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Mode = ModeShared
		c.RestartBackoff = time.Hour
	})
	cs := h.connect(t, nil)
	if _, err := callText(testContext(t), cs, &mcp.CallToolParams{Name: "crash"}); err == nil {
		t.Fatal("crash returned no error")
	}
	r := h.do(t, http.MethodPost, initBody(5, "2025-11-25"))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" ||
		!strings.Contains(r.body, "will be restarted") || !strings.Contains(r.body, `"id":5`) {
		t.Errorf("initialize during backoff = %d (Retry-After %q) %q; want 503 with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) { c.Mode = mode })
			keep := h.connect(t, nil)
			cs := h.connect(t, nil)
			pid, sid := childPID(t, cs), cs.ID()
			if err := cs.Close(); err != nil { // sends DELETE
				t.Fatal(err)
			}
			if gone := processGone(pid); gone != (mode == ModeSession) {
				t.Errorf("after DELETE, process gone = %v; want %v", gone, mode == ModeSession)
			}
			r := h.do(t, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, sessionHeader, sid)
			if r.status != http.StatusNotFound {
				t.Errorf("request after DELETE = %d %q; want 404", r.status, r.body)
			}
			if got := h.srv.Stats(); got.Sessions != 1 || got.Processes != 1 {
				t.Errorf("Stats() = %+v; want 1 session, 1 process", got)
			}
			if got := mustCall(t, keep, "echo", map[string]any{"text": "still here"}); got != "still here" {
				t.Errorf("other session: echo = %q", got)
			}
		})
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) { c.Mode = mode })
			var pids []int
			var sessions []*mcp.ClientSession
			for range 3 {
				cs := h.connect(t, nil)
				sessions = append(sessions, cs)
				pids = append(pids, childPID(t, cs))
			}
			slow := make(chan error, 1)
			go func() {
				_, err := callText(testContext(t), sessions[0], &mcp.CallToolParams{Name: "slow"})
				slow <- err
			}()
			waitFor(t, "the slow call to reach the child", func() bool { return pendingCalls(h.srv) == 1 })
			if err := h.srv.Close(); err != nil {
				t.Fatal(err)
			}
			for _, pid := range pids {
				if !processGone(pid) {
					t.Errorf("process %d still exists after Close", pid)
				}
			}
			if err := <-slow; err == nil || !strings.Contains(err.Error(), "shutting down") {
				t.Errorf("in-flight call error = %v; want one saying the gateway is shutting down", err)
			}
			if got := h.srv.Stats(); got.Processes != 0 || got.Sessions != 0 {
				t.Errorf("Stats() = %+v; want nothing left", got)
			}
			if r := h.do(t, http.MethodPost, initBody(1, "2025-11-25")); r.status != http.StatusServiceUnavailable {
				t.Errorf("initialize after Close = %d %q; want 503", r.status, r.body)
			}
			if err := h.srv.Close(); err != nil {
				t.Errorf("second Close() = %v", err)
			}
		})
	}
}

// pendingCalls counts requests forwarded to children and not yet answered.
func pendingCalls(s *Server) int {
	s.mu.Lock()
	children := make([]*child, 0, len(s.children))
	for c := range s.children {
		children = append(children, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range children {
		c.mu.Lock()
		n += len(c.pending)
		c.mu.Unlock()
	}
	return n
}

func TestCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Mode = ModeShared })
	a, b := h.connect(t, nil), h.connect(t, nil)
	ctx, cancel := context.WithCancel(testContext(t))
	errA := make(chan error, 1)
	go func() {
		_, err := callText(ctx, a, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"tag": "a"}})
		errA <- err
	}()
	errB := make(chan error, 1)
	go func() {
		got, err := callText(testContext(t), b, &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"tag": "b"}})
		if err == nil {
			err = fmt.Errorf("slow b = %q", got)
		}
		errB <- err
	}()
	waitFor(t, "both calls to start", func() bool {
		logs := h.logs.String()
		return strings.Contains(logs, "slow a: started") && strings.Contains(logs, "slow b: started")
	})
	cancel()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call error = %v; want context.Canceled", err)
	}
	waitFor(t, "the child to see the cancellation", func() bool { return strings.Contains(h.logs.String(), "slow a: cancelled") })
	waitFor(t, "the bridge to forget the cancelled call", func() bool { return pendingCalls(h.srv) == 1 })
	if strings.Contains(h.logs.String(), "slow b: cancelled") {
		t.Fatal("cancelling session a's call cancelled session b's")
	}
	// b's call is still running; ending b's session answers it with an
	// error and cancels it in the child. (DELETE by hand: the go-sdk
	// client's Close waits for its pending calls first.)
	if r := h.do(t, http.MethodDelete, "", sessionHeader, b.ID()); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %q", r.status, r.body)
	}
	if err := <-errB; err == nil || !strings.Contains(err.Error(), "the client ended the session") {
		t.Errorf("b's call error = %v; want one saying the session ended", err)
	}
	waitFor(t, "the child to cancel b's call", func() bool { return strings.Contains(h.logs.String(), "slow b: cancelled") })
	if got := pendingCalls(h.srv); got != 0 {
		t.Errorf("%d calls still pending", got)
	}
}

// TestIdleTimeout: a session without requests or streams is ended (and its
// process stopped); one holding a GET stream open is kept.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 50 * time.Millisecond
	h := newHarness(t, func(c *Config) { c.IdleTimeout = idle })
	idleSID := h.rawSession(t, "")
	busySID := h.rawSession(t, "")
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.ts.URL, nil)
	req.Header.Set(sessionHeader, busySID)
	get, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer get.Body.Close()
	since := time.Now()
	// Once a sweep has started more than idle after both sessions were last
	// used, it has looked at both.
	waitFor(t, "a sweep after the idle timeout", func() bool {
		return time.Unix(0, h.srv.idlePass.Load()).After(since.Add(idle))
	})
	if r := h.do(t, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, sessionHeader, idleSID, "Accept", "application/json"); r.status != http.StatusNotFound {
		t.Errorf("idle session: ping = %d %q; want 404", r.status, r.body)
	}
	if r := h.do(t, http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, sessionHeader, busySID, "Accept", "application/json"); r.status != http.StatusOK {
		t.Errorf("session with a GET stream: ping = %d %q; want 200", r.status, r.body)
	}
	if got := h.srv.Stats(); got.Sessions != 1 || got.Processes != 1 {
		t.Errorf("Stats() = %+v; want the busy session and its process only", got)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       func(*Config)
		consumers []string // one initialize each, in order
		want      []int    // HTTP status of each
		wantMsg   string   // in the 429 body
	}{
		{
			name:      "MaxProcesses",
			cfg:       func(c *Config) { c.MaxProcesses = 1 },
			consumers: []string{"a", "b"},
			want:      []int{200, 429},
			wantMsg:   "MaxProcesses limit reached",
		},
		{
			name:      "MaxPerConsumer/session",
			cfg:       func(c *Config) { c.MaxPerConsumer = 1 },
			consumers: []string{"a", "a", "b", ""},
			want:      []int{200, 429, 200, 200},
			wantMsg:   `MaxPerConsumer limit reached: consumer \"a\"`,
		},
		{
			name:      "MaxPerConsumer/shared",
			cfg:       func(c *Config) { c.Mode = ModeShared; c.MaxPerConsumer = 2 },
			consumers: []string{"a", "a", "a", "b"},
			want:      []int{200, 200, 429, 200},
			wantMsg:   `MaxPerConsumer limit reached: consumer \"a\"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.cfg)
			var first string
			for i, consumer := range tt.consumers {
				id := fmt.Sprintf("init-%d", i)
				r := h.do(t, http.MethodPost, initBody(id, "2025-11-25"), "X-Consumer", consumer, "Accept", "application/json")
				if r.status != tt.want[i] {
					t.Fatalf("initialize %d by %q = %d %q; want %d", i, consumer, r.status, r.body, tt.want[i])
				}
				if i == 0 {
					first = r.header.Get(sessionHeader)
				}
				if r.status == http.StatusTooManyRequests {
					if !strings.Contains(r.body, tt.wantMsg) || !strings.Contains(r.body, `"id":"`+id+`"`) {
						t.Errorf("429 body = %q; want id %s and %q", r.body, id, tt.wantMsg)
					}
					// Ending a session of that consumer frees a slot.
					if d := h.do(t, http.MethodDelete, "", sessionHeader, first, "X-Consumer", tt.consumers[0]); d.status != http.StatusNoContent {
						t.Fatalf("DELETE = %d %q", d.status, d.body)
					}
					if r := h.do(t, http.MethodPost, initBody(id, "2025-11-25"), "X-Consumer", consumer); r.status != http.StatusOK {
						t.Errorf("initialize after DELETE = %d %q; want 200", r.status, r.body)
					}
				}
			}
		})
	}
}

// TestHTTPErrors covers the status codes clients use to decide what to do
// next (re-initialize on 404, fall back on 400/405).
func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxMessageBytes = 4096 })
	sid := h.rawSession(t, "alice")
	tests := []struct {
		name     string
		method   string
		body     string
		hdr      []string
		want     int
		wantBody string
	}{
		{"missing session", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, 400, "missing Mcp-Session-Id"},
		{"missing session on GET", "GET", "", nil, 400, "missing Mcp-Session-Id"},
		{"unknown session", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, []string{sessionHeader, "nope", "X-Consumer", "alice"}, 404, "session not found"},
		{"another consumer's session", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, []string{sessionHeader, sid, "X-Consumer", "mallory"}, 404, "session not found"},
		{"unknown session on DELETE", "DELETE", "", []string{sessionHeader, "nope"}, 404, "session not found"},
		{"unknown session on GET", "GET", "", []string{sessionHeader, "nope"}, 404, "session not found"},
		{"batch", "POST", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, []string{sessionHeader, sid, "X-Consumer", "alice"}, 400, "batches are not supported"},
		{"not JSON", "POST", `{"jsonrpc":`, []string{sessionHeader, sid, "X-Consumer", "alice"}, 400, `"code":-32700`},
		{"too large", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("x", 5000) + `"}}`, []string{sessionHeader, sid, "X-Consumer", "alice"}, 413, "MaxMessageBytes (4096 bytes)"},
		{"wrong content type", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, []string{"Content-Type", "text/plain", sessionHeader, sid, "X-Consumer", "alice"}, 415, "not application/json"},
		{"initialize with a session", "POST", initBody(1, "2025-11-25"), []string{sessionHeader, sid, "X-Consumer", "alice"}, 400, "initialize must be sent without"},
		{"method not allowed", "PUT", "", nil, 405, "PUT is not allowed"},
		{"notification", "POST", `{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`, []string{sessionHeader, sid, "X-Consumer", "alice"}, 202, ""},
		{"response to nothing", "POST", `{"jsonrpc":"2.0","id":77,"result":{}}`, []string{sessionHeader, sid, "X-Consumer", "alice"}, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, tt.method, tt.body, tt.hdr...)
			if r.status != tt.want || !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("%s = %d %q; want %d with %q", tt.method, r.status, r.body, tt.want, tt.wantBody)
			}
			if tt.want == 405 && r.header.Get("Allow") != "GET, POST, DELETE" {
				t.Errorf("Allow = %q", r.header.Get("Allow"))
			}
			if tt.want == 202 && r.body != "" {
				t.Errorf("202 with body %q", r.body)
			}
		})
	}
}

func TestJSONResponse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	sid := h.rawSession(t, "")
	r := h.do(t, http.MethodPost,
		`{"jsonrpc":"2.0","id":"s-1","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`,
		sessionHeader, sid, "Accept", "application/json")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST = %d %s %q; want 200 application/json", r.status, r.header.Get("Content-Type"), r.body)
	}
	var resp struct {
		ID     string `json:"id"`
		Result struct {
			Content []struct{ Text string } `json:"content"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.body), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.ID != "s-1" || len(resp.Result.Content) != 1 || resp.Result.Content[0].Text != "hi" {
		t.Errorf("response = %s; want id s-1 and text hi", r.body)
	}
}

// TestStreams opens the GET stream by hand: a second one is refused, a
// duplicate in-flight id is refused, and cancelling a request ends its
// stream.
func TestStreams(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	sid := h.rawSession(t, "")
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	open := func(method, body string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, method, h.ts.URL, strings.NewReader(body))
		req.Header.Set(sessionHeader, sid)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if get := open(http.MethodGet, ""); get.StatusCode != http.StatusOK || get.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET = %d %s", get.StatusCode, get.Header.Get("Content-Type"))
	}
	if r := h.do(t, http.MethodGet, "", sessionHeader, sid); r.status != http.StatusConflict {
		t.Errorf("second GET = %d %q; want 409", r.status, r.body)
	}
	call := `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"slow","arguments":{"tag":"raw"}}}`
	slow := open(http.MethodPost, call)
	if slow.StatusCode != http.StatusOK {
		t.Fatalf("slow POST = %d", slow.StatusCode)
	}
	if r := h.do(t, http.MethodPost, call, sessionHeader, sid); r.status != http.StatusBadRequest || !strings.Contains(r.body, "already in flight") {
		t.Errorf("same id again = %d %q; want 400", r.status, r.body)
	}
	waitFor(t, "the call to start", func() bool { return strings.Contains(h.logs.String(), "slow raw: started") })
	if r := h.do(t, http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42}}`, sessionHeader, sid); r.status != http.StatusAccepted {
		t.Errorf("cancel = %d %q", r.status, r.body)
	}
	body, err := io.ReadAll(slow.Body) // ends because the request was cancelled
	if err != nil {
		t.Fatal(err)
	}
	if len(sseMessages(t, string(body))) != 0 {
		t.Errorf("cancelled request's stream = %q; want no messages", body)
	}
	waitFor(t, "the child to see the cancellation", func() bool { return strings.Contains(h.logs.String(), "slow raw: cancelled") })
	// The id is free again.
	r := h.do(t, http.MethodPost, `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"reused"}}}`, sessionHeader, sid)
	if r.status != http.StatusOK || !strings.Contains(r.body, "reused") {
		t.Errorf("reused id = %d %q", r.status, r.body)
	}
}

func TestStderrLogged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cs := h.connect(t, nil)
	pid := childPID(t, cs)
	mustCall(t, cs, "stderr", map[string]any{"text": "hello from stderr"})
	want := fmt.Sprintf(`level=INFO msg="stdio server stderr" server=test pid=%d line="hello from stderr"`, pid)
	waitFor(t, "the stderr line in the log", func() bool { return strings.Contains(h.logs.String(), want) })
}

func TestNonJSONLineSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Env[envTestGarbage] = "1" })
	cs := h.connect(t, nil)
	if got := mustCall(t, cs, "echo", map[string]any{"text": "fine"}); got != "fine" {
		t.Errorf("echo = %q", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "not JSON-RPC") || !strings.Contains(logs, "this line is not JSON-RPC") {
		t.Errorf("log does not mention the skipped line:\n%s", logs)
	}
}

func TestOversizeLineKillsChild(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxMessageBytes = 64 << 10 })
	cs := h.connect(t, nil)
	pid := childPID(t, cs)
	_, err := callText(testContext(t), cs, &mcp.CallToolParams{Name: "big", Arguments: map[string]any{"bytes": 100 << 10}})
	if err == nil || !strings.Contains(err.Error(), "longer than MaxMessageBytes (65536)") {
		t.Fatalf("big error = %v; want the line limit named", err)
	}
	if !processGone(pid) {
		t.Errorf("process %d survived", pid)
	}
	if got := h.srv.Stats().Crashes; got != 1 {
		t.Errorf("Crashes = %d; want 1", got)
	}
}

// TestStopEscalates runs a "server" that ignores the end of stdin and
// SIGTERM, and checks that Close still ends it, with SIGKILL.
func TestStopEscalates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Command = []string{"sh", "-c", "trap '' TERM; exec sleep 1000"}
		c.ShutdownTimeout = 100 * time.Millisecond
	})
	answered := make(chan rawResponse, 1)
	go func() { answered <- h.do(t, http.MethodPost, initBody(1, "2025-11-25")) }()
	waitFor(t, "initialize to reach the process", func() bool { return pendingCalls(h.srv) == 1 })
	var pid int
	waitFor(t, "the start to be logged", func() bool {
		_, after, ok := strings.Cut(h.logs.String(), `msg="stdio server started" server=test pid=`)
		if ok {
			_, err := fmt.Sscan(after, &pid)
			return err == nil
		}
		return false
	})
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	logs := h.logs.String()
	for _, want := range []string{"ignored the end of stdin; sending SIGTERM", "ignored SIGTERM; sending SIGKILL", `status="signal: killed"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if !processGone(pid) {
		t.Errorf("process %d survived Close", pid)
	}
	if r := <-answered; r.status != http.StatusOK || !strings.Contains(r.body, "process exited (signal: killed)") {
		t.Errorf("pending initialize = %d %q; want a JSON-RPC error naming the exit", r.status, r.body)
	}
}

// TestNoLeaks checks that after Close no goroutine of the bridge is left.
// Not parallel: it inspects every goroutine of the test binary, and the
// parallel tests are paused while it runs.
func TestNoLeaks(t *testing.T) {
	for _, mode := range modes {
		h := newHarness(t, func(c *Config) { c.Mode = mode; c.IdleTimeout = time.Hour })
		for range 2 {
			cs := h.connect(t, nil)
			mustCall(t, cs, "notify", map[string]any{"n": 2, "text": "x"})
		}
		// The pattern below must see the bridge while it runs.
		if !strings.Contains(allStacks(), "mcp/stdio.(*child).readStdout") {
			t.Fatal("no readStdout goroutine in the stacks of a running bridge")
		}
		if err := h.srv.Close(); err != nil {
			t.Fatal(err)
		}
		h.ts.Close()
	}
	waitFor(t, "the bridge's goroutines to end", func() bool {
		stacks := allStacks()
		return !strings.Contains(stacks, "mcp/stdio.(*") && !strings.Contains(stacks, "mcp/stdio.streamOut")
	})
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// TestEnvironment checks that the gateway's secrets stay out of children.
// Not parallel: it sets the test process's environment.
func TestEnvironment(t *testing.T) {
	t.Setenv("SLUICE_TEST_SECRET", "hunter2")
	t.Setenv("LC_SLUICE_TEST", "kept")
	h := newHarness(t, func(c *Config) { c.Env["GIVEN"] = "yes" })
	cs := h.connect(t, nil)
	for name, want := range map[string]string{
		"SLUICE_TEST_SECRET": "<unset>",
		"LC_SLUICE_TEST":     "kept",
		"GIVEN":              "yes",
		"PATH":               os.Getenv("PATH"),
	} {
		if got := mustCall(t, cs, "env", map[string]any{"name": name}); got != want {
			t.Errorf("child's %s = %q; want %q", name, got, want)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"minimal", Config{Command: []string{exe}}, nil},
		{"no command", Config{}, []string{"Command: must name a program"}},
		{"not in PATH", Config{Command: []string{"sluice-no-such-program"}}, []string{`stdio server "sluice-no-such-program"`, "Command[0]:", "not found"}},
		{"bad mode", Config{Command: []string{exe}, Mode: "pooled"}, []string{`Mode: "pooled"`}},
		{"negatives", Config{Command: []string{exe}, MaxProcesses: -1, MaxPerConsumer: -1, ShutdownTimeout: -1}, []string{"MaxProcesses", "MaxPerConsumer", "ShutdownTimeout"}},
		{"backoffs", Config{Command: []string{exe}, RestartBackoff: time.Minute, MaxRestartBackoff: time.Second}, []string{"MaxRestartBackoff: 1s is less than RestartBackoff 1m0s"}},
		{"env", Config{Command: []string{exe}, Env: map[string]string{"A=B": "x"}}, []string{`Env["A=B"]`}},
		{"dir", Config{Command: []string{exe}, Dir: exe}, []string{"is not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("New() = %v", err)
				}
				if s.cfg.Mode != ModeSession || s.cfg.MaxProcesses != DefaultMaxProcesses || s.cfg.MaxMessageBytes != DefaultMaxMessageBytes {
					t.Errorf("defaults not applied: %+v", s.cfg)
				}
				s.Close()
				return
			}
			if err == nil {
				t.Fatal("New() = nil error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New() = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}
