package openidconnect

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/oidctest"
)

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// clock is a test clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// settle waits for the background work in flight: the first discovery, a
// key set refresh, so that tests can count calls.
func (p *oidc) settle() {
	p.wg.Wait()
	p.disc.Wait()
	if k := p.keys.Load(); k != nil {
		k.Wait()
	}
}

// world is a provider, a clock, consumers and a way to build the plugin.
type world struct {
	p   *oidctest.Provider
	clk *clock
	log *logBuf
	env plugin.Env
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{p: oidctest.New(t), clk: &clock{t: time.Unix(1_700_000_000, 0)}, log: &logBuf{}}
	w.p.SetClock(w.clk.Now)
	w.env = plugintest.Env(t, Kind, "r",
		plugintest.Consumer{Name: "alice", Groups: []string{"admins"}},
		plugintest.Consumer{Name: "svc-billing", Groups: []string{"services"}},
	)
	w.env.Logger = slog.New(slog.NewTextHandler(w.log, nil))
	w.env.OnClose = func(f func() error) { t.Cleanup(func() { f() }) }
	return w
}

// build builds openid-connect from cfg, where $ISSUER stands for the
// provider's URL.
func (w *world) build(t *testing.T, cfg string) (*oidc, plugin.Handler, *upstream) {
	t.Helper()
	c := defaults()
	if err := plugin.DecodeStrict(json.RawMessage(strings.ReplaceAll(cfg, "$ISSUER", w.p.URL)), c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := build(w.env, c, options{now: w.clk.Now, client: w.p.Client()})
	if err != nil {
		t.Fatal(err)
	}
	up := &upstream{}
	return p, plugintest.Route(plugin.AuthnPolicy{}, up, plugin.Use{Kind: Kind, MW: p.middleware}), up
}

// upstream records what reached it.
type upstream struct {
	mu     sync.Mutex
	header http.Header
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.mu.Lock()
	u.header = r.Header.Clone()
	u.mu.Unlock()
	_, err := w.Write([]byte("ok"))
	return err
}

func send(h plugin.Handler, token string) plugintest.Result {
	r := httptest.NewRequest("GET", "/", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return plugintest.Serve(h, r)
}

const unauthorizedBody = `{"error":"unauthorized","message":"missing or invalid credentials"}`

func expect(t *testing.T, res plugintest.Result, consumer string) {
	t.Helper()
	if consumer == "" {
		if res.Code != http.StatusUnauthorized || res.Body.String() != unauthorizedBody {
			t.Fatalf("got %d %s (consumer %q); want the generic 401", res.Code, res.Body, res.X.Consumer)
		}
		return
	}
	if res.Code != http.StatusOK || res.X.Consumer != consumer || res.X.AuthnBy != Name {
		t.Fatalf("got %d, consumer %q; want 200 %q (error: %v)", res.Code, res.X.Consumer, consumer, res.Err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"minimal", `{"issuer":"https://idp.example.org","audience":"api"}`, ""},
		{"discovery only", `{"discovery":"https://idp.example.org/.well-known/openid-configuration","audience":["api","web"]}`, ""},
		{"everything", `{"issuer":"https://idp","jwks_uri":"https://idp/keys","audience":"api","required_scopes":["read","write"],` +
			`"consumer_claim":"azp","groups_claim":"groups","require_consumer":true,"algorithms":["ES256"],"clock_skew":"5s","header":"X-Token",` +
			`"hide_credentials":true,"realm":"api","timeout":2,"jwks_refresh_interval":"1h","jwks_min_refresh_interval":"1m",` +
			`"introspection":{"endpoint":"https://idp/introspect","client_id":"gw","client_secret":"s","auth_method":"client_secret_post","use":"always","cache_ttl":"30s","cache_size":100}}`, ""},
		{"nothing", `{}`, "issuer: required (or discovery): the provider's issuer URL, like https://idp.example.org/realms/main\n" +
			"audience: required: the audience (aud) your tokens are issued for, such as the API's client ID"},
		{"bad URLs", `{"issuer":"idp.example.org","discovery":"ftp://x","jwks_uri":"/keys","audience":"a"}`,
			"issuer: \"idp.example.org\" is not an http or https URL\ndiscovery: \"ftp://x\" is not an http or https URL\njwks_uri: \"/keys\" is not an http or https URL"},
		{"HS and none", `{"issuer":"https://i","audience":"a","algorithms":["HS256","none","RS256"]}`,
			"algorithms[0]: HS256 is not allowed: tokens are verified with the provider's public keys\n" +
				`algorithms[1]: "none" is not supported; use some of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA`},
		{"empty algorithms", `{"issuer":"https://i","audience":"a","algorithms":[]}`, "algorithms: must not be empty"},
		{"bad scopes", `{"issuer":"https://i","audience":"a","required_scopes":["a b",""]}`,
			"required_scopes[0]: \"a b\" is not one scope\nrequired_scopes[1]: \"\" is not one scope"},
		{"empty things", `{"issuer":"https://i","audience":[""],"consumer_claim":"","header":"","realm":""}`,
			"audience[0]: must not be empty\nconsumer_claim: required (the claim naming the consumer, like sub)\nheader: \"\" is not a valid header name\nrealm: must be 1 to 256 bytes without control characters"},
		{"durations", `{"issuer":"https://i","audience":"a","clock_skew":"2h","timeout":"x"}`,
			"clock_skew: 2h0m0s is out of range (0s to 1h0m0s)\ntimeout: \"x\" is not a duration (use seconds, or a string like \"30s\")"},
		{"introspection without client", `{"issuer":"https://i","audience":"a","introspection":{"use":"always"}}`, "introspection.client_id: required to use introspection"},
		{"introspection without secret", `{"issuer":"https://i","audience":"a","introspection":{"client_id":"gw"}}`, "introspection.client_secret: required with client_id"},
		{"introspection values", `{"issuer":"https://i","audience":"a","introspection":{"client_id":"gw","client_secret":"s","endpoint":"x","auth_method":"jwt","use":"sometimes","cache_ttl":-1,"cache_size":0}}`,
			"introspection.endpoint: \"x\" is not an http or https URL\nintrospection.auth_method: \"jwt\" is not client_secret_basic or client_secret_post\n" +
				"introspection.use: \"sometimes\" is not opaque or always\nintrospection.cache_ttl: -1s is out of range (0s to 1h0m0s)\nintrospection.cache_size: 0 is out of range (1 to 1000000)"},
		{"unknown key", `{"issuer":"https://i","audience":"a","bearer_only":true}`, `json: unknown field "bearer_only"`},
		{"unknown introspection key", `{"issuer":"https://i","audience":"a","introspection":{"interval":1}}`, `json: unknown field "interval"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errString(Kind.Check(json.RawMessage(tt.cfg))); got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
	// The client secret never shows in a config dump.
	c := defaults()
	plugin.DecodeStrict(json.RawMessage(`{"introspection":{"client_id":"gw","client_secret":"hunter2"}}`), c)
	if b, _ := json.Marshal(c); strings.Contains(string(b), "hunter2") {
		t.Errorf("config JSON shows the client secret: %s", b)
	}
}

const cfgBasic = `{"issuer":"$ISSUER","audience":"api","groups_claim":"groups"}`

// TestOIDCFlow runs a provider through discovery, key rotation, a key set
// outage and the claim checks.
func TestOIDCFlow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	p, h, up := w.build(t, cfgBasic)
	k1 := w.p.SigningKey()
	alice := w.p.Mint(w.p.Claims("alice"))

	expect(t, send(h, alice), "alice")
	p.settle()
	if d, j := w.p.Calls(oidctest.DiscoveryPath), w.p.Calls(oidctest.JWKSPath); d != 1 || j != 1 {
		t.Fatalf("discovery %d, JWKS %d calls; want 1 and 1", d, j)
	}
	res := send(h, alice)
	if !res.X.Caller.InGroup("admins") {
		t.Errorf("alice (a configured consumer) lacks her group: %+v", res.X.Caller)
	}
	if up.header.Get("Authorization") != "Bearer "+alice {
		t.Errorf("upstream did not get the token (hide_credentials defaults to false): %v", up.header)
	}

	// A caller that is not a configured consumer gets its own, with groups
	// from groups_claim.
	bobClaims := w.p.Claims("bob")
	bobClaims["groups"] = []string{"eng", "oncall"}
	res = send(h, w.p.Mint(bobClaims))
	expect(t, res, "bob")
	if !res.X.Caller.InGroup("oncall") {
		t.Errorf("bob's groups = %v", res.X.Caller.Groups)
	}

	// Rotation: the provider signs with a new key. Old tokens still verify
	// while the old key is published; the new kid triggers one refresh.
	w.clk.Add(10 * time.Second)
	k2 := w.p.Rotate("ES256")
	fresh := w.p.Mint(w.p.Claims("alice"))
	expect(t, send(h, fresh), "alice")
	expect(t, send(h, alice), "alice")
	p.settle()
	if j := w.p.Calls(oidctest.JWKSPath); j != 2 {
		t.Fatalf("JWKS calls after rotation = %d; want 2", j)
	}
	w.p.NewKey("EdDSA") // more keys, published and unused: one of another type,
	w.p.NewKey("ES256") // and one that makes a token without kid ambiguous

	// The key set endpoint goes down: cached keys keep working, even when
	// stale, and nothing crashes.
	w.p.SetJWKSStatus(oidctest.Down)
	w.clk.Add(6 * time.Minute)
	for range 3 {
		expect(t, send(h, fresh), "alice")
		expect(t, send(h, alice), "alice")
	}
	p.settle()
	if !strings.Contains(w.log.String(), "JWKS fetch failed") {
		t.Errorf("the outage is not logged:\n%s", w.log)
	}

	// Back up, with the old key withdrawn: after the background refresh,
	// the old tokens are refused.
	w.p.SetJWKSStatus(0)
	w.p.Withdraw(k1)
	w.clk.Add(6 * time.Minute)
	expect(t, send(h, fresh), "alice") // triggers the refresh
	p.settle()
	expect(t, send(h, alice), "")
	expect(t, send(h, fresh), "alice")

	// Claim checks, all answered with the same body.
	c := func(kv ...any) string {
		cl := w.p.Claims("alice")
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(cl, kv[i].(string))
			} else {
				cl[kv[i].(string)] = kv[i+1]
			}
		}
		return w.p.MintWith(k2, nil, cl)
	}
	now := w.clk.Now().Unix()
	invalid := []string{`Bearer realm="sluice", error="invalid_token"`}
	for _, tt := range []struct{ name, token string }{
		{"wrong audience", c("aud", "web")},
		{"no audience", c("aud", nil)},
		{"wrong issuer", c("iss", w.p.URL+"/other")},
		{"no issuer", c("iss", nil)},
		{"expired", c("exp", now-31)},
		{"no exp", c("exp", nil)},
		{"not yet valid", c("nbf", now+60)},
		{"issued in the future", c("iat", now+3600)},
		{"no sub", c("sub", nil)},
		{"sub not a string", c("sub", 42)},
		{"sub with a newline", c("sub", "a\nb")},
		{"sub too long", c("sub", strings.Repeat("s", 300))},
		{"alg none", oidctest.Sign("none", jwt.UnsafeAllowNoneSignatureType, map[string]any{"alg": "none"}, w.p.Claims("alice"))},
		{"HS256 with the public key as secret", oidctest.Sign("HS256", []byte(oidctest.JWK(k2)["x"].(string)+"-padding-to-32-bytes"), map[string]any{"alg": "HS256", "kid": k2.ID}, w.p.Claims("alice"))},
		{"header alg differs from the key's", w.p.MintWith(k2, map[string]any{"alg": "ES384"}, w.p.Claims("alice"))},
		{"unknown kid", w.p.MintWith(k2, map[string]any{"kid": "nope"}, w.p.Claims("alice"))},
		{"no kid with several keys", w.p.MintWith(k2, map[string]any{"kid": nil}, w.p.Claims("alice"))},
		{"opaque token without introspection", "opaque-token"},
		{"garbage", "a.b.c"},
		{"huge", c("pad", strings.Repeat("x", 20000))},
	} {
		res := send(h, tt.token)
		if res.Code != 401 || res.Body.String() != unauthorizedBody {
			t.Errorf("%s: got %d %s; want the generic 401", tt.name, res.Code, res.Body)
			continue
		}
		if diff := cmp.Diff(invalid, res.Header().Values("WWW-Authenticate")); diff != "" {
			t.Errorf("%s: WWW-Authenticate (-want +got):\n%s", tt.name, diff)
		}
		t.Logf("%s: %v", tt.name, res.Err)
	}
	res = send(h, "")
	if res.Code != 401 || cmp.Diff([]string{`Bearer realm="sluice"`}, res.Header().Values("WWW-Authenticate")) != "" {
		t.Errorf("no token: %d %q", res.Code, res.Header().Values("WWW-Authenticate"))
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, h, _ := w.build(t, `{"issuer":"$ISSUER","audience":["api","web"],"required_scopes":["chat:write","models:read"]}`)
	tok := func(kv ...any) string {
		c := w.p.Claims("svc-billing")
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return w.p.Mint(c)
	}
	expect(t, send(h, tok("scope", "openid models:read chat:write")), "svc-billing")
	expect(t, send(h, tok("scp", []string{"chat:write", "models:read"}, "aud", []string{"other", "web"})), "svc-billing")
	res := send(h, tok("scope", "openid chat:write"))
	expect(t, res, "")
	want := []string{`Bearer realm="sluice", error="insufficient_scope", scope="chat:write models:read"`}
	if diff := cmp.Diff(want, res.Header().Values("WWW-Authenticate")); diff != "" {
		t.Errorf("WWW-Authenticate (-want +got):\n%s", diff)
	}
}

func TestProviderDownAtStart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.p.SetDiscoveryStatus(oidctest.Down)
	p, h, _ := w.build(t, cfgBasic) // the config loads anyway
	tok := w.p.Mint(w.p.Claims("alice"))
	for range 5 {
		res := send(h, tok)
		expect(t, res, "")
		if !strings.Contains(errString(res.Err), "provider metadata not available yet") {
			t.Fatalf("error = %v", res.Err)
		}
	}
	p.settle()
	if n := strings.Count(w.log.String(), "discovery failed"); n != 1 || w.p.Calls(oidctest.DiscoveryPath) > 2 {
		t.Errorf("%d log lines, %d discovery calls for 5 requests within the retry interval; want 1 line:\n%s", n, w.p.Calls(oidctest.DiscoveryPath), w.log)
	}
	w.p.SetDiscoveryStatus(500)
	w.clk.Add(10 * time.Second)
	expect(t, send(h, tok), "")
	w.p.SetDiscoveryStatus(0)
	w.clk.Add(10 * time.Second)
	expect(t, send(h, tok), "alice")
	if !strings.Contains(w.log.String(), "discovery works again") {
		t.Errorf("recovery not logged:\n%s", w.log)
	}
}

func TestKeySetUnavailable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		setup func(*oidctest.Provider)
		err   string
	}{
		{"down", func(p *oidctest.Provider) { p.SetJWKSStatus(oidctest.Down) }, "no key set from"},
		{"empty", func(p *oidctest.Provider) { p.SetJWKS(`{"keys":[]}`) }, "no matching key"},
		{"garbage", func(p *oidctest.Provider) { p.SetJWKS(`{"keys":`) }, "not a JWK set"},
		{"issuer mismatch", func(p *oidctest.Provider) { p.SetDiscoveryField("issuer", "https://evil.example.org") }, "is not the configured issuer"},
		{"no jwks_uri", func(p *oidctest.Provider) { p.SetDiscoveryField("jwks_uri", nil) }, "has no jwks_uri"},
		{"discovery not JSON", func(p *oidctest.Provider) { p.SetDiscoveryField("issuer", 7) }, "not a discovery document"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.setup(w.p)
			_, h, _ := w.build(t, cfgBasic)
			res := send(h, w.p.Mint(w.p.Claims("alice")))
			expect(t, res, "")
			if !strings.Contains(errString(res.Err), tt.err) {
				t.Errorf("error = %v; want %q", res.Err, tt.err)
			}
		})
	}
}

// TestNoDiscovery: with issuer and jwks_uri, the discovery document is
// never fetched.
func TestNoDiscovery(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	p, h, _ := w.build(t, `{"issuer":"$ISSUER","jwks_uri":"$ISSUER/jwks","audience":"api"}`)
	expect(t, send(h, w.p.Mint(w.p.Claims("alice"))), "alice")
	p.settle()
	if w.p.Calls(oidctest.DiscoveryPath) != 0 {
		t.Errorf("discovery was fetched")
	}
	// discovery: an explicit document URL, and the issuer taken from it.
	w2 := newWorld(t)
	_, h2, _ := w2.build(t, `{"discovery":"$ISSUER`+oidctest.DiscoveryPath+`","audience":"api"}`)
	expect(t, send(h2, w2.p.Mint(w2.p.Claims("alice"))), "alice")
	c := w2.p.Claims("alice")
	c["iss"] = "https://evil.example.org"
	expect(t, send(h2, w2.p.Mint(c)), "")
}

func TestConsumerMapping(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	mint := func(kv ...any) string {
		c := w.p.Claims("user-1")
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return w.p.Mint(c)
	}
	tests := []struct {
		name, cfg, token, consumer string
		groups                     []string
	}{
		{"configured consumer by azp", `{"issuer":"$ISSUER","audience":"api","consumer_claim":"azp"}`, mint("azp", "svc-billing"), "svc-billing", []string{"services"}},
		{"nested claim", `{"issuer":"$ISSUER","audience":"api","consumer_claim":"ext.client","groups_claim":"realm_access.roles"}`,
			mint("ext", map[string]any{"client": "agent-7"}, "realm_access", map[string]any{"roles": []string{"r1", "r2"}}), "agent-7", []string{"r1", "r2"}},
		{"groups as a string", `{"issuer":"$ISSUER","audience":"api","groups_claim":"team"}`, mint("team", "blue"), "user-1", []string{"blue"}},
		{"configured consumer keeps its own groups", `{"issuer":"$ISSUER","audience":"api","groups_claim":"groups"}`, mint("sub", "alice", "groups", []string{"x"}), "alice", []string{"admins"}},
		{"require_consumer: configured", `{"issuer":"$ISSUER","audience":"api","require_consumer":true}`, mint("sub", "alice"), "alice", []string{"admins"}},
		{"require_consumer: not configured", `{"issuer":"$ISSUER","audience":"api","require_consumer":true}`, mint(), "", nil},
		{"missing claim", `{"issuer":"$ISSUER","audience":"api","consumer_claim":"client_id"}`, mint(), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, h, _ := w.build(t, tt.cfg)
			res := send(h, tt.token)
			expect(t, res, tt.consumer)
			if tt.consumer != "" {
				if diff := cmp.Diff(tt.groups, res.X.Caller.Groups); diff != "" {
					t.Errorf("groups (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestHideCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, h, up := w.build(t, `{"issuer":"$ISSUER","audience":"api","hide_credentials":true,"header":"X-Access-Token"}`)
	tok := w.p.Mint(w.p.Claims("alice"))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Access-Token", tok) // a bare token in a custom header
	r.Header.Set("Authorization", "Basic YTpi")
	res := plugintest.Serve(h, r)
	expect(t, res, "alice")
	if up.header.Get("X-Access-Token") != "" || up.header.Get("Authorization") != "Basic YTpi" {
		t.Errorf("upstream headers: %v", up.header)
	}
}

func TestIntrospection(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	p, h, _ := w.build(t, `{"issuer":"$ISSUER","audience":"api","required_scopes":"chat",`+
		`"introspection":{"client_id":"sluice","client_secret":"introspection-secret","cache_ttl":"60s"}}`)
	calls := func(want int) {
		t.Helper()
		if got := w.p.Calls(oidctest.IntrospectionPath); got != want {
			t.Fatalf("introspection calls = %d; want %d", got, want)
		}
	}
	now := w.clk.Now()
	w.p.AddToken("opaque-alice", map[string]any{"sub": "alice", "aud": "api", "scope": "chat", "iss": w.p.URL, "exp": now.Add(time.Hour).Unix()})
	w.p.AddToken("opaque-short", map[string]any{"sub": "bob", "aud": "api", "scope": "chat", "exp": now.Add(20 * time.Second).Unix()})
	w.p.AddToken("opaque-noscope", map[string]any{"sub": "bob", "aud": "api", "scope": "read"})
	w.p.AddToken("opaque-otheraud", map[string]any{"sub": "bob", "aud": "web", "scope": "chat"})
	w.p.AddToken("opaque-otheriss", map[string]any{"sub": "bob", "aud": "api", "scope": "chat", "iss": "https://evil"})

	expect(t, send(h, "opaque-alice"), "alice")
	calls(1)
	expect(t, send(h, "opaque-alice"), "alice") // cached
	calls(1)
	expect(t, send(h, "opaque-unknown"), "") // active=false
	calls(2)
	expect(t, send(h, "opaque-unknown"), "") // negative answer cached
	calls(2)
	expect(t, send(h, "opaque-noscope"), "")
	expect(t, send(h, "opaque-otheraud"), "")
	expect(t, send(h, "opaque-otheriss"), "")
	calls(5)

	// A JWT is still verified locally (use: opaque).
	expect(t, send(h, w.p.Mint(map[string]any{"iss": w.p.URL, "sub": "alice", "aud": "api", "scope": "chat", "exp": now.Add(time.Hour).Unix()})), "alice")
	calls(5)

	// A cached answer ends at the token's exp, before cache_ttl.
	expect(t, send(h, "opaque-short"), "bob")
	calls(6)
	w.clk.Add(20 * time.Second)
	expect(t, send(h, "opaque-short"), "") // asked again; the provider says expired
	calls(7)

	// Revocation shows once cache_ttl has passed.
	w.p.Revoke("opaque-alice")
	expect(t, send(h, "opaque-alice"), "alice")
	w.clk.Add(time.Minute)
	expect(t, send(h, "opaque-alice"), "")
	p.settle()

	// An endpoint failure is not cached.
	w.p.AddToken("opaque-carol", map[string]any{"sub": "carol", "aud": "api", "scope": "chat"})
	before := w.p.Calls(oidctest.IntrospectionPath)
	w.p.ClientSecret = "rotated" // the gateway's secret is now wrong: 401 from the endpoint
	res := send(h, "opaque-carol")
	expect(t, res, "")
	if !strings.Contains(errString(res.Err), "status 401") {
		t.Errorf("error = %v", res.Err)
	}
	w.p.ClientSecret = "introspection-secret"
	expect(t, send(h, "opaque-carol"), "carol")
	calls(before + 2)
}

func TestIntrospectionAlwaysAndPost(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, h, _ := w.build(t, `{"issuer":"$ISSUER","audience":"api",`+
		`"introspection":{"client_id":"sluice","client_secret":"introspection-secret","auth_method":"client_secret_post","use":"always","cache_ttl":0}}`)
	tok := w.p.Mint(w.p.Claims("alice"))
	for i := range 3 {
		expect(t, send(h, tok), "alice")
		if got := w.p.Calls(oidctest.IntrospectionPath); got != i+1 {
			t.Fatalf("introspection calls = %d; want %d (cache_ttl 0)", got, i+1)
		}
	}
	w.p.Revoke(tok) // use: always sees a revoked JWT at once
	expect(t, send(h, tok), "")
	if w.p.Calls(oidctest.JWKSPath) != 0 {
		t.Errorf("the key set was fetched although every token is introspected")
	}
}

func TestIntrospectionCacheBound(t *testing.T) {
	t.Parallel()
	in := &introspector{ttl: time.Minute, size: 16, cache: map[[32]byte]answer{}}
	now := time.Unix(1_700_000_000, 0)
	for i := range 100 {
		in.put([32]byte{byte(i)}, answer{until: now.Add(time.Minute)}, now)
		if len(in.cache) > 16 {
			t.Fatalf("cache holds %d entries; bound is 16", len(in.cache))
		}
	}
	if _, ok := in.get([32]byte{99}, now); !ok {
		t.Error("the newest entry is missing")
	}
	if _, ok := in.get([32]byte{99}, now.Add(time.Minute)); ok {
		t.Error("an entry outlived its time")
	}
}

// TestCleanup: closing the generation stops background work, even while
// discovery hangs.
func TestCleanup(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var closers []func() error
	w.env.OnClose = func(f func() error) { closers = append(closers, f) }
	w.p.SetDiscoveryStatus(oidctest.Down)
	_, h, _ := w.build(t, cfgBasic)
	expect(t, send(h, "a.b.c"), "")
	if len(closers) != 1 {
		t.Fatalf("%d cleanups registered; want 1", len(closers))
	}
	for _, f := range closers {
		if err := f(); err != nil {
			t.Error(err)
		}
	}
}
