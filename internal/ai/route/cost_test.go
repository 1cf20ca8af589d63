package route_test

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/ai/price"
	"github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/plugin"
)

// TestCost: the route prices the provider's usage with the provider's
// overrides first, then the default table, and says when it cannot.
func TestCost(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":200}}}`)
	}))
	defer up.Close()
	p := oaiProvider("openai", up.URL)
	p.Prices = map[string]price.Price{"gpt-x": {Input: 1, Output: 2, CachedInput: 0.5}}
	h, err := route.New(route.Config{Providers: []route.Provider{p, {Name: "local", Type: route.TypeMock}}, Models: []route.Model{
		{Name: "priced", Targets: []route.Target{{Provider: "openai", Model: "gpt-x"}}},
		{Name: "default", Targets: []route.Target{{Provider: "openai", Model: "gpt-4o-mini-2024-07-18"}}},
		{Name: "unpriced", Targets: []route.Target{{Provider: "openai", Model: "my-finetune"}}},
		{Name: "mock", Targets: []route.Target{{Provider: "local", Model: "m"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	def, _ := price.Lookup("gpt-4o-mini")
	tests := []struct {
		model string
		want  float64
		known bool
	}{
		{"priced", (800*1 + 200*0.5 + 500*2) / 1e6, true},
		{"default", (800*def.Input + 200*def.CachedInput + 500*def.Output) / 1e6, true},
		{"unpriced", 0, false},
		{"mock", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			x := &plugin.Exchange{}
			r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"`+tt.model+`","messages":[{"role":"user","content":"x"}]}`))
			r = r.WithContext(plugin.WithExchange(r.Context(), x))
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r); err != nil || w.Code != 200 {
				t.Fatalf("status %d, err %v: %s", w.Code, err, w.Body)
			}
			if a := x.AI; a.CostKnown != tt.known || math.Abs(a.CostUSD-tt.want) > 1e-12 {
				t.Errorf("cost = %v (known %v); want %v (known %v)", a.CostUSD, a.CostKnown, tt.want, tt.known)
			}
		})
	}
}
