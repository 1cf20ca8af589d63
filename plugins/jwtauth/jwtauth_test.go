package jwtauth

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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

var t0 = time.Unix(1_700_000_000, 0)

// use builds jwt-auth from cfg with the test clock and HTTP client.
func use(t testing.TB, env plugin.Env, cfg string, now func() time.Time, client *http.Client) plugin.Use {
	t.Helper()
	c := defaults()
	if err := plugin.DecodeStrict(json.RawMessage(cfg), c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	mw, err := build(env, c, options{now: now, client: client})
	if err != nil {
		t.Fatalf("build(%s) = %v", cfg, err)
	}
	return plugin.Use{Kind: Kind, MW: mw}
}

func pemOf(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"defaults", `{}`, ""},
		{"all set", `{"header":"X-JWT","query":"token","cookie":"sid","hide_credentials":false,"key_claim_name":"iss","clock_skew":5,` +
			`"issuer":"https://a","audience":["x","y"],"realm":"api","timeout":"1s","jwks_refresh_interval":"1h","jwks_min_refresh_interval":"30s"}`, ""},
		{"audience string", `{"audience":"api"}`, ""},
		{"header only", `{"query":"","cookie":""}`, ""},
		{"nowhere", `{"header":"","query":"","cookie":""}`, "header, query, cookie: all are empty; set at least one place to look for the token"},
		{"bad names", `{"header":"a b","cookie":"c;d","query":"a&b"}`,
			"header: \"a b\" is not a valid header name\nquery: \"a&b\" contains control characters, & or =\ncookie: \"c;d\" is not a valid cookie name"},
		{"empty key claim", `{"key_claim_name":""}`, "key_claim_name: required (the claim naming the consumer's key)"},
		{"bad skew", `{"clock_skew":"soon"}`, `clock_skew: "soon" is not a duration (use seconds, or a string like "30s")`},
		{"negative skew", `{"clock_skew":-1}`, "clock_skew: -1s is out of range (0s to 1h0m0s)"},
		{"empty audience", `{"audience":[""]}`, "audience[0]: must not be empty"},
		{"realm", `{"realm":"a\r\nb"}`, "realm: must be 1 to 256 bytes without control characters"},
		{"jwks timings", `{"timeout":0,"jwks_refresh_interval":"1ms"}`,
			"timeout: 0s is out of range (1ms to 1m0s)\njwks_refresh_interval: 1ms is out of range (1s to 168h0m0s)"},
		{"unknown key", `{"secret":"x"}`, `json: unknown field "secret"`},
		{"wrong type", `{"audience":3}`, "audience: expected jwtverify.StringList, got non-string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errString(Kind.Check(json.RawMessage(tt.cfg))); got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
}

const secretA = "agent-a-secret-0123456789-abcdef" // 32 bytes

func TestCredential(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	rsaPEM := pemOf(t, p.SigningKey().Public())
	esPEM := pemOf(t, p.NewKey("ES256").Public())
	edPEM := pemOf(t, p.NewKey("EdDSA").Public())
	b64secret := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xfe", 64)))
	tests := []struct{ name, cred, want string }{
		{"hs256", `{"key":"a","secret":"` + secretA + `"}`, ""},
		{"hs512 base64", `{"key":"a","secret":"` + b64secret + `","base64_secret":true,"algorithm":"HS512"}`, ""},
		{"base64url unpadded", `{"key":"a","secret":"` + strings.TrimRight(base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb", 32))), "=") + `","base64_secret":true}`, ""},
		{"rs256", `{"key":"a","public_key":` + jsonString(rsaPEM) + `,"algorithm":"RS256"}`, ""},
		{"ps512", `{"key":"a","public_key":` + jsonString(rsaPEM) + `,"algorithm":"PS512"}`, ""},
		{"es256", `{"key":"a","public_key":` + jsonString(esPEM) + `,"algorithm":"ES256"}`, ""},
		{"eddsa", `{"key":"a","public_key":` + jsonString(edPEM) + `,"algorithm":"EdDSA"}`, ""},
		{"jwks", `{"key":"a","jwks_url":"https://idp.example.org/jwks","algorithm":"ES256"}`, ""},
		{"missing key", `{"secret":"` + secretA + `"}`, "key: required (the value of the token's key claim)"},
		{"nothing", `{"key":"a"}`, "secret, public_key, jwks_url: set exactly one"},
		{"two", `{"key":"a","secret":"` + secretA + `","jwks_url":"https://x/jwks"}`, "secret, public_key, jwks_url: set exactly one"},
		{"short secret", `{"key":"a","secret":"hunter2"}`, "secret: HS256 needs a secret of at least 32 bytes (RFC 7518 3.2), got 7"},
		{"short for HS384", `{"key":"a","secret":"` + secretA + `","algorithm":"HS384"}`, "secret: HS384 needs a secret of at least 48 bytes (RFC 7518 3.2), got 32"},
		{"bad base64", `{"key":"a","secret":"not*base64*at*all*not*base64*at*all","base64_secret":true}`, "secret: base64_secret is set but the secret is not valid base64"},
		{"base64 without secret", `{"key":"a","jwks_url":"https://x/j","algorithm":"RS256","base64_secret":true}`, "base64_secret: set without a secret"},
		{"secret with RS256", `{"key":"a","secret":"` + secretA + `","algorithm":"RS256"}`, "secret: RS256 takes a public_key or jwks_url; a secret needs algorithm HS256, HS384 or HS512"},
		{"public key with default HS256", `{"key":"a","public_key":` + jsonString(rsaPEM) + `}`, "algorithm: HS256 (the default) takes a secret; set algorithm to the public key's, such as RS256, ES256 or EdDSA"},
		{"RSA key for ES256", `{"key":"a","public_key":` + jsonString(rsaPEM) + `,"algorithm":"ES256"}`, "public_key: ES256 cannot use an RSA key"},
		{"alg none", `{"key":"a","secret":"` + secretA + `","algorithm":"none"}`, `algorithm: "none" is not supported; use one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA`},
		{"not PEM", `{"key":"a","public_key":"MIIB","algorithm":"RS256"}`, "public_key: not PEM: expected -----BEGIN PUBLIC KEY-----"},
		{"jwks not http", `{"key":"a","jwks_url":"file:///etc/jwks","algorithm":"RS256"}`, `jwks_url: "file:///etc/jwks" is not an http or https URL`},
		{"unknown", `{"key":"a","secret":"` + secretA + `","exp":86400}`, `json: unknown field "exp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Kind.Credential.Decode(json.RawMessage(tt.cred))
			got := errString(err)
			if got != tt.want {
				t.Errorf("Decode(%s) =\n%q\nwant\n%q", tt.cred, got, tt.want)
			}
			for _, s := range []string{secretA, "hunter2", b64secret, "not*base64"} {
				if strings.Contains(got, s) {
					t.Errorf("error %q quotes the secret", got)
				}
			}
		})
	}
	v, err := Kind.Credential.Decode(json.RawMessage(`{"key":"agent-a","secret":"` + secretA + `"}`))
	if err != nil || Kind.Credential.Identity(v) != "agent-a" {
		t.Errorf("Identity = %q, %v; want agent-a", Kind.Credential.Identity(v), err)
	}
}

// upstream records what reached it.
type upstream struct {
	mu     sync.Mutex
	header http.Header
	query  string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.mu.Lock()
	u.header, u.query = r.Header.Clone(), r.URL.RawQuery
	u.mu.Unlock()
	_, err := w.Write([]byte("ok"))
	return err
}

const unauthorizedBody = `{"error":"unauthorized","message":"missing or invalid credentials"}`

// fixture is a route with jwt-auth and consumers of every credential kind.
type fixture struct {
	p, p2 *oidctest.Provider
	clk   *clock
	es    *oidctest.Key
	ed    *oidctest.Key
	env   plugin.Env
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{p: oidctest.New(t), p2: oidctest.New(t), clk: &clock{t: t0}}
	f.p.SetClock(f.clk.Now)
	f.p2.SetClock(f.clk.Now)
	f.es = f.p.NewKey("ES256")
	f.ed = f.p.NewKey("EdDSA")
	b64 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("B", 64)))
	f.env = plugintest.Env(t, Kind, "r",
		plugintest.Consumer{Name: "agent-a", Groups: []string{"agents"}, Credentials: map[string]string{Name: `{"key":"agent-a","secret":"` + secretA + `"}`}},
		plugintest.Consumer{Name: "agent-b", Credentials: map[string]string{Name: `{"key":"agent-b","secret":"` + b64 + `","base64_secret":true,"algorithm":"HS512"}`}},
		plugintest.Consumer{Name: "rsa-c", Credentials: map[string]string{Name: `{"key":"rsa-c","public_key":` + jsonString(pemOf(t, f.p.SigningKey().Public())) + `,"algorithm":"RS256"}`}},
		plugintest.Consumer{Name: "es-d", Credentials: map[string]string{Name: `{"key":"es-d","public_key":` + jsonString(pemOf(t, f.es.Public())) + `,"algorithm":"ES256"}`}},
		plugintest.Consumer{Name: "ed-e", Credentials: map[string]string{Name: `{"key":"ed-e","public_key":` + jsonString(pemOf(t, f.ed.Public())) + `,"algorithm":"EdDSA"}`}},
		plugintest.Consumer{Name: "jwks-f", Credentials: map[string]string{Name: `{"key":"jwks-f","jwks_url":"` + f.p.URL + oidctest.JWKSPath + `","algorithm":"RS256"}`}},
		plugintest.Consumer{Name: "jwks-g", Credentials: map[string]string{Name: `{"key":"jwks-g","jwks_url":"` + f.p2.URL + oidctest.JWKSPath + `","algorithm":"RS256"}`}},
		plugintest.Consumer{Name: "nobody"},
	)
	f.env.OnClose = func(fn func() error) { t.Cleanup(func() { fn() }) }
	return f
}

func (f *fixture) route(t testing.TB, cfg string, up plugin.Handler) plugin.Handler {
	return plugintest.Route(plugin.AuthnPolicy{}, up, use(t, f.env, cfg, f.clk.Now, f.p.Client()))
}

func claims(key string, kv ...any) map[string]any {
	c := map[string]any{"key": key, "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func hs(alg, secret string, c map[string]any) string {
	return oidctest.Sign(alg, []byte(secret), map[string]any{"alg": alg, "typ": "JWT"}, c)
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rsaKey := f.p.SigningKey()
	rsaPEM := []byte(pemOf(t, rsaKey.Public()))
	secretB := strings.Repeat("B", 64)
	rs := func(c map[string]any) string { return f.p.MintWith(rsaKey, map[string]any{"kid": nil}, c) }
	invalid := []string{`Bearer realm="sluice", error="invalid_token"`}
	missing := []string{`Bearer realm="sluice"`}
	f.p.Rotate("RS256") // jwks-f's provider has two RSA keys from now on
	jwksKey := f.p.SigningKey()

	tests := []struct {
		name     string
		cfg      string // plugin config, default `{}`
		auth     string // Authorization header
		target   string // request target, default "/"
		cookie   string
		consumer string // "" means 401
		www      []string
	}{
		{name: "HS256 in header", auth: "Bearer " + hs("HS256", secretA, claims("agent-a")), consumer: "agent-a"},
		{name: "HS256 bare header", auth: hs("HS256", secretA, claims("agent-a")), consumer: "agent-a"},
		{name: "HS256 in query", target: "/x?a=1&jwt=" + hs("HS256", secretA, claims("agent-a")), consumer: "agent-a"},
		{name: "HS256 in cookie", cookie: "jwt=" + hs("HS256", secretA, claims("agent-a")), consumer: "agent-a"},
		{name: "HS512 base64 secret", auth: "Bearer " + hs("HS512", secretB, claims("agent-b")), consumer: "agent-b"},
		{name: "RS256 public key", auth: "Bearer " + rs(claims("rsa-c")), consumer: "rsa-c"},
		{name: "ES256 public key", auth: "Bearer " + f.p.MintWith(f.es, nil, claims("es-d")), consumer: "es-d"},
		{name: "EdDSA public key", auth: "Bearer " + f.p.MintWith(f.ed, nil, claims("ed-e")), consumer: "ed-e"},
		{name: "JWKS by kid", auth: "Bearer " + f.p.MintWith(jwksKey, nil, claims("jwks-f")), consumer: "jwks-f"},
		{name: "JWKS, older published key", auth: "Bearer " + f.p.MintWith(rsaKey, nil, claims("jwks-f")), consumer: "jwks-f"},
		{name: "custom key claim", cfg: `{"key_claim_name":"sub"}`, auth: "Bearer " + hs("HS256", secretA, claims("x", "sub", "agent-a")), consumer: "agent-a"},
		{name: "issuer and audience", cfg: `{"issuer":"https://me","audience":["api","web"]}`,
			auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "iss", "https://me", "aud", []string{"web"})), consumer: "agent-a"},
		{name: "no exp is accepted (as APISIX)", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "exp", nil)), consumer: "agent-a"},
		{name: "expired within clock_skew", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "exp", t0.Unix()-29)), consumer: "agent-a"},

		{name: "no token", www: missing},
		{name: "basic auth is not ours", auth: "Basic YTpi", www: missing},
		{name: "query disabled", cfg: `{"query":""}`, target: "/?jwt=" + hs("HS256", secretA, claims("agent-a")), www: missing},
		{name: "alg none", auth: "Bearer " + oidctest.Sign("none", jwt.UnsafeAllowNoneSignatureType, map[string]any{"alg": "none"}, claims("agent-a")), www: invalid},
		{name: "alg header differs from the consumer's", auth: "Bearer " + hs("HS512", secretA+secretA, claims("agent-a")), www: invalid},
		{name: "HS256 signed with the consumer's RSA public key", auth: "Bearer " + oidctest.Sign("HS256", rsaPEM, map[string]any{"alg": "HS256"}, claims("rsa-c")), www: invalid},
		{name: "RS256 token for an HS256 consumer", auth: "Bearer " + rs(claims("agent-a")), www: invalid},
		{name: "wrong secret", auth: "Bearer " + hs("HS256", strings.Repeat("x", 32), claims("agent-a")), www: invalid},
		{name: "another consumer's secret", auth: "Bearer " + hs("HS256", secretA, claims("agent-b")), www: invalid},
		{name: "unknown key", auth: "Bearer " + hs("HS256", secretA, claims("agent-z")), www: invalid},
		{name: "no key claim", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "key", nil)), www: invalid},
		{name: "key claim not a string", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "key", 7)), www: invalid},
		{name: "consumer without jwt-auth credential", auth: "Bearer " + hs("HS256", secretA, claims("nobody")), www: invalid},
		{name: "truncated", auth: "Bearer " + hs("HS256", secretA, claims("agent-a"))[:60], www: invalid},
		{name: "garbage", auth: "Bearer a.b.c", www: invalid},
		{name: "not a JWT", auth: "Bearer opaque-token", www: invalid},
		{name: "huge token", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "pad", strings.Repeat("p", 20000))), www: invalid},
		{name: "expired", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "exp", t0.Unix()-30)), www: invalid},
		{name: "expired, no skew", cfg: `{"clock_skew":0}`, auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "exp", t0.Unix())), www: invalid},
		{name: "not yet valid", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "nbf", t0.Unix()+60)), www: invalid},
		{name: "issued in the future", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "iat", t0.Unix()+3600)), www: invalid},
		{name: "exp not a number", auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "exp", "never")), www: invalid},
		{name: "wrong issuer", cfg: `{"issuer":"https://me"}`, auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "iss", "https://evil")), www: invalid},
		{name: "missing audience", cfg: `{"audience":"api"}`, auth: "Bearer " + hs("HS256", secretA, claims("agent-a")), www: invalid},
		{name: "wrong audience", cfg: `{"audience":"api"}`, auth: "Bearer " + hs("HS256", secretA, claims("agent-a", "aud", "web")), www: invalid},
		{name: "JWKS: missing kid with many keys", auth: "Bearer " + f.p.MintWith(jwksKey, map[string]any{"kid": nil}, claims("jwks-f")), www: invalid},
		{name: "JWKS: kid of another consumer's provider", auth: "Bearer " + f.p2.MintWith(f.p2.SigningKey(), nil, claims("jwks-f")), www: invalid},
		{name: "JWKS: right kid, other consumer's key claim", auth: "Bearer " + f.p.MintWith(jwksKey, nil, claims("jwks-g")), www: invalid},
		{name: "JWKS: unknown kid", auth: "Bearer " + f.p.MintWith(jwksKey, map[string]any{"kid": "forged"}, claims("jwks-f")), www: invalid},
		{name: "token twice", target: "/?jwt=a&jwt=b", www: invalid},
		{name: "token in two headers", auth: "Bearer " + hs("HS256", secretA, claims("agent-a")) + "\x00second", www: invalid},
		{name: "realm", cfg: `{"realm":"agents"}`, www: []string{`Bearer realm="agents"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := &upstream{}
			cfg := tt.cfg
			if cfg == "" {
				cfg = `{}`
			}
			h := f.route(t, cfg, up)
			target := tt.target
			if target == "" {
				target = "/"
			}
			r := httptest.NewRequest("GET", target, nil)
			if tt.name == "token in two headers" {
				a, b, _ := strings.Cut(tt.auth, "\x00")
				r.Header.Add("Authorization", a)
				r.Header.Add("Authorization", "Bearer "+b)
			} else if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie+"; other=1")
			}
			res := plugintest.Serve(h, r)
			if tt.consumer == "" {
				if res.Code != http.StatusUnauthorized {
					t.Fatalf("status %d; want 401 (consumer %q)", res.Code, res.X.Consumer)
				}
				if res.Body.String() != unauthorizedBody {
					t.Errorf("401 body = %s; want the generic one", res.Body)
				}
				if diff := cmp.Diff(tt.www, res.Header().Values("WWW-Authenticate")); diff != "" {
					t.Errorf("WWW-Authenticate (-want +got):\n%s", diff)
				}
				t.Logf("logged: %v", res.Err)
				return
			}
			if res.Code != http.StatusOK || res.X.Consumer != tt.consumer || res.X.AuthnBy != Name {
				t.Fatalf("got %d, consumer %q by %q; want 200 %q (error %v)", res.Code, res.X.Consumer, res.X.AuthnBy, tt.consumer, res.Err)
			}
			// The credential never reaches the upstream (hide_credentials).
			if up.header.Get("Authorization") != "" || strings.Contains(up.query, "jwt=") || strings.Contains(up.header.Get("Cookie"), "jwt=") {
				t.Errorf("upstream saw the token: headers %v, query %q", up.header, up.query)
			}
		})
	}

	t.Run("groups come from the configured consumer", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+hs("HS256", secretA, claims("agent-a")))
		res := plugintest.Serve(f.route(t, `{}`, nil), r)
		if !res.X.Caller.InGroup("agents") {
			t.Errorf("caller %+v is not in group agents", res.X.Caller)
		}
	})
}

func TestHideCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := hs("HS256", secretA, claims("agent-a"))
	tests := []struct {
		name, cfg, target, auth, cookie string
		wantQuery, wantAuth, wantCookie string
	}{
		{"hidden from header and query copies", `{}`, "/p?q=1&jwt=" + tok, "Bearer " + tok, "", "q=1", "", ""},
		{"hidden from cookie, other cookies kept", `{}`, "/", "", "a=1; jwt=" + tok + "; b=2", "", "", "a=1; b=2"},
		{"kept when hide_credentials is false", `{"hide_credentials":false}`, "/p?jwt=" + tok, "", "", "jwt=" + tok, "", ""},
		{"basic auth of another plugin is kept", `{}`, "/?jwt=" + tok, "Basic YTpi", "", "", "Basic YTpi", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := &upstream{}
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			res := plugintest.Serve(f.route(t, tt.cfg, up), r)
			if res.Code != 200 {
				t.Fatalf("status %d: %v", res.Code, res.Err)
			}
			if up.query != tt.wantQuery || up.header.Get("Authorization") != tt.wantAuth || up.header.Get("Cookie") != tt.wantCookie {
				t.Errorf("upstream got query %q, Authorization %q, Cookie %q; want %q, %q, %q",
					up.query, up.header.Get("Authorization"), up.header.Get("Cookie"), tt.wantQuery, tt.wantAuth, tt.wantCookie)
			}
		})
	}
}

// TestSkipsWhenAuthenticated: with two Authn plugins and "any" policy, a
// caller identified by the first is passed on, and the JWT still does not
// go upstream.
func TestSkipsWhenAuthenticated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := plugin.Use{Kind: plugin.Kind{Name: "first", Phase: plugin.Authn}, MW: func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			plugin.ExchangeOf(r).Identify(&plugin.Consumer{Name: "early"}, "first")
			return next.ServeHTTP(w, r)
		})
	}}
	up := &upstream{}
	h := plugintest.Route(plugin.AuthnPolicy{}, up, first, use(t, f.env, `{}`, f.clk.Now, nil))
	r := httptest.NewRequest("GET", "/?jwt=garbage", nil)
	res := plugintest.Serve(h, r)
	if res.Code != 200 || res.X.Consumer != "early" || up.query != "" {
		t.Errorf("got %d consumer %q, upstream query %q; want 200 early and no token", res.Code, res.X.Consumer, up.query)
	}
}

func TestJWKSProviderDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.p.SetJWKSStatus(oidctest.Down)
	h := f.route(t, `{}`, nil)
	send := func() plugintest.Result {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+f.p.Mint(claims("jwks-f")))
		return plugintest.Serve(h, r)
	}
	// Down from the start: a clear 401, no crash.
	if res := send(); res.Code != 401 || !strings.Contains(errString(res.Err), "no key set from") {
		t.Fatalf("provider down: %d %v; want 401 naming the key set", res.Code, res.Err)
	}
	// Back up: after the retry interval, keys arrive.
	f.p.SetJWKSStatus(0)
	f.clk.Add(10 * time.Second)
	if res := send(); res.Code != 200 {
		t.Fatalf("provider back: %d %v", res.Code, res.Err)
	}
	// Down again, and the set stale: the cached keys still work.
	f.p.SetJWKSStatus(500)
	f.clk.Add(time.Hour)
	for range 3 {
		if res := send(); res.Code != 200 {
			t.Fatalf("provider down with cached keys: %d %v", res.Code, res.Err)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	c := defaults()
	env := plugin.Env{Credentials: []plugin.Credential{{Consumer: &plugin.Consumer{Name: "x"}, Value: "not a credential"}}}
	if _, err := build(env, c, options{now: time.Now}); err == nil || !strings.Contains(err.Error(), "consumer x: credential is string") {
		t.Errorf("build = %v", err)
	}
	cred := &Credential{Key: "k", Secret: secretA, Algorithm: "HS256"}
	env.Credentials = []plugin.Credential{{Consumer: &plugin.Consumer{Name: "a"}, Value: cred}, {Consumer: &plugin.Consumer{Name: "b"}, Value: cred}}
	if _, err := build(env, c, options{now: time.Now}); err == nil || err.Error() != "consumers a and b have the same jwt-auth key" {
		t.Errorf("build = %v", err)
	}
	// No credentials at all: builds, and refuses every token.
	mw, err := Kind.Build(plugin.Env{}, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+hs("HS256", secretA, claims("agent-a")))
	if res := plugintest.Serve(plugintest.Route(plugin.AuthnPolicy{}, nil, plugin.Use{Kind: Kind, MW: mw}), r); res.Code != 401 {
		t.Errorf("no consumers: %d", res.Code)
	}
}

type counter struct{ n *int }

func (c counter) Inc() { *c.n++ }

func TestDecisions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	counts := map[string]*int{}
	f.env.Decisions = func(d string) plugin.Counter {
		counts[d] = new(int)
		return counter{counts[d]}
	}
	h := f.route(t, `{}`, nil)
	for _, auth := range []string{"", "Bearer x", "Bearer " + hs("HS256", secretA, claims("agent-a")), "Bearer a.b.c"} {
		r := httptest.NewRequest("GET", "/", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		plugintest.Serve(h, r)
	}
	got := map[string]int{}
	for k, v := range counts {
		got[k] = *v
	}
	if diff := cmp.Diff(map[string]int{"missing": 1, "invalid": 2, "identified": 1}, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}
