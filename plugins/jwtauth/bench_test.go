package jwtauth

import (
	"net/http/httptest"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/oidctest"
)

// benchmark measures one request through jwt-auth alone (no gate): finding
// the token, verifying it and identifying the consumer.
func benchmark(b *testing.B, cred, token string) {
	env := plugintest.Env(b, Kind, "r",
		plugintest.Consumer{Name: "other", Credentials: map[string]string{Name: `{"key":"other","secret":"` + secretA + `x"}`}},
		plugintest.Consumer{Name: "agent", Credentials: map[string]string{Name: cred}},
	)
	clk := &clock{t: t0}
	h := use(b, env, `{"hide_credentials":false}`, clk.Now, nil).MW(plugintest.OK)
	r := httptest.NewRequest("GET", "/v1/chat/completions", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	x := &plugin.Exchange{}
	r = r.WithContext(plugin.WithExchange(r.Context(), x))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		*x = plugin.Exchange{}
		_ = h.ServeHTTP(w, r)
		if x.Consumer != "agent" {
			b.Fatalf("not identified")
		}
	}
}

func BenchmarkJWTAuthHS256(b *testing.B) {
	c := claims("agent", "sub", "agent-42", "aud", "api")
	benchmark(b, `{"key":"agent","secret":"`+secretA+`"}`, hs("HS256", secretA, c))
}

func BenchmarkJWTAuthRS256(b *testing.B) {
	p := oidctest.New(b)
	k := p.SigningKey()
	c := claims("agent", "sub", "agent-42", "aud", "api")
	benchmark(b, `{"key":"agent","algorithm":"RS256","public_key":`+jsonString(pemOf(b, k.Public()))+`}`, p.MintWith(k, nil, c))
}
