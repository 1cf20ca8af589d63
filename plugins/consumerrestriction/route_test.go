package consumerrestriction_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/basicauth"
	"github.com/sluicegw/sluice/plugins/consumerrestriction"
	"github.com/sluicegw/sluice/plugins/keyauth"
)

// TestRoute runs the authentication plugins together, under each authn
// policy, with consumer-restriction after them, as the gateway chains a
// route. (Only tests import several plugins; the plugins stay apart.)
func TestRoute(t *testing.T) {
	t.Parallel()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	consumers := []plugintest.Consumer{
		{Name: "alice", Groups: []string{"staff"}, Credentials: map[string]string{
			"key-auth":   `{"key":"alice-key"}`,
			"basic-auth": `{"username":"alice","password_hash":"` + hash("alice-pw") + `"}`,
		}},
		{Name: "bob", Groups: []string{"staff"}, Credentials: map[string]string{
			"basic-auth": `{"username":"bob","password_hash":"` + hash("bob-pw") + `"}`,
		}},
		{Name: "guest"},
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	const challenges = `Key realm="sluice"|Basic realm="sluice", charset="UTF-8"`
	tests := []struct {
		name       string
		policy     plugin.AuthnPolicy
		restrict   string // consumer-restriction config, "" for none
		key, auth  string // apikey and Authorization headers
		status     int
		consumer   string
		by         string
		challenges string // the 401's WWW-Authenticate values, |-separated
	}{
		{name: "any: key", key: "alice-key", status: 200, consumer: "alice", by: "key-auth"},
		{name: "any: basic", auth: basic("bob", "bob-pw"), status: 200, consumer: "bob", by: "basic-auth"},
		{name: "any: first in route order wins", key: "alice-key", auth: basic("bob", "bob-pw"), status: 200, consumer: "alice", by: "key-auth"},
		{name: "any: wrong key, good password", key: "nope", auth: basic("bob", "bob-pw"), status: 200, consumer: "bob", by: "basic-auth"},
		{name: "any: nothing", status: 401, challenges: challenges},
		{name: "any: both wrong", key: "nope", auth: basic("bob", "nope"), status: 401, challenges: challenges},
		{name: "all: both, same consumer", policy: plugin.AuthnPolicy{All: true}, key: "alice-key", auth: basic("alice", "alice-pw"),
			status: 200, consumer: "alice", by: "basic-auth"},
		{name: "all: both, different consumers", policy: plugin.AuthnPolicy{All: true}, key: "alice-key", auth: basic("bob", "bob-pw"),
			status: 401, challenges: `Bearer realm="sluice"`},
		{name: "all: key only", policy: plugin.AuthnPolicy{All: true}, key: "alice-key", status: 401, challenges: `Basic realm="sluice", charset="UTF-8"`},
		{name: "anonymous", policy: plugin.AuthnPolicy{Anonymous: &plugin.Consumer{Name: "guest"}}, status: 200, consumer: "guest", by: "anonymous"},
		{name: "anonymous, wrong key", policy: plugin.AuthnPolicy{Anonymous: &plugin.Consumer{Name: "guest"}}, key: "nope", status: 401, challenges: challenges},
		{name: "restricted: allowed", restrict: `{"whitelist":["alice"]}`, key: "alice-key", status: 200, consumer: "alice", by: "key-auth"},
		{name: "restricted: refused", restrict: `{"whitelist":["alice"]}`, auth: basic("bob", "bob-pw"), status: 403, consumer: "bob", by: "basic-auth"},
		{name: "restricted: anonymous refused", policy: plugin.AuthnPolicy{Anonymous: &plugin.Consumer{Name: "guest"}},
			restrict: `{"blacklist":["guest"]}`, status: 403, consumer: "guest", by: "anonymous"},
		{name: "restricted: method by group", restrict: `{"type":"consumer_group_id","allowed_by_methods":[{"user":"staff","methods":["POST"]}]}`,
			key: "alice-key", status: 403, consumer: "alice", by: "key-auth"},
		{name: "restricted: unauthenticated stops at the gate", restrict: `{"whitelist":["alice"]}`, status: 401, challenges: challenges},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			uses := []plugin.Use{
				plugintest.Use(t, keyauth.Kind, plugintest.Env(t, keyauth.Kind, "r", consumers...), `{}`),
				plugintest.Use(t, basicauth.Kind, plugintest.Env(t, basicauth.Kind, "r", consumers...), `{}`),
			}
			if tt.restrict != "" {
				// Listed first: phases, not list order, put it after authentication.
				uses = append([]plugin.Use{plugintest.Use(t, consumerrestriction.Kind,
					plugintest.Env(t, consumerrestriction.Kind, "r", consumers...), tt.restrict)}, uses...)
			}
			var upstream http.Header
			next := plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				upstream = r.Header.Clone()
				return nil
			})
			h := plugintest.Route(tt.policy, next, uses...)
			r := httptest.NewRequest("GET", "/", nil)
			if tt.key != "" {
				r.Header.Set("apikey", tt.key)
			}
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			res := plugintest.Serve(h, r)
			if res.Code != tt.status || res.X.Consumer != tt.consumer || res.X.AuthnBy != tt.by {
				t.Fatalf("got %d consumer %q by %q; want %d %q by %q (err %v)", res.Code, res.X.Consumer, res.X.AuthnBy, tt.status, tt.consumer, tt.by, res.Err)
			}
			switch tt.status {
			case 401:
				got := ""
				for i, c := range res.Header().Values("WWW-Authenticate") {
					if i > 0 {
						got += "|"
					}
					got += c
				}
				if got != tt.challenges {
					t.Errorf("challenges = %s; want %s", got, tt.challenges)
				}
			case 200:
				if want := (http.Header{}); !cmp.Equal(upstream, want) {
					t.Errorf("credentials reached the upstream: %v", upstream)
				}
			}
		})
	}
}
