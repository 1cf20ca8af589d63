package aibudget

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"

	"github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/limit"
)

// front serves an ai route with the mock provider behind uses, as the
// gateway does: the chain wrapped by the route's Wrap, the caller
// identified as c, and a plugin's error written by the route's WriteError
// (in the client's API shape) when nothing was written.
func front(t *testing.T, c *plugin.Consumer, uses ...plugin.Use) *httptest.Server {
	t.Helper()
	h, err := route.New(route.Config{
		Providers: []route.Provider{{Name: "local", Type: route.TypeMock}},
		Models:    []route.Model{{Name: "*", Targets: []route.Target{{Provider: "local"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	chain := h.Wrap(plugin.Chain(uses, h))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &plugin.Exchange{RequestID: "req-test", Route: "llm", Start: time.Now()}
		x.Identify(c, "test")
		r = r.WithContext(plugin.WithExchange(r.Context(), x))
		tw := &trackingWriter{ResponseWriter: w}
		var pe *plugin.Error
		if err := chain.ServeHTTP(tw, r); errors.As(err, &pe) && !tw.wrote {
			h.WriteError(tw, r, pe, x.RequestID)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// trackingWriter notes whether anything was written, as the gateway's
// recorder does.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *trackingWriter) Flush() {
	w.wrote = true
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pricing stands in for the route's price table: it prices every token at
// $1 per thousand once the route's handler has returned.
var pricing = plugin.Use{Kind: plugin.Kind{Name: "test-pricing", Phase: plugin.Transform}, MW: func(next plugin.Handler) plugin.Handler {
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		err := next.ServeHTTP(w, r)
		if a := plugin.ExchangeOf(r).AI; a.UsageKnown {
			a.CostUSD, a.CostKnown = float64(a.Usage.Total())/1000, true
		}
		return err
	})
}}

// TestThroughRoute runs ai-budget in front of the real ai route and its
// mock provider, with the official OpenAI SDK as the client.
func TestThroughRoute(t *testing.T) {
	t.Parallel()
	_, o := fresh(time.Now())
	hs := aiEnv(t, "llm")
	srv := front(t, alice, plugintest.Use(t, kindWith(o), hs.Env, `{"usd":0.03}`), pricing)
	oai := oaisdk.NewClient(oaiopt.WithBaseURL(srv.URL+"/v1"), oaiopt.WithAPIKey("k"), oaiopt.WithMaxRetries(0))
	params := oaisdk.ChatCompletionNewParams{Model: "demo", Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("hello there")}}
	ctx := context.Background()
	// The mock provider reports 3 + 9 tokens: 1.2 cents a request. The
	// third starts at 2.4 cents, below the limit.
	for i := range 3 {
		if _, err := oai.Chat.Completions.New(ctx, params); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := oai.Chat.Completions.New(ctx, params)
	var apiErr *oaisdk.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("fourth request: error %v; want an *openai.Error", err)
	}
	if apiErr.StatusCode != 429 || apiErr.Type != "rate_limit_error" || apiErr.Code != "budget_exceeded" ||
		apiErr.Message != "the spending limit for this period is reached" {
		t.Errorf("fourth request: %d type %q code %q message %q; want 429 rate_limit_error budget_exceeded",
			apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Message)
	}
	now := time.Now().UTC()
	end := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	ra, _ := strconv.ParseInt(apiErr.Response.Header.Get("Retry-After"), 10, 64)
	// The plugin read the clock a little earlier and rounds up: +1 at most.
	if want := limit.Seconds(end.Sub(now)); ra < want-60 || ra > want+1 {
		t.Errorf("Retry-After = %d; want about %d (the month's end)", ra, want)
	}
	if got := hs.Counts(); got["allowed"] != 3 || got["rejected"] != 1 {
		t.Errorf("decisions = %v; want 3 allowed, 1 rejected", got)
	}
}
