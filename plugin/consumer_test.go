package plugin_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// fakeAuthn identifies the caller from header h: "good:NAME" identifies
// NAME, any other value is a wrong credential, no header is no credential.
func fakeAuthn(h string) plugin.Use {
	mw := func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			x := plugin.ExchangeOf(r)
			if x.Authenticated() {
				return next.ServeHTTP(w, r)
			}
			v := r.Header.Get(h)
			switch {
			case v == "":
				x.Challenge(h + ` realm="t"`)
			case len(v) > 5 && v[:5] == "good:":
				x.Identify(&plugin.Consumer{Name: v[5:]}, h)
			default:
				x.AuthnFailed(h+` realm="t", error="invalid_token"`, errors.New(h+" wrong"))
			}
			return next.ServeHTTP(w, r)
		})
	}
	return plugin.Use{Kind: plugin.Kind{Name: h, Phase: plugin.Authn}, MW: mw}
}

func TestAuthnGate(t *testing.T) {
	t.Parallel()
	anon := &plugin.Consumer{Name: "guest"}
	tests := []struct {
		name     string
		policy   plugin.AuthnPolicy
		a, b     string // header values for plugins A and B
		status   int
		consumer string
		by       string
		www      []string
	}{
		{"any: first succeeds", plugin.AuthnPolicy{}, "good:x", "", 200, "x", "A", nil},
		{"any: second succeeds", plugin.AuthnPolicy{}, "", "good:y", 200, "y", "B", nil},
		{"any: wrong then good", plugin.AuthnPolicy{}, "bad", "good:y", 200, "y", "B", nil},
		{"any: none", plugin.AuthnPolicy{}, "", "", 401, "", "", []string{`A realm="t"`, `B realm="t"`}},
		{"any: wrong", plugin.AuthnPolicy{}, "bad", "", 401, "", "", []string{`A realm="t", error="invalid_token"`, `B realm="t"`}},
		{"anonymous: none", plugin.AuthnPolicy{Anonymous: anon}, "", "", 200, "guest", "anonymous", nil},
		{"anonymous: wrong is still refused", plugin.AuthnPolicy{Anonymous: anon}, "bad", "", 401, "", "", []string{`A realm="t", error="invalid_token"`, `B realm="t"`}},
		{"all: both", plugin.AuthnPolicy{All: true}, "good:x", "good:x", 200, "x", "B", nil},
		{"all: one missing", plugin.AuthnPolicy{All: true}, "good:x", "", 401, "", "", []string{`B realm="t"`}},
		{"all: disagree", plugin.AuthnPolicy{All: true}, "good:x", "good:y", 401, "", "", []string{`Bearer realm="sluice"`}},
		{"all: anonymous when nothing presented", plugin.AuthnPolicy{All: true, Anonymous: anon}, "", "", 200, "guest", "anonymous", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := plugintest.Route(tt.policy, nil, fakeAuthn("A"), fakeAuthn("B"))
			r := httptest.NewRequest("GET", "/", nil)
			if tt.a != "" {
				r.Header.Set("A", tt.a)
			}
			if tt.b != "" {
				r.Header.Set("B", tt.b)
			}
			res := plugintest.Serve(h, r)
			if res.Code != tt.status || res.X.Consumer != tt.consumer || res.X.AuthnBy != tt.by {
				t.Fatalf("got %d consumer %q by %q; want %d %q %q (err %v)", res.Code, res.X.Consumer, res.X.AuthnBy, tt.status, tt.consumer, tt.by, res.Err)
			}
			if got := res.Header().Values("WWW-Authenticate"); tt.status == 401 && !equal(got, tt.www) {
				t.Errorf("WWW-Authenticate = %q; want %q", got, tt.www)
			}
			if tt.status == 401 && res.Body.String() != `{"error":"unauthorized","message":"missing or invalid credentials"}` {
				t.Errorf("body = %s", res.Body)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMakeChallenge(t *testing.T) {
	got := plugin.MakeChallenge("Bearer", "realm", "sluice", "error", `in"valid`)
	if want := `Bearer realm="sluice", error="in\"valid"`; got != want {
		t.Errorf("MakeChallenge = %s; want %s", got, want)
	}
}
