package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	good := writeFile(t, "good.yaml", `upstreams:
  - name: backend
    targets: [{url: "http://127.0.0.1:9001"}]
routes:
  - name: api
    match: {paths: ["/api/*"]}
    upstream: backend
`)
	bad := writeFile(t, "sluice.yaml", `upstreams:
  - name: backend
    targets: [{url: "htp://127.0.0.1:9001"}]
    timeouts: {connect: 2 seconds}
routes:
  - name: api
    match: {paths: ["/api/*"]}
    upstream: billing
    plugins:
      - name: cors
        config: {allow_origins: ["*"], allow_credential: true}
      - name: no-such-plugin
`)
	unknownKey := writeFile(t, "keys.yaml", `routes:
  - name: api
    match: {pathz: ["/x"]}
`)
	consumers := writeFile(t, "consumers.yaml", `consumers:
  - name: agent-a
    credentials: {key-auth: {key: same}}
  - name: agent-b
    credentials: {key-auth: {key: same}}
routes:
  - name: api
    match: {paths: ["/x"]}
    plugins:
      - name: key-auth
      - name: mocking
`)
	unknownConsumer := writeFile(t, "restrict.yaml", `consumers:
  - name: agent-a
routes:
  - name: api
    match: {paths: ["/x"]}
    plugins:
      - name: consumer-restriction
        config: {whitelist: [agent-b]}
      - name: mocking
`)
	cases := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"valid", []string{"validate", "-c", good}, 0, []string{"good.yaml: ok"}},
		{"duplicate credential names both consumers", []string{"validate", "-c", consumers}, 1, []string{
			`consumers.yaml:5:29: consumers[agent-b].credentials.key-auth: consumers "agent-a" (consumers[0]) and "agent-b" have the same key-auth credential`,
		}},
		{"plugins built against the consumers", []string{"validate", "-c", unknownConsumer}, 1, []string{
			`restrict.yaml:8:17: routes[api].plugins[0](consumer-restriction).config: whitelist[0]: unknown consumer "agent-b"`,
		}},
		{"every problem with its place", []string{"validate", "-c", bad}, 1, []string{
			bad + `:8:15: routes[api].upstream: upstream "billing" is not defined`,
			`upstreams[backend].targets[0].url`,
			`upstreams[backend].timeouts.connect`,
			`routes[api].plugins[1]`,
			`no-such-plugin`,
			`allow_credential`,
		}},
		{"unknown key", []string{"validate", "-c", unknownKey}, 1, []string{`keys.yaml:3:13: routes[api].match`, `pathz`}},
		{"missing file", []string{"validate", "-c", "/nonexistent/sluice.yaml"}, 1, []string{"/nonexistent/sluice.yaml"}},
		{"help", []string{"validate", "--help"}, 0, []string{"Usage: sluice validate"}},
		{"run help", []string{"run", "--help"}, 0, []string{"Usage: sluice run"}},
		{"schema help", []string{"schema", "--help"}, 0, []string{"Usage: sluice schema"}},
		{"version", []string{"version"}, 0, []string{"sluice "}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			all := out.String() + errb.String()
			if code != tc.code {
				t.Fatalf("exit %d; want %d\n%s", code, tc.code, all)
			}
			for _, want := range tc.contains {
				if !strings.Contains(all, want) {
					t.Errorf("output lacks %q:\n%s", want, all)
				}
			}
		})
	}
}

func TestSchemaIsJSONWithPluginConfigs(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run([]string{"schema"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var schema map[string]any
	if err := json.Unmarshal(out.Bytes(), &schema); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	for _, want := range []string{`"listeners"`, `"upstreams"`, `"strip_prefix"`, `"allow_origins"`, `"response_example"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("schema lacks %s", want)
		}
	}
}

// TestExamplesValidate keeps examples/ true: every file must pass validate.
func TestExamplesValidate(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, problems := check(f, data, kindMap()); len(problems) > 0 {
				t.Fatalf("example does not validate:\n%s", strings.Join(problems, "\n"))
			}
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDefaultConfigAnswersReadmeExamples runs the embedded default config
// (on free ports instead of 8080/9090) and makes the README's curl calls.
func TestDefaultConfigAnswersReadmeExamples(t *testing.T) {
	t.Parallel()
	addr, status := freePort(t), freePort(t)
	data := strings.ReplaceAll(string(defaultConfig), "127.0.0.1:8080", addr)
	data = strings.ReplaceAll(data, "127.0.0.1:9090", status)
	path := writeFile(t, "default.yaml", data)
	var stdout, stderr syncWriter
	in, err := start(source{name: path, path: path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr.String())
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			in.shutdown()
		}
	})

	chat := `{"model":"demo","messages":[{"role":"user","content":"hello"}]}`
	cases := []struct {
		method, path, body string
		status             int
		contains           []string
	}{
		{"GET", "/", "", 200, []string{`"name":"sluice"`}},
		{"GET", "/hello/world", "", 200, []string{`"hello":"world"`, `"request_id":"`}},
		{"POST", "/api/orders?x=1", "", 200, []string{`"backend":"demo"`, `"method":"POST"`, `"path":"/orders"`}},
		{"GET", "/missing", "", 404, []string{`"type":"route_not_found"`}},
		{"POST", "/v1/chat/completions", chat, 200, []string{`"object":"chat.completion"`, `"usage":`}},
		{"GET", "/v1/models", "", 200, []string{`"id":"demo"`}},
	}
	for _, tc := range cases {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, _ := http.NewRequest(tc.method, "http://"+addr+tc.path, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s = %d %s; want %d", tc.method, tc.path, resp.StatusCode, b, tc.status)
		}
		for _, want := range tc.contains {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s %s body %s lacks %s", tc.method, tc.path, b, want)
			}
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id (global request-id plugin)", tc.method, tc.path)
		}
	}
	// The access log is buffered; shutdown flushes it, and every request
	// above (the proxied one twice: /api and its hop to backend.internal) is there.
	in.shutdown()
	stopped = true
	if n := strings.Count(stdout.String(), `"msg":"access"`); n != len(cases)+1 {
		t.Errorf("access log has %d lines after shutdown; want %d", n, len(cases)+1)
	}
	// The client's path is logged, not the one proxy-rewrite sent upstream.
	if !strings.Contains(stdout.String(), `"path":"/api/orders","route":"api"`) {
		t.Errorf("access log does not show the client's path /api/orders for route api:\n%s", stdout.String())
	}
}

func TestStatusListener(t *testing.T) {
	t.Parallel()
	addr, status := freePort(t), freePort(t)
	path := writeFile(t, "sluice.yaml", mockConfig(addr, status, "hi"))
	var stdout, stderr syncWriter
	in, err := start(source{name: path, path: path}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { in.shutdown() })
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + status + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("status %s = %d", p, resp.StatusCode)
		}
	}
}

// buildBinary compiles sluice once for the process tests.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a sluice process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncWriter
	done   chan struct{} // closed when the process has exited; err is then set
	err    error
}

// exited waits up to 10s for the process to end and returns its exit error.
func (p *proc) exited(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(10 * time.Second):
		t.Fatalf("process did not exit\n%s", p.stderr.String())
		return nil
	}
}

func startProc(t *testing.T, config string) *proc {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{stderr: &syncWriter{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "-c", config)
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill() // our own child, by PID
			<-p.done
		}
	})
	return p
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func body(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mockConfig(addr, status, message string) string {
	return fmt.Sprintf(`listeners: [{addr: %q}]
status: {addr: %q}
reload: {interval: 50ms}
routes:
  - name: hello
    match: {paths: ["/hello"]}
    plugins:
      - name: mocking
        config: {response_example: %q}
`, addr, status, message)
}

func TestProcessReloadsAndRefusesBadConfig(t *testing.T) {
	t.Parallel()
	addr, status := freePort(t), freePort(t)
	cfg := writeFile(t, "sluice.yaml", mockConfig(addr, status, "one"))
	p := startProc(t, cfg)
	url := "http://" + addr + "/hello"
	waitUntil(t, "gateway to answer", func() bool { c, b := body(url); return c == 200 && b == "one" })

	// A file change is picked up by the watcher.
	os.WriteFile(cfg, []byte(mockConfig(addr, status, "two")), 0o600)
	waitUntil(t, "file change to apply", func() bool { _, b := body(url); return b == "two" })

	// A bad file is refused on SIGHUP: the old config keeps serving.
	os.WriteFile(cfg, []byte("routes:\n  - name: x\n    upstream: nowhere\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "refusal to be logged", func() bool {
		return strings.Contains(p.stderr.String(), "configuration reload refused")
	})
	if c, b := body(url); c != 200 || b != "two" {
		t.Fatalf("after a bad reload got %d %q; want the old config's answer", c, b)
	}
	if !strings.Contains(p.stderr.String(), `upstream \"nowhere\" is not defined`) {
		t.Errorf("refusal does not name the problem:\n%s", p.stderr.String())
	}
	if _, m := body("http://" + status + "/metrics"); !strings.Contains(m, "sluice_config_last_reload_successful 0") {
		t.Errorf("reload failure not in metrics")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.exited(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
}

// TestProcessSIGTERMDrains sends SIGTERM while a slow request is in flight:
// the request must complete and the process exit 0.
func TestProcessSIGTERMDrains(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		fmt.Fprint(w, "finished")
	}))
	defer up.Close()
	addr, status := freePort(t), freePort(t)
	cfg := writeFile(t, "sluice.yaml", fmt.Sprintf(`listeners: [{addr: %q}]
status: {addr: %q}
shutdown: {drain: 10s}
upstreams: [{name: up, targets: [{url: %q}]}]
routes: [{name: all, match: {paths: ["/*"]}, upstream: up}]
`, addr, status, up.URL))
	p := startProc(t, cfg)
	waitUntil(t, "gateway to listen", func() bool { c, _ := body("http://" + status + "/readyz"); return c == 200 })

	result := make(chan string, 1)
	go func() {
		c, b := body("http://" + addr + "/slow")
		result <- fmt.Sprintf("%d %s", c, b)
	}()
	<-entered
	p.cmd.Process.Signal(syscall.SIGTERM)
	waitUntil(t, "readyz to report draining", func() bool { c, _ := body("http://" + status + "/readyz"); return c == 503 || c == 0 })
	close(release)
	if got := <-result; got != "200 finished" {
		t.Fatalf("in-flight request during drain = %q; want 200 finished", got)
	}
	if err := p.exited(t); err != nil {
		t.Fatalf("exit after draining: %v\n%s", err, p.stderr.String())
	}
}

type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
