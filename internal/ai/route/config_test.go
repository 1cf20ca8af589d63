package route

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/plugin"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	cfg := Config{
		Providers: []Provider{
			{Name: "openai", Type: TypeOpenAI, APIKeys: []string{""}},
			{Name: "openai", Type: "bedrock"},
			{Name: "azure", Type: TypeAzureOpenAI, APIKeys: []string{"k"}},
			{Name: "local", Type: TypeOpenAICompatible, BaseURL: "htp://x"},
		},
		Models: []Model{
			{Name: "smart", Strategy: "random", Targets: []Target{{Provider: "nope", Model: "m"}, {Provider: "openai", Weight: -1}}},
			{Name: "smart"},
		},
		Retry: Retry{On: []string{"429", "later", "200"}},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	want := []string{
		"providers[openai].api_keys[0]: empty (is its environment variable set?)",
		"providers[openai].name: defined twice",
		`providers[openai].type: unknown type "bedrock" (want openai, azure-openai, anthropic, gemini, deepseek, openai-compatible or mock)`,
		"providers[openai].api_keys: at least one key is required for type bedrock",
		"providers[azure].base_url: required for type azure-openai",
		`providers[local].base_url: "htp://x" is not an http or https URL`,
		`models[smart].strategy: unknown strategy "random" (want fallback, weighted or least_latency)`,
		`models[smart].targets[0].provider: provider "nope" is not defined`,
		`models[smart].targets[1].model: required (only targets of model "*" may pass the client's name through)`,
		"models[smart].targets[1].weight: must not be negative",
		"models[smart].name: defined twice",
		"models[smart].targets: at least one target is required",
		`retry.on[1]: "later" is not an HTTP status (400-599), "timeout" or "connect_failure"`,
		`retry.on[2]: "200" is not an HTTP status (400-599), "timeout" or "connect_failure"`,
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Validate() problems (-want +got):\n%s", diff)
	}
	if _, err := New(cfg); err == nil {
		t.Error("New accepted an invalid config")
	}
	ok := Config{Providers: []Provider{{Name: "mock", Type: TypeMock}}, Models: []Model{{Name: "*", Targets: []Target{{Provider: "mock"}}}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(mock) = %v", err)
	}
}

func TestProviderAddressing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p      Provider
		op     operation
		url    string
		header http.Header
	}{
		{Provider{Type: TypeOpenAI}, opChat, "https://api.openai.com/v1/chat/completions", http.Header{"Authorization": {"Bearer k"}}},
		{Provider{Type: TypeDeepSeek}, opChat, "https://api.deepseek.com/v1/chat/completions", http.Header{"Authorization": {"Bearer k"}}},
		{Provider{Type: TypeGemini}, opEmbeddings, "https://generativelanguage.googleapis.com/v1beta/openai/embeddings", http.Header{"Authorization": {"Bearer k"}}},
		{Provider{Type: TypeAnthropic, Headers: map[string]string{"anthropic-beta": "x"}}, opChat, "https://api.anthropic.com/v1/messages",
			http.Header{"X-Api-Key": {"k"}, "Anthropic-Version": {DefaultAnthropicVersion}, "Anthropic-Beta": {"x"}}},
		{Provider{Type: TypeAnthropic, BaseURL: "http://h/v1", AnthropicVersion: "2024-01-01"}, opChat, "http://h/v1/messages",
			http.Header{"X-Api-Key": {"k"}, "Anthropic-Version": {"2024-01-01"}}},
		{Provider{Type: TypeAzureOpenAI, BaseURL: "https://r.openai.azure.com/"}, opChat,
			"https://r.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=" + DefaultAzureAPIVersion, http.Header{"Api-Key": {"k"}}},
		{Provider{Type: TypeAzureOpenAI, BaseURL: "https://r.openai.azure.com", Azure: Azure{Deployment: "prod", APIVersion: "2025-01-01"}}, opEmbeddings,
			"https://r.openai.azure.com/openai/deployments/prod/embeddings?api-version=2025-01-01", http.Header{"Api-Key": {"k"}}},
	}
	for _, tt := range tests {
		tt.p.APIKeys = []string{"k"}
		p := newProvider(tt.p, http.DefaultTransport)
		if got := p.url(tt.op, "gpt-4o"); got != tt.url {
			t.Errorf("%s url = %s; want %s", tt.p.Type, got, tt.url)
		}
		h := http.Header{}
		k, _, _ := p.pickKey(time.Now())
		p.authorize(h, k)
		if diff := cmp.Diff(tt.header, h); diff != "" {
			t.Errorf("%s headers (-want +got):\n%s", tt.p.Type, diff)
		}
	}
}

func TestStrategies(t *testing.T) {
	t.Parallel()
	a, b, c := &target{model: "a", weight: 1}, &target{model: "b", weight: 1000000}, &target{model: "c", weight: 1}
	m := &modelRoute{strategy: StrategyWeighted, targets: []*target{a, b, c}}
	if got := m.order(time.Now()); got[0] != b || len(got) != 3 {
		t.Errorf("weighted order starts with %s; want b", got[0].model)
	}
	m.strategy = StrategyLeastLatency
	a.succeeded(3 * time.Second)
	b.succeeded(time.Second)
	if got := m.order(time.Now()); got[0] != c || got[1] != b || got[2] != a {
		t.Errorf("least_latency order = %s %s %s; want c (unmeasured) b a", got[0].model, got[1].model, got[2].model)
	}
	now := time.Now()
	b.failed(now, 1, time.Minute)
	if got := m.order(now); len(got) != 2 || got[0] != c || got[1] != a {
		t.Errorf("with b ejected: %d targets", len(got))
	}
	for _, tg := range m.targets {
		tg.failed(now, 1, time.Minute)
	}
	if got := m.order(now); len(got) != 3 {
		t.Errorf("all ejected: %d targets; want all 3 tried", len(got))
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second, true},
		{http.Header{"Retry-After": {now.Add(5 * time.Second).Format(http.TimeFormat)}}, 5 * time.Second, true},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond, true},
		{http.Header{"X-Ms-Retry-After-Ms": {"1500"}}, 1500 * time.Millisecond, true},
		{http.Header{"Retry-After": {"soon"}}, 0, false},
		{http.Header{}, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%v) = %v, %v; want %v, %v", tt.h, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`, 0)
	f.Add(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, 1)
	f.Add(`{"model":"m","input":["a","b"]}`, 2)
	f.Add(`{"model":"m","n":2,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"tool","content":"x"}]}`, 0)
	f.Add(`{"model":"m","instructions":"i","input":[{"role":"user","content":[{"type":"input_text","text":"t"}]},{"type":"function_call_output","call_id":"c","output":"o"}]}`, 3)
	f.Add(`{"model":"m","system":[{"type":"text","text":"s"}],"max_tokens":9,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}`, 1)
	f.Fuzz(func(t *testing.T, body string, which int) {
		api, op := APIOpenAI, opChat
		switch which & 3 {
		case 1:
			api = APIAnthropic
		case 2:
			op = opEmbeddings
		case 3:
			op = opResponses
		}
		q, perr := decodeRequest(api, op, []byte(body))
		if (q == nil) == (perr == nil) {
			t.Fatalf("decodeRequest = %v, %v; want exactly one", q, perr)
		}
		if q == nil {
			return
		}
		if q.model == "" {
			t.Fatal("a valid request without a model")
		}
		// The plugin view never fails on a request that decoded, and what
		// it leaves behind still decodes as the same API.
		_ = q.Messages()
		_ = q.Prepend(plugin.AIMessage{Role: "system", Text: "p"}, plugin.AIMessage{Role: "user", Text: "u"})
		_ = q.Append(plugin.AIMessage{Role: "assistant", Text: "a"})
		q.SetMaxTokens(q.MaxTokens() + 1)
		_ = q.Messages()
		if _, perr := decodeRequest(api, op, q.Canonical()); perr != nil && op != opEmbeddings {
			t.Fatalf("the changed request no longer decodes: %v\n%s", perr.msg, q.Canonical())
		}
		for _, w := range []wire{wireOpenAI, wireAnthropic} {
			if (op == opEmbeddings || op == opResponses) && w == wireAnthropic {
				continue
			}
			f, err := q.upstream(w)
			if err != nil {
				continue
			}
			if _, err := f.body("target-model"); err != nil {
				t.Fatalf("encoding the %d form: %v", w, err)
			}
		}
	})
}
