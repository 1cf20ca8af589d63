package aipromptdecorator_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sluicegw/sluice/internal/ai/aitest"
	"github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// llm is a real ai route terminal in front of a fake OpenAI (model "gpt")
// and a fake Anthropic (model "claude"), which record what reaches them.
type llm struct {
	h   *route.Handler
	oai *aitest.OpenAI
	ant *aitest.Anthropic
}

func newLLM(t *testing.T) *llm {
	t.Helper()
	l := &llm{oai: aitest.NewOpenAI(t), ant: aitest.NewAnthropic(t)}
	h, err := route.New(route.Config{
		Providers: []route.Provider{
			{Name: "oai", Type: route.TypeOpenAI, BaseURL: l.oai.URL() + "/v1", APIKeys: []string{"sk-oai"}},
			{Name: "ant", Type: route.TypeAnthropic, BaseURL: l.ant.URL(), APIKeys: []string{"sk-ant"}},
		},
		Models: []route.Model{
			{Name: "gpt", Targets: []route.Target{{Provider: "oai", Model: "gpt-up"}}},
			{Name: "claude", Targets: []route.Target{{Provider: "ant", Model: "claude-up"}}},
		},
	})
	if err != nil {
		t.Fatalf("route.New: %v", err)
	}
	l.h = h
	return l
}

// serve sends one request through uses and the route, chained as the
// gateway chains an ai route: Wrap outermost, so Exchange.AI exists when
// the plugins run. It returns the result and the body that reached a
// provider, nil when none did.
func (l *llm) serve(t *testing.T, uses []plugin.Use, method, path, body string) (plugintest.Result, []byte) {
	t.Helper()
	before := len(l.oai.Requests()) + len(l.ant.Requests())
	h := l.h.Wrap(plugin.Chain(uses, l.h))
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if strings.HasSuffix(path, "/messages") {
		r.Header.Set("Anthropic-Version", "2023-06-01")
	}
	res := plugintest.Serve(h, r)
	reqs := append(l.oai.Requests(), l.ant.Requests()...)
	switch len(reqs) - before {
	case 0:
		return res, nil
	case 1:
		return res, reqs[len(reqs)-1].Body
	}
	t.Fatalf("%d upstream requests; want at most 1", len(reqs)-before)
	return res, nil
}

// env is the Env of an ai route named "llm", counting decisions.
func env(counts *decisions) plugin.Env {
	return plugin.Env{Route: "llm", AIRoute: true, Decisions: counts.counter}
}

// decisions counts a plugin's decisions by name.
type decisions struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *decisions) counter(name string) plugin.Counter { return counter{d, name} }

func (d *decisions) get(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[name]
}

type counter struct {
	d    *decisions
	name string
}

func (c counter) Inc() {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if c.d.n == nil {
		c.d.n = map[string]int{}
	}
	c.d.n[c.name]++
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// pathOf is the ingress path of api.
func pathOf(api string) string {
	if api == route.APIAnthropic {
		return "/v1/messages"
	}
	return "/v1/chat/completions"
}

// upstreamBody is the part of a provider request body the tests look at,
// in either wire format.
type upstreamBody struct {
	System   json.RawMessage `json:"system"` // Anthropic
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	MaxTokens           *int64 `json:"max_tokens"`
	MaxCompletionTokens *int64 `json:"max_completion_tokens"`
}

func decodeUpstream(t *testing.T, b []byte) upstreamBody {
	t.Helper()
	var u upstreamBody
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatalf("upstream body %s: %v", b, err)
	}
	return u
}

// conversation renders an upstream body's messages one per line as
// "role: text", the Anthropic system prompt first as "system=: text";
// content blocks are joined by " + ", non-text blocks shown as [type].
func conversation(t *testing.T, b []byte) []string {
	t.Helper()
	u := decodeUpstream(t, b)
	var out []string
	if len(u.System) > 0 {
		out = append(out, "system=: "+flatten(t, u.System))
	}
	for _, m := range u.Messages {
		out = append(out, m.Role+": "+flatten(t, m.Content))
	}
	return out
}

func flatten(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		t.Fatalf("content %s: %v", raw, err)
	}
	var out []string
	for _, p := range parts {
		if p.Type == "text" {
			out = append(out, p.Text)
		} else {
			out = append(out, fmt.Sprintf("[%s]", p.Type))
		}
	}
	return strings.Join(out, " + ")
}
