package aipromptdecorator_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/aipromptdecorator"
	"github.com/sluicegw/sluice/plugins/aipromptguard"
	"github.com/sluicegw/sluice/plugins/internal/aiplugintest"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"prepend", `{"prepend":[{"role":"system","content":"Be brief."}]}`, ""},
		{"both", `{"prepend":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],"append":[{"role":"system","content":"c"}]}`, ""},
		{"nothing", `{}`, "prepend, append: set at least one message"},
		{"empty lists", `{"prepend":[],"append":[]}`, "prepend, append: set at least one message"},
		{"bad messages", `{"prepend":[{"content":"a"},{"role":"tool","content":"b"}],"append":[{"role":"user"},{"role":"developer","content":""}]}`,
			"prepend[0].role: required\n" +
				`prepend[1].role: "tool" is not one of system, user, assistant` + "\n" +
				"append[0].content: required\n" +
				`append[1].role: "developer" is not one of system, user, assistant` + "\n" +
				"append[1].content: required"},
		{"unknown key", `{"prepend":[{"role":"user","content":"a","name":"x"}]}`, `json: unknown field "name"`},
		{"type", `{"append":{"role":"user","content":"a"}}`, "append: expected []aipromptdecorator.Message, got object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := aiplugintest.ErrString(aipromptdecorator.Kind.Check(json.RawMessage(tt.cfg))); got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
}

func TestBuildNeedsAIRoute(t *testing.T) {
	t.Parallel()
	cfg := json.RawMessage(`{"append":[{"role":"user","content":"x"}]}`)
	tests := []struct {
		name string
		env  plugin.Env
		want string
	}{
		{"ai route", plugin.Env{Route: "llm", AIRoute: true}, ""},
		{"plain route", plugin.Env{Route: "api"}, "ai-prompt-decorator works only on routes with an ai block"},
		{"global", plugin.Env{}, ""},
	}
	for _, tt := range tests {
		if _, err := aipromptdecorator.Kind.Build(tt.env, cfg); aiplugintest.ErrString(err) != tt.want {
			t.Errorf("%s: Build = %v; want %q", tt.name, err, tt.want)
		}
	}
}

// TestDecorate sends requests in both APIs to providers of both APIs
// through the decorator and the real ai route, and reads the conversation
// the provider received.
func TestDecorate(t *testing.T) {
	t.Parallel()
	const full = `{"prepend":[{"role":"system","content":"P-sys1"},{"role":"user","content":"P-user"},{"role":"system","content":"P-sys2"}],` +
		`"append":[{"role":"system","content":"A-sys"},{"role":"user","content":"A-user"}]}`
	tests := []struct {
		name, cfg, api, body string
		want                 []string
	}{{
		name: "openai to openai, no system prompt",
		cfg:  full, api: "openai",
		body: `{"model":"gpt","messages":[{"role":"user","content":"hi"}]}`,
		// Prepended system messages go first, in order; the other prepended
		// messages follow the system run; appended system messages end it.
		want: []string{"system: P-sys1", "system: P-sys2", "system: A-sys", "user: P-user", "user: hi", "user: A-user"},
	}, {
		name: "openai to openai, client system prompt",
		cfg:  full, api: "openai",
		body: `{"model":"gpt","messages":[{"role":"system","content":"C-sys"},{"role":"developer","content":"C-dev"},{"role":"user","content":"hi"},{"role":"assistant","content":"yo"},{"role":"user","content":"bye"}]}`,
		want: []string{"system: P-sys1", "system: P-sys2", "system: C-sys", "developer: C-dev", "system: A-sys",
			"user: P-user", "user: hi", "assistant: yo", "user: bye", "user: A-user"},
	}, {
		name: "openai to anthropic",
		cfg:  full, api: "openai",
		body: `{"model":"claude","messages":[{"role":"system","content":"C-sys"},{"role":"user","content":"hi"}]}`,
		want: []string{"system=: P-sys1 + P-sys2 + C-sys + A-sys", "user: P-user", "user: hi", "user: A-user"},
	}, {
		name: "anthropic to anthropic, string system prompt",
		cfg:  full, api: "anthropic",
		body: `{"model":"claude","max_tokens":100,"system":"C-sys","messages":[{"role":"user","content":"hi"}]}`,
		// A system prompt given as a string becomes blocks around it.
		want: []string{"system=: P-sys1 + P-sys2 + C-sys + A-sys", "user: P-user", "user: hi", "user: A-user"},
	}, {
		name: "anthropic to anthropic, block system prompt",
		cfg:  `{"prepend":[{"role":"system","content":"P-sys"}]}`, api: "anthropic",
		body: `{"model":"claude","max_tokens":100,"system":[{"type":"text","text":"C1"},{"type":"text","text":"C2"}],"messages":[{"role":"user","content":"hi"}]}`,
		want: []string{"system=: P-sys + C1 + C2", "user: hi"},
	}, {
		name: "anthropic to anthropic, no system prompt",
		cfg:  `{"append":[{"role":"system","content":"A-sys"}]}`, api: "anthropic",
		body: `{"model":"claude","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
		want: []string{"system=: A-sys", "user: hi"},
	}, {
		name: "anthropic to openai",
		cfg:  full, api: "anthropic",
		body: `{"model":"gpt","max_tokens":100,"system":"C-sys","messages":[{"role":"user","content":"hi"}]}`,
		want: []string{"system: P-sys1 + P-sys2 + C-sys + A-sys", "user: P-user", "user: hi", "user: A-user"},
	}, {
		name: "multi-part client message kept",
		cfg:  `{"append":[{"role":"user","content":"A-user"}]}`, api: "openai",
		body: `{"model":"gpt","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://example.org/a.png"}}]}]}`,
		want: []string{"user: look + [image_url]", "user: A-user"},
	}, {
		name: "stream",
		cfg:  `{"prepend":[{"role":"system","content":"P-sys"}]}`, api: "openai",
		body: `{"model":"gpt","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		want: []string{"system: P-sys", "user: hi"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := aiplugintest.NewLLM(t)
			var counts aiplugintest.Decisions
			res, up := l.Serve(t, []plugin.Use{plugintest.Use(t, aipromptdecorator.Kind, aiplugintest.Env(&counts), tt.cfg)}, "POST", aiplugintest.PathOf(tt.api), tt.body)
			if res.Code != 200 || up == nil {
				t.Fatalf("got %d (err %v, body %s); want 200 from the provider", res.Code, res.Err, res.Body)
			}
			if d := cmp.Diff(tt.want, aiplugintest.Conversation(t, up)); d != "" {
				t.Errorf("upstream conversation (-want +got):\n%s\nbody %s", d, up)
			}
			if counts.Get("decorated") != 1 {
				t.Errorf("decisions %v; want decorated once", counts.String())
			}
		})
	}
}

// TestGuardSeesClientText: the guard (authz) runs before the decorator
// (transform) whatever the route's list order, so it judges what the client
// sent and not the decoration.
func TestGuardSeesClientText(t *testing.T) {
	t.Parallel()
	l := aiplugintest.NewLLM(t)
	e := aiplugintest.Env(&aiplugintest.Decisions{})
	uses := []plugin.Use{
		plugintest.Use(t, aipromptdecorator.Kind, e, `{"prepend":[{"role":"user","content":"You may discuss the forbidden topic."}]}`),
		plugintest.Use(t, aipromptguard.Kind, e, `{"deny_patterns":["forbidden"]}`),
	}
	res, up := l.Serve(t, uses, "POST", "/v1/chat/completions", `{"model":"gpt","messages":[{"role":"user","content":"hi"}]}`)
	if res.Code != 200 || up == nil {
		t.Fatalf("got %d (err %v); want 200 from the provider", res.Code, res.Err)
	}
	want := []string{"user: You may discuss the forbidden topic.", "user: hi"}
	if d := cmp.Diff(want, aiplugintest.Conversation(t, up)); d != "" {
		t.Errorf("upstream conversation (-want +got):\n%s", d)
	}
	res, up = l.Serve(t, uses, "POST", "/v1/chat/completions", `{"model":"gpt","messages":[{"role":"user","content":"the forbidden topic"}]}`)
	var pe *plugin.Error
	if !errors.As(res.Err, &pe) || pe.Code != "prompt_rejected" || up != nil {
		t.Errorf("got %d, error %v, upstream %t; want prompt_rejected before the provider", res.Code, res.Err, up != nil)
	}
}

func TestOtherRequests(t *testing.T) {
	t.Parallel()
	const cfg = `{"prepend":[{"role":"system","content":"P-sys"}]}`
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string // of the *plugin.Error, "" for none
		upstream                 string // the body the provider got, "" for none
		decision                 string
	}{
		{"models", "GET", "/v1/models", "", 200, "", "", "skipped"},
		{"embeddings untouched", "POST", "/v1/embeddings", `{"model":"gpt","input":"hi"}`, 200, "", `{"model":"gpt-up","input":"hi"}`, "skipped"},
		{"not JSON", "POST", "/v1/chat/completions", `{"model":`, 400, "invalid_request", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := aiplugintest.NewLLM(t)
			var counts aiplugintest.Decisions
			res, up := l.Serve(t, []plugin.Use{plugintest.Use(t, aipromptdecorator.Kind, aiplugintest.Env(&counts), cfg)}, tt.method, tt.path, tt.body)
			var pe *plugin.Error
			errors.As(res.Err, &pe)
			code := ""
			if pe != nil {
				code = pe.Code
			}
			if res.Code != tt.status || code != tt.code || string(up) != tt.upstream {
				t.Errorf("got %d, error %v, upstream %s; want %d, code %q, upstream %s", res.Code, res.Err, up, tt.status, tt.code, tt.upstream)
			}
			if tt.decision != "" && counts.Get(tt.decision) != 1 {
				t.Errorf("decisions %v; want %s once", counts.String(), tt.decision)
			}
		})
	}
}

// TestNoAI: a global decorator also sits on the not-found chain, where
// there is no AI state; it passes the request on.
func TestNoAI(t *testing.T) {
	t.Parallel()
	h := plugintest.Build(t, aipromptdecorator.Kind, plugin.Env{}, `{"append":[{"role":"user","content":"x"}]}`, nil)
	res := plugintest.Serve(h, httptest.NewRequest("POST", "/nowhere", strings.NewReader(`{}`)))
	if res.Code != 200 || res.Body.String() != "ok" {
		t.Errorf("got %d %s; want the next handler's 200 ok", res.Code, res.Body)
	}
}
