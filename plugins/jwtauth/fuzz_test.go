package jwtauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// FuzzCredential decodes arbitrary credential entries: never a panic, and
// never the secret in an error. Seeds are in testdata/fuzz/FuzzCredential.
func FuzzCredential(f *testing.F) {
	f.Add(`{"key":"a","secret":"` + secretA + `"}`)
	f.Add(`{"key":"a","secret":"c2VjcmV0","base64_secret":true,"algorithm":"HS512"}`)
	f.Add(`{"key":"a","public_key":"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----","algorithm":"RS256"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := Kind.Credential.Decode(json.RawMessage(raw))
		c, ok := v.(*Credential)
		if !ok {
			t.Fatalf("Decode returned %T", v)
		}
		if err != nil {
			if s := c.Secret.Reveal(); len(s) >= 4 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q quotes the secret", err)
			}
			return
		}
		// A valid credential always builds.
		env := plugin.Env{Credentials: []plugin.Credential{{Consumer: &plugin.Consumer{Name: "c"}, Value: c}}}
		if _, err := New(env, defaults()); err != nil {
			t.Fatalf("valid credential %s does not build: %v", raw, err)
		}
	})
}

// FuzzToken sends arbitrary Authorization values through jwt-auth with one
// HS256 consumer. Only a token that golang-jwt confirms was signed with the
// consumer's secret may identify the caller. Seeds are in
// testdata/fuzz/FuzzToken.
func FuzzToken(f *testing.F) {
	f.Add("Bearer " + hs("HS256", secretA, claims("agent-a")))
	f.Add("Bearer " + hs("HS256", secretA, claims("agent-b")))
	f.Add("bearer a.b.c")
	env := plugintest.Env(f, Kind, "r", plugintest.Consumer{Name: "agent-a", Credentials: map[string]string{Name: `{"key":"agent-a","secret":"` + secretA + `"}`}})
	clk := &clock{t: t0}
	h := plugintest.Route(plugin.AuthnPolicy{}, nil, use(f, env, `{}`, clk.Now, nil))
	f.Fuzz(func(t *testing.T, authz string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{authz}
		res := plugintest.Serve(h, r)
		switch res.Code {
		case http.StatusUnauthorized:
			return
		case http.StatusOK:
		default:
			t.Fatalf("status %d for %q", res.Code, authz)
		}
		tok := strings.TrimSpace(authz)
		if i := strings.IndexByte(tok, ' '); i >= 0 {
			tok = strings.TrimSpace(tok[i+1:])
		}
		_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(secretA), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
		if err != nil || res.X.Consumer != "agent-a" {
			t.Fatalf("%q identified %q, but golang-jwt says: %v", authz, res.X.Consumer, err)
		}
	})
}
