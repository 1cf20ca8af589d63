// Package aiplugintest runs the AI plugins' tests against a real ai route:
// the route's terminal handler in front of fake OpenAI and Anthropic
// providers (internal/ai/aitest) that record what reaches them, chained as
// the gateway chains an ai route. Only tests import it.
package aiplugintest

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

// LLM is a real ai route terminal in front of a fake OpenAI (model "gpt")
// and a fake Anthropic (model "claude"), which record what reaches them.
type LLM struct {
	H         *route.Handler
	OpenAI    *aitest.OpenAI
	Anthropic *aitest.Anthropic
}

// NewLLM builds it; the fakes stop when the test ends.
func NewLLM(t *testing.T) *LLM {
	t.Helper()
	l := &LLM{OpenAI: aitest.NewOpenAI(t), Anthropic: aitest.NewAnthropic(t)}
	h, err := route.New(route.Config{
		Providers: []route.Provider{
			{Name: "oai", Type: route.TypeOpenAI, BaseURL: l.OpenAI.URL() + "/v1", APIKeys: []string{"sk-oai"}},
			{Name: "ant", Type: route.TypeAnthropic, BaseURL: l.Anthropic.URL(), APIKeys: []string{"sk-ant"}},
		},
		Models: []route.Model{
			{Name: "gpt", Targets: []route.Target{{Provider: "oai", Model: "gpt-up"}}},
			{Name: "claude", Targets: []route.Target{{Provider: "ant", Model: "claude-up"}}},
		},
	})
	if err != nil {
		t.Fatalf("route.New: %v", err)
	}
	l.H = h
	return l
}

// Serve sends one request through uses and the route, chained as the
// gateway chains an ai route: Wrap outermost, so Exchange.AI exists when
// the plugins run. It returns the result and the body that reached a
// provider, nil when none did.
func (l *LLM) Serve(t *testing.T, uses []plugin.Use, method, path, body string) (plugintest.Result, []byte) {
	t.Helper()
	before := len(l.OpenAI.Requests()) + len(l.Anthropic.Requests())
	h := l.H.Wrap(plugin.Chain(uses, l.H))
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if strings.HasSuffix(path, "/messages") {
		r.Header.Set("Anthropic-Version", "2023-06-01")
	}
	res := plugintest.Serve(h, r)
	reqs := append(l.OpenAI.Requests(), l.Anthropic.Requests()...)
	switch len(reqs) - before {
	case 0:
		return res, nil
	case 1:
		return res, reqs[len(reqs)-1].Body
	}
	t.Fatalf("%d upstream requests; want at most 1", len(reqs)-before)
	return res, nil
}

// Env is the Env of an ai route named "llm", counting decisions.
func Env(counts *Decisions) plugin.Env {
	return plugin.Env{Route: "llm", AIRoute: true, Decisions: counts.Counter}
}

// Decisions counts a plugin's decisions by name.
type Decisions struct {
	mu sync.Mutex
	n  map[string]int
}

// Counter is the counter of one decision, for plugin.Env.Decisions.
func (d *Decisions) Counter(name string) plugin.Counter { return counter{d, name} }

// Get returns how often decision name was counted.
func (d *Decisions) Get(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[name]
}

// Total returns how many decisions were counted, of any name.
func (d *Decisions) Total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, v := range d.n {
		n += v
	}
	return n
}

// String lists the counts, for failure messages.
func (d *Decisions) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprint(d.n)
}

type counter struct {
	d    *Decisions
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

// ErrString is err's text, "" for nil.
func ErrString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// PathOf is the ingress path of api.
func PathOf(api string) string {
	if api == route.APIAnthropic {
		return "/v1/messages"
	}
	return "/v1/chat/completions"
}

// UpstreamBody is the part of a provider request body the tests look at,
// in either wire format.
type UpstreamBody struct {
	System   json.RawMessage `json:"system"` // Anthropic
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	MaxTokens           *int64 `json:"max_tokens"`
	MaxCompletionTokens *int64 `json:"max_completion_tokens"`
}

// DecodeUpstream decodes a provider request body.
func DecodeUpstream(t *testing.T, b []byte) UpstreamBody {
	t.Helper()
	var u UpstreamBody
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatalf("upstream body %s: %v", b, err)
	}
	return u
}

// Conversation renders an upstream body's messages one per line as
// "role: text", the Anthropic system prompt first as "system=: text";
// content blocks are joined by " + ", non-text blocks shown as [type].
func Conversation(t *testing.T, b []byte) []string {
	t.Helper()
	u := DecodeUpstream(t, b)
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
