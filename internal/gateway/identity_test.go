package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

// testKey is a minimal key-auth: consumers carry {key}, requests send
// X-Key. It counts "allowed" and "rejected" decisions.
var testKey = func() plugin.Kind {
	k := plugin.Define("test-key", plugin.Authn, func() *noConfig { return &noConfig{} },
		func(env plugin.Env, _ *noConfig) (plugin.Middleware, error) {
			keys := map[string]*plugin.Consumer{}
			for _, c := range env.Credentials {
				keys[c.Value.(*testKeyCred).Key] = c.Consumer
			}
			allowed, rejected := env.Decision("allowed"), env.Decision("rejected")
			return func(next plugin.Handler) plugin.Handler {
				return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
					x := plugin.ExchangeOf(r)
					if x.Authenticated() {
						return next.ServeHTTP(w, r)
					}
					v := r.Header.Get("X-Key")
					switch c := keys[v]; {
					case v == "":
						x.Challenge(`Key realm="test"`)
					case c == nil:
						rejected.Inc()
						x.AuthnFailed(`Key realm="test"`, errors.New("unknown key"))
					default:
						allowed.Inc()
						x.Identify(c, "test-key")
					}
					return next.ServeHTTP(w, r)
				})
			}, nil
		})
	k.Credential = plugin.DefineCredential(func() *testKeyCred { return &testKeyCred{} },
		func(c *testKeyCred) string { return c.Key })
	return k
}()

type testKeyCred struct {
	Key string `json:"key"`
}

func (c *testKeyCred) Validate() error {
	if c.Key == "" {
		return errors.New("key: is required")
	}
	return nil
}

func init() { testKinds = append(testKinds, testKey) }

// TestConsumers: an Authn plugin identifies callers from consumer
// credentials; the consumer reaches the upstream's view, the access log and
// metrics; the route's anonymous consumer takes requests without a
// credential; a wrong credential gets the one generic 401.
func TestConsumers(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("up"))
	}))
	h := start(t, `
listeners: [{addr: 127.0.0.1:0}]
consumers:
  - name: agent-a
    groups: [agents]
    credentials: {test-key: {key: k-a}}
  - name: guest
upstreams:
  - name: up
    targets: [{url: `+up.URL+`}]
routes:
  - name: closed
    match: {paths: [/closed]}
    upstream: up
    plugins: [{name: test-key}]
  - name: open
    match: {paths: [/open]}
    upstream: up
    auth: {anonymous: guest}
    plugins: [{name: test-key}]
`)
	do := func(path, key string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", h.url+path, nil)
		if key != "" {
			req.Header.Set("X-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, string(b)
	}
	tests := []struct {
		path, key string
		status    int
		consumer  string
	}{
		{"/closed", "k-a", 200, "agent-a"},
		{"/closed", "", 401, ""},
		{"/closed", "wrong", 401, ""},
		{"/open", "", 200, "guest"},
		{"/open", "wrong", 401, ""},
		{"/open", "k-a", 200, "agent-a"},
	}
	for _, tt := range tests {
		status, hdr, body := do(tt.path, tt.key)
		if status != tt.status {
			t.Fatalf("GET %s key %q = %d %s; want %d", tt.path, tt.key, status, body, tt.status)
		}
		if status == 401 {
			if got := hdr.Get("WWW-Authenticate"); got != `Key realm="test"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			var e struct {
				Error struct{ Type, Message string }
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Type != "unauthorized" ||
				e.Error.Message != "missing or invalid credentials" {
				t.Errorf("401 body = %s", body)
			}
		}
	}
	logs := h.logs.String()
	for _, want := range []string{`"route":"closed"`, `"consumer":"agent-a"`, `"consumer":"guest"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s", want)
		}
	}
	if strings.Contains(logs, "k-a") {
		t.Errorf("a credential reached the log:\n%s", logs)
	}
	for _, m := range []struct{ prefix, want string }{
		{`sluice_consumer_requests_total{class="2xx",consumer="agent-a",route="closed"}`, " 1"},
		{`sluice_consumer_requests_total{class="2xx",consumer="guest",route="open"}`, " 1"},
		{`sluice_plugin_decisions_total{decision="allowed",plugin="test-key",route="closed"}`, " 1"},
		{`sluice_plugin_decisions_total{decision="rejected",plugin="test-key",route="open"}`, " 1"},
	} {
		if got := h.metric(m.prefix); !strings.HasSuffix(got, m.want) {
			t.Errorf("metric %s = %q; want value%s", m.prefix, got, m.want)
		}
	}
}
