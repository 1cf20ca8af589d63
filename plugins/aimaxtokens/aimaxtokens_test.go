package aimaxtokens_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/aimaxtokens"
	"github.com/sluicegw/sluice/plugins/internal/aiplugintest"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"default", `{"default":1000}`, ""},
		{"all keys", `{"default":0,"groups":{"free":256,"pro":4096},"consumers":{"alice":100000},"set_when_missing":false}`, ""},
		{"nothing", `{}`, "default, groups, consumers: set at least one limit"},
		{"only a flag", `{"set_when_missing":false}`, "default, groups, consumers: set at least one limit"},
		{"negative default", `{"default":-1}`, "default: -1 is negative (0 leaves callers without an entry uncapped)"},
		{"bad groups", `{"groups":{"pro":-5,"free":0,"":10}}`,
			"groups: empty group name\ngroups.free: 0 is not a positive token count\ngroups.pro: -5 is not a positive token count"},
		{"bad consumers", `{"default":10,"consumers":{"bob":0,"":1}}`,
			"consumers: empty consumer name\nconsumers.bob: 0 is not a positive token count"},
		{"string", `{"default":"1k"}`, "default: expected int64, got string"},
		{"fraction", `{"groups":{"free":1.5}}`, "groups: expected int64, got number 1.5"},
		{"unknown key", `{"default":10,"max_tokens":10}`, `json: unknown field "max_tokens"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := aiplugintest.ErrString(aimaxtokens.Kind.Check(json.RawMessage(tt.cfg))); got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
}

var consumers = []plugintest.Consumer{
	{Name: "alice", Groups: []string{"pro", "free"}},
	{Name: "bob", Groups: []string{"free"}},
	{Name: "carol", Groups: []string{"pro", "staff"}},
	{Name: "dave"},
	{Name: "erin", Groups: []string{"free"}},
}

func TestBuild(t *testing.T) {
	t.Parallel()
	ai := plugintest.Env(t, aimaxtokens.Kind, "llm", consumers...)
	ai.AIRoute = true
	plain := plugintest.Env(t, aimaxtokens.Kind, "api", consumers...)
	global := plugintest.Env(t, aimaxtokens.Kind, "", consumers...)
	tests := []struct {
		name string
		env  plugin.Env
		cfg  string
		want string
	}{
		{"known consumers", ai, `{"consumers":{"alice":10,"bob":20}}`, ""},
		{"unknown consumers", ai, `{"consumers":{"zoe":10,"alice":10,"Bob":20}}`, "consumers.Bob: no such consumer\nconsumers.zoe: no such consumer"},
		// Groups may come from token claims, so any name is accepted.
		{"any group", ai, `{"groups":{"from-a-claim":10}}`, ""},
		{"plain route", plain, `{"default":10}`, "ai-max-tokens works only on routes with an ai block"},
		{"global", global, `{"default":10}`, ""},
	}
	for _, tt := range tests {
		if _, err := aimaxtokens.Kind.Build(tt.env, json.RawMessage(tt.cfg)); aiplugintest.ErrString(err) != tt.want {
			t.Errorf("%s: Build = %v; want %q", tt.name, err, tt.want)
		}
	}
}

// as is an authentication stand-in: it identifies every request as c.
func as(c *plugin.Consumer) plugin.Use {
	return plugin.Use{Kind: plugin.Kind{Name: "as", Phase: plugin.Authn}, MW: func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			plugin.ExchangeOf(r).Identify(c, "as")
			return next.ServeHTTP(w, r)
		})
	}}
}

// limits renders the output limits of an upstream body.
func limits(t *testing.T, b []byte) string {
	u := aiplugintest.DecodeUpstream(t, b)
	var out []string
	if u.MaxTokens != nil {
		out = append(out, fmt.Sprintf("max_tokens=%d", *u.MaxTokens))
	}
	if u.MaxCompletionTokens != nil {
		out = append(out, fmt.Sprintf("max_completion_tokens=%d", *u.MaxCompletionTokens))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// TestClamp runs the clamp in front of the real ai route, both ingress
// APIs to both provider APIs, and reads the limit the provider received.
func TestClamp(t *testing.T) {
	t.Parallel()
	const cfg = `{"default":1000,"groups":{"free":256,"pro":4096},"consumers":{"erin":100000}}`
	oai := func(model, limit string) string {
		s := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]`
		if limit != "" {
			s += "," + limit
		}
		return s + "}"
	}
	ant := func(model string, max int) string {
		return fmt.Sprintf(`{"model":%q,"max_tokens":%d,"messages":[{"role":"user","content":"hi"}]}`, model, max)
	}
	tests := []struct {
		name, cfg, caller, api, body string
		want                         string // limits upstream
		decision                     string
	}{
		{name: "smallest group", caller: "alice", api: "openai", body: oai("gpt", `"max_tokens":5000`), want: "max_tokens=256", decision: "clamped"},
		{name: "one group", caller: "carol", api: "openai", body: oai("gpt", `"max_tokens":5000`), want: "max_tokens=4096", decision: "clamped"},
		{name: "under the cap", caller: "carol", api: "openai", body: oai("gpt", `"max_tokens":100`), want: "max_tokens=100", decision: "unchanged"},
		{name: "at the cap", caller: "carol", api: "openai", body: oai("gpt", `"max_tokens":4096`), want: "max_tokens=4096", decision: "unchanged"},
		{name: "no listed group: default", caller: "dave", api: "openai", body: oai("gpt", `"max_tokens":5000`), want: "max_tokens=1000", decision: "clamped"},
		{name: "unidentified: default", api: "openai", body: oai("gpt", `"max_tokens":5000`), want: "max_tokens=1000", decision: "clamped"},
		{name: "consumer entry wins over group", caller: "erin", api: "openai", body: oai("gpt", `"max_tokens":50000`), want: "max_tokens=50000", decision: "unchanged"},
		{name: "consumer entry caps", caller: "erin", api: "openai", body: oai("gpt", `"max_tokens":200000`), want: "max_tokens=100000", decision: "clamped"},
		{name: "set when missing", caller: "bob", api: "openai", body: oai("gpt", ""), want: "max_tokens=256", decision: "clamped"},
		{name: "not set when missing", cfg: `{"groups":{"free":256},"set_when_missing":false}`, caller: "bob", api: "openai",
			body: oai("gpt", ""), want: "none", decision: "unchanged"},
		{name: "max_completion_tokens kept", caller: "bob", api: "openai", body: oai("gpt", `"max_completion_tokens":5000`),
			want: "max_completion_tokens=256", decision: "clamped"},
		{name: "stream", caller: "bob", api: "openai", body: `{"model":"gpt","stream":true,"max_tokens":5000,"messages":[{"role":"user","content":"hi"}]}`,
			want: "max_tokens=256", decision: "clamped"},
		{name: "no cap without default", cfg: `{"groups":{"free":256}}`, caller: "dave", api: "openai", body: oai("gpt", `"max_tokens":5000`),
			want: "max_tokens=5000", decision: "unchanged"},
		{name: "anthropic", caller: "bob", api: "anthropic", body: ant("claude", 5000), want: "max_tokens=256", decision: "clamped"},
		{name: "anthropic under the cap", caller: "bob", api: "anthropic", body: ant("claude", 200), want: "max_tokens=200", decision: "unchanged"},
		{name: "anthropic to openai", caller: "bob", api: "anthropic", body: ant("gpt", 5000), want: "max_completion_tokens=256", decision: "clamped"},
		{name: "openai to anthropic, missing", caller: "bob", api: "openai", body: oai("claude", ""), want: "max_tokens=256", decision: "clamped"},
		// Anthropic needs a limit: the route sends its default, uncapped.
		{name: "openai to anthropic, not set when missing", cfg: `{"groups":{"free":256},"set_when_missing":false}`, caller: "bob", api: "openai",
			body: oai("claude", ""), want: "max_tokens=4096", decision: "unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := aiplugintest.NewLLM(t)
			var counts aiplugintest.Decisions
			e := plugintest.Env(t, aimaxtokens.Kind, "llm", consumers...)
			e.AIRoute, e.Decisions = true, counts.Counter
			uses := []plugin.Use{plugintest.Use(t, aimaxtokens.Kind, e, cmpOr(tt.cfg, cfg))}
			if tt.caller != "" {
				uses = append(uses, as(e.Consumer(tt.caller)))
			}
			res, up := l.Serve(t, uses, "POST", aiplugintest.PathOf(tt.api), tt.body)
			if res.Code != 200 || up == nil {
				t.Fatalf("got %d (err %v, body %s); want 200 from the provider", res.Code, res.Err, res.Body)
			}
			if got := limits(t, up); got != tt.want {
				t.Errorf("upstream limits = %s; want %s (body %s)", got, tt.want, up)
			}
			if counts.Get(tt.decision) != 1 {
				t.Errorf("decisions %v; want %s once", counts.String(), tt.decision)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestOtherRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string // of the *plugin.Error, "" for none
		upstream                 string // the body the provider got, "" for none
	}{
		{"models", "GET", "/v1/models", "", 200, "", ""},
		{"embeddings untouched", "POST", "/v1/embeddings", `{"model":"gpt","input":"hi"}`, 200, "", `{"model":"gpt-up","input":"hi"}`},
		{"not JSON", "POST", "/v1/chat/completions", `{"model":`, 400, "invalid_request", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := aiplugintest.NewLLM(t)
			var counts aiplugintest.Decisions
			res, up := l.Serve(t, []plugin.Use{plugintest.Use(t, aimaxtokens.Kind, aiplugintest.Env(&counts), `{"default":10}`)}, tt.method, tt.path, tt.body)
			var pe *plugin.Error
			errors.As(res.Err, &pe)
			code := ""
			if pe != nil {
				code = pe.Code
			}
			if res.Code != tt.status || code != tt.code || string(up) != tt.upstream {
				t.Errorf("got %d, error %v, upstream %s; want %d, code %q, upstream %s", res.Code, res.Err, up, tt.status, tt.code, tt.upstream)
			}
			if counts.Total() != 0 {
				t.Errorf("decisions %v; want none", counts.String())
			}
		})
	}
}

// TestNoAI: a global clamp also sits on the not-found chain, where there
// is no AI state; it passes the request on.
func TestNoAI(t *testing.T) {
	t.Parallel()
	h := plugintest.Build(t, aimaxtokens.Kind, plugin.Env{}, `{"default":10}`, nil)
	res := plugintest.Serve(h, httptest.NewRequest("POST", "/nowhere", strings.NewReader(`{}`)))
	if res.Code != 200 || res.Body.String() != "ok" {
		t.Errorf("got %d %s; want the next handler's 200 ok", res.Code, res.Body)
	}
}
