package aipromptguard_test

import (
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
