package route_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	antopt "github.com/anthropics/anthropic-sdk-go/option"
	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"

	"github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/plugin"
)

// front is an httptest server running a route.Handler as the gateway
// would: an Exchange in the context, errors rendered only when nothing was
// written.
type front struct {
	*httptest.Server
	results chan route.Result
}

func newFront(t *testing.T, cfg route.Config) *front {
	t.Helper()
	f := &front{results: make(chan route.Result, 64)}
	cfg.OnDone = func(_ *http.Request, res route.Result) { f.results <- res }
	h, err := route.New(cfg)
	if err != nil {
		t.Fatalf("route.New: %v", err)
	}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &plugin.Exchange{RequestID: "req-test", Route: "llm", Start: time.Now()}
		r = r.WithContext(plugin.WithExchange(r.Context(), x))
		_ = h.ServeHTTP(w, r) // every outcome is written by the handler
	}))
	t.Cleanup(f.Close)
	return f
}

// result waits for the Result of the next finished request.
func (f *front) result(t *testing.T) route.Result {
	t.Helper()
	select {
	case r := <-f.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no Result reported")
		return route.Result{}
	}
}

func (f *front) openai() *oaisdk.Client {
	c := oaisdk.NewClient(oaiopt.WithBaseURL(f.URL+"/v1"), oaiopt.WithAPIKey("client-secret-key"), oaiopt.WithMaxRetries(0))
	return &c
}

func (f *front) anthropic() *antsdk.Client {
	c := antsdk.NewClient(antopt.WithBaseURL(f.URL), antopt.WithAPIKey("client-secret-key"), antopt.WithMaxRetries(0))
	return &c
}

// one returns a config with one model "smart" over the given targets.
func one(providers []route.Provider, targets ...route.Target) route.Config {
	return route.Config{Providers: providers, Models: []route.Model{{Name: "smart", Targets: targets}}}
}

func oaiProvider(name, url string, keys ...string) route.Provider {
	if len(keys) == 0 {
		keys = []string{"sk-" + name}
	}
	return route.Provider{Name: name, Type: route.TypeOpenAI, BaseURL: url + "/v1", APIKeys: keys}
}

func antProvider(name, url string, keys ...string) route.Provider {
	if len(keys) == 0 {
		keys = []string{"sk-ant-" + name}
	}
	return route.Provider{Name: name, Type: route.TypeAnthropic, BaseURL: url, APIKeys: keys}
}
