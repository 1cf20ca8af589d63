// Package openidconnect implements the openid-connect plugin as an OAuth 2.0
// resource server (APISIX's openid-connect in bearer_only mode): it accepts
// access tokens issued by an OpenID provider, verifies JWTs locally with the
// provider's published keys, or asks the provider about opaque tokens by
// RFC 7662 introspection, checks issuer, audience, scopes and times, and maps
// a claim to a consumer.
//
// The provider is discovered lazily: a provider that is down when the config
// loads does not fail the config; requests get 401 until discovery works,
// which is retried at most once per jwks_min_refresh_interval and logged once
// per attempt. Discovery, key sets and introspection use
// plugins/internal/jwtverify.
package openidconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/headerop"
	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
)

// Name is the plugin's name.
const Name = "openid-connect"

// Kind is the openid-connect plugin.
var Kind = plugin.Define(Name, plugin.Authn, defaults, New)

// Config is the openid-connect plugin's configuration.
type Config struct {
	// Issuer is the provider's issuer URL; tokens' iss must equal it, and
	// discovery is at Issuer + "/.well-known/openid-configuration".
	// Required unless Discovery is set (then the document's issuer is used).
	Issuer string `json:"issuer"`
	// Discovery overrides the discovery document's URL (an RFC 8414
	// oauth-authorization-server document works too).
	Discovery string `json:"discovery"`
	// JWKSURI overrides the document's jwks_uri. With Issuer and JWKSURI
	// set (and no introspection needing the document's endpoint), nothing
	// is discovered.
	JWKSURI string `json:"jwks_uri"`
	// Audience: the token's aud must contain one of these. Required: without
	// it, a token the provider issued for any other client would do.
	Audience jwtverify.StringList `json:"audience"`
	// RequiredScopes must all be granted (the space-separated scope claim,
	// or scp).
	RequiredScopes jwtverify.StringList `json:"required_scopes"`
	// ConsumerClaim names the consumer. Default "sub". A dotted name
	// ("realm_access.user") reaches into nested objects.
	ConsumerClaim string `json:"consumer_claim"`
	// GroupsClaim, if set, gives the groups of a caller that is not a
	// configured consumer (a string or a list of strings).
	GroupsClaim string `json:"groups_claim"`
	// RequireConsumer refuses tokens whose consumer claim does not name a
	// configured consumer. Default false: such callers get a consumer of
	// their own, named by the claim.
	RequireConsumer bool `json:"require_consumer"`
	// Algorithms are the signature algorithms accepted. Default RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA. HMAC
	// and "none" are never accepted.
	Algorithms []string `json:"algorithms"`
	// ClockSkew is the grace allowed on exp and nbf, and how far in the
	// future iat may be. Default 30s.
	ClockSkew jwtverify.Duration `json:"clock_skew"`
	// Header carries "Bearer <token>". Default "Authorization".
	Header string `json:"header"`
	// HideCredentials removes the token before the request goes upstream.
	// Default false: upstream services of a resource server commonly read
	// the caller's token.
	HideCredentials bool `json:"hide_credentials"`
	// Realm is the realm of the WWW-Authenticate challenge. Default
	// "sluice".
	Realm string `json:"realm"`
	// Timeout bounds each discovery, key set and introspection request.
	// Default 3s.
	Timeout jwtverify.Duration `json:"timeout"`
	// JWKSRefreshInterval is the age at which the key set is fetched again,
	// in the background. Default 5m.
	JWKSRefreshInterval jwtverify.Duration `json:"jwks_refresh_interval"`
	// JWKSMinRefreshInterval is the least time between two fetches of the
	// key set (on unknown kids, on failures) and between discovery
	// attempts. Default 10s.
	JWKSMinRefreshInterval jwtverify.Duration `json:"jwks_min_refresh_interval"`
	// Introspection configures RFC 7662 token introspection; it is used
	// when Introspection.ClientID is set.
	Introspection *Introspection `json:"introspection"`
}

// Introspection configures RFC 7662 token introspection.
type Introspection struct {
	// Endpoint overrides the discovery document's introspection_endpoint.
	Endpoint string `json:"endpoint"`
	// ClientID and ClientSecret authenticate the gateway to the endpoint.
	ClientID     string           `json:"client_id"`
	ClientSecret jwtverify.Secret `json:"client_secret"`
	// AuthMethod is client_secret_basic (default) or client_secret_post.
	AuthMethod string `json:"auth_method"`
	// Use is "opaque" (default: JWTs are verified locally, other tokens are
	// introspected) or "always" (every token is introspected, so revoked
	// JWTs are refused at once).
	Use string `json:"use"`
	// CacheTTL bounds how long an answer is reused; an active token's
	// answer also expires at its exp. 0 disables the cache. Default 60s.
	CacheTTL jwtverify.Duration `json:"cache_ttl"`
	// CacheSize bounds the number of cached answers. Default 10000.
	CacheSize int `json:"cache_size"`
}

func defaults() *Config {
	return &Config{
		ConsumerClaim:          "sub",
		Algorithms:             append([]string(nil), jwtverify.AsymmetricAlgorithms...),
		ClockSkew:              jwtverify.Dur(30 * time.Second),
		Header:                 "Authorization",
		Realm:                  "sluice",
		Timeout:                jwtverify.Dur(3 * time.Second),
		JWKSRefreshInterval:    jwtverify.Dur(5 * time.Minute),
		JWKSMinRefreshInterval: jwtverify.Dur(10 * time.Second),
		Introspection: &Introspection{
			AuthMethod: "client_secret_basic",
			Use:        "opaque",
			CacheTTL:   jwtverify.Dur(time.Minute),
			CacheSize:  10000,
		},
	}
}

// introspecting reports whether introspection is configured.
func (c *Config) introspecting() bool {
	return c.Introspection != nil && c.Introspection.ClientID != ""
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.Issuer == "" && c.Discovery == "":
		add("issuer: required (or discovery): the provider's issuer URL, like https://idp.example.org/realms/main")
	case c.Issuer != "" && !httpURL(c.Issuer):
		add("issuer: %q is not an http or https URL", c.Issuer)
	}
	if c.Discovery != "" && !httpURL(c.Discovery) {
		add("discovery: %q is not an http or https URL", c.Discovery)
	}
	if c.JWKSURI != "" && !httpURL(c.JWKSURI) {
		add("jwks_uri: %q is not an http or https URL", c.JWKSURI)
	}
	if len(c.Audience) == 0 {
		add("audience: required: the audience (aud) your tokens are issued for, such as the API's client ID")
	}
	for i, a := range c.Audience {
		if a == "" {
			add("audience[%d]: must not be empty", i)
		}
	}
	for i, s := range c.RequiredScopes {
		if s == "" || strings.ContainsAny(s, " \t") {
			add("required_scopes[%d]: %q is not one scope", i, s)
		}
	}
	if c.ConsumerClaim == "" {
		add("consumer_claim: required (the claim naming the consumer, like sub)")
	}
	if len(c.Algorithms) == 0 {
		add("algorithms: must not be empty")
	}
	for i, a := range c.Algorithms {
		switch {
		case jwtverify.IsHMAC(a):
			add("algorithms[%d]: %s is not allowed: tokens are verified with the provider's public keys", i, a)
		case !jwtverify.Known(a):
			add("algorithms[%d]: %q is not supported; use some of %s", i, a, strings.Join(jwtverify.AsymmetricAlgorithms, ", "))
		}
	}
	if err := c.ClockSkew.Check("clock_skew", 0, time.Hour); err != nil {
		errs = append(errs, err)
	}
	if !headerop.ValidName(c.Header) {
		add("header: %q is not a valid header name", c.Header)
	}
	if n := len(c.Realm); n < 1 || n > 256 || strings.ContainsFunc(c.Realm, isCTL) {
		add("realm: must be 1 to 256 bytes without control characters")
	}
	for _, e := range []error{
		c.Timeout.Check("timeout", time.Millisecond, time.Minute),
		c.JWKSRefreshInterval.Check("jwks_refresh_interval", time.Second, 7*24*time.Hour),
		c.JWKSMinRefreshInterval.Check("jwks_min_refresh_interval", 0, time.Hour),
	} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if in := c.Introspection; in != nil {
		if in.ClientID == "" && (in.Endpoint != "" || in.ClientSecret != "" || in.Use == "always") {
			add("introspection.client_id: required to use introspection")
		}
		if in.ClientID != "" && in.ClientSecret == "" {
			add("introspection.client_secret: required with client_id")
		}
		if in.Endpoint != "" && !httpURL(in.Endpoint) {
			add("introspection.endpoint: %q is not an http or https URL", in.Endpoint)
		}
		if in.AuthMethod != "client_secret_basic" && in.AuthMethod != "client_secret_post" {
			add("introspection.auth_method: %q is not client_secret_basic or client_secret_post", in.AuthMethod)
		}
		if in.Use != "opaque" && in.Use != "always" {
			add("introspection.use: %q is not opaque or always", in.Use)
		}
		if err := in.CacheTTL.Check("introspection.cache_ttl", 0, time.Hour); err != nil {
			errs = append(errs, err)
		}
		if in.CacheSize < 1 || in.CacheSize > 1_000_000 {
			add("introspection.cache_size: %d is out of range (1 to 1000000)", in.CacheSize)
		}
	}
	return errors.Join(errs...)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }

// options are what tests replace.
type options struct {
	now    func() time.Time
	client *http.Client
}

// New builds the middleware from a decoded, validated c. It starts
// discovery and the first key set fetch in the background; env.Cleanup
// stops them.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	p, err := build(env, c, options{now: time.Now})
	if err != nil {
		return nil, err
	}
	return p.middleware, nil
}

// metadata is what discovery yields.
type metadata struct {
	issuer, jwksURI, introspection string
}

type oidc struct {
	src             jwtverify.Source
	hide            bool
	v               *jwtverify.Verifier
	checks          jwtverify.Checks // Issuer is set per request from the metadata
	consumerClaim   string
	groupsClaim     string
	requireConsumer bool
	consumers       map[string]*plugin.Consumer
	missing         string
	invalid         string
	scopeChallenge  string
	log             *slog.Logger
	opt             jwtverify.LoaderOptions
	client          *http.Client

	disc  *jwtverify.Loader[*metadata]
	intro *introspector // nil without introspection
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu   sync.Mutex                       // guards making keys
	keys atomic.Pointer[jwtverify.Remote] // made once discovery has given jwks_uri

	missingN, invalidN, okN plugin.Counter
}

func build(env plugin.Env, c *Config, o options) (*oidc, error) {
	v, err := jwtverify.NewVerifier(c.Algorithms)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := o.client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &oidc{
		src:             jwtverify.Source{Header: c.Header},
		hide:            c.HideCredentials,
		v:               v,
		checks:          jwtverify.Checks{Clock: o.now, Skew: c.ClockSkew.D, RequireExp: true, Audience: c.Audience, Scopes: c.RequiredScopes},
		consumerClaim:   c.ConsumerClaim,
		groupsClaim:     c.GroupsClaim,
		requireConsumer: c.RequireConsumer,
		consumers:       env.Consumers,
		missing:         plugin.MakeChallenge("Bearer", "realm", c.Realm),
		invalid:         plugin.MakeChallenge("Bearer", "realm", c.Realm, "error", "invalid_token"),
		scopeChallenge:  plugin.MakeChallenge("Bearer", "realm", c.Realm, "error", "insufficient_scope", "scope", strings.Join(c.RequiredScopes, " ")),
		log:             log,
		client:          client,
		opt: jwtverify.LoaderOptions{
			Timeout:     c.Timeout.D,
			Refresh:     c.JWKSRefreshInterval.D,
			MinInterval: c.JWKSMinRefreshInterval.D,
			Clock:       o.now,
		},
		ctx:      ctx,
		stop:     stop,
		missingN: env.Decision("missing"),
		invalidN: env.Decision("invalid"),
		okN:      env.Decision("identified"),
	}
	if c.introspecting() {
		in := c.Introspection
		p.intro = &introspector{
			client:  client,
			id:      in.ClientID,
			secret:  in.ClientSecret.Reveal(),
			post:    in.AuthMethod == "client_secret_post",
			always:  in.Use == "always",
			timeout: c.Timeout.D,
			ttl:     in.CacheTTL.D,
			size:    in.CacheSize,
			now:     o.now,
			cache:   map[[32]byte]answer{},
		}
	}
	p.disc = p.discovery(c)
	env.Cleanup(p.close)
	// Discover and fetch the keys now, in the background, so the first
	// request need not wait; a provider that is down delays nothing.
	p.wg.Go(func() {
		m, err := p.disc.Get(p.ctx, false)
		if err == nil && m.jwksURI != "" && (p.intro == nil || !p.intro.always) {
			p.remote(m).Prefetch()
		}
	})
	return p, nil
}

func (p *oidc) middleware(next plugin.Handler) plugin.Handler {
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p.serve(r)
		return next.ServeHTTP(w, r)
	})
}

// discovery returns the loader of the provider's metadata: the discovery
// document with the config's overrides, or the overrides alone when they
// are enough.
func (p *oidc) discovery(c *Config) *jwtverify.Loader[*metadata] {
	static := &metadata{issuer: c.Issuer, jwksURI: c.JWKSURI}
	if c.introspecting() {
		static.introspection = c.Introspection.Endpoint
	}
	needsDoc := c.Issuer == "" || c.JWKSURI == "" || c.introspecting() && c.Introspection.Endpoint == ""
	docURL := c.Discovery
	if docURL == "" {
		// OpenID Connect Discovery 1.0 section 4: a trailing / of the issuer
		// is removed before the well-known path is appended.
		docURL = strings.TrimSuffix(c.Issuer, "/") + "/.well-known/openid-configuration"
	}
	opt := p.opt
	opt.Refresh = 0 // discovered once per config generation
	opt.OnError = func(err error) {
		p.log.Warn("OpenID provider discovery failed; tokens are refused until it works", "discovery", docURL, "error", err)
	}
	opt.OnRecover = func() { p.log.Info("OpenID provider discovery works again", "discovery", docURL) }
	return jwtverify.NewLoader(func(ctx context.Context) (*metadata, error) {
		if !needsDoc {
			return static, nil
		}
		b, err := jwtverify.Fetch(ctx, p.client, docURL, "application/json")
		if err != nil {
			return nil, err
		}
		var doc struct {
			Issuer        string `json:"issuer"`
			JWKSURI       string `json:"jwks_uri"`
			Introspection string `json:"introspection_endpoint"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("GET %s: not a discovery document: %w", docURL, err)
		}
		m := &metadata{issuer: doc.Issuer, jwksURI: doc.JWKSURI, introspection: doc.Introspection}
		switch {
		case m.issuer == "":
			return nil, fmt.Errorf("GET %s: the document has no issuer", docURL)
		// OpenID Connect Discovery 1.0 section 4.3: the issuer in the
		// document must be identical to the one it was discovered from.
		case c.Issuer != "" && m.issuer != c.Issuer:
			return nil, fmt.Errorf("GET %s: the document's issuer %q is not the configured issuer %q", docURL, m.issuer, c.Issuer)
		}
		if static.jwksURI != "" {
			m.jwksURI = static.jwksURI
		}
		if static.introspection != "" {
			m.introspection = static.introspection
		}
		for what, u := range map[string]string{"jwks_uri": m.jwksURI, "introspection_endpoint": m.introspection} {
			if u != "" && !httpURL(u) {
				return nil, fmt.Errorf("GET %s: %s %q is not an http or https URL", docURL, what, u)
			}
		}
		if m.jwksURI == "" && (p.intro == nil || !p.intro.always) {
			return nil, fmt.Errorf("GET %s: the document has no jwks_uri (set jwks_uri)", docURL)
		}
		if p.intro != nil && m.introspection == "" {
			return nil, fmt.Errorf("GET %s: the document has no introspection_endpoint (set introspection.endpoint)", docURL)
		}
		return m, nil
	}, opt)
}

// remote returns the key set of m, made on first use.
func (p *oidc) remote(m *metadata) *jwtverify.Remote {
	if k := p.keys.Load(); k != nil {
		return k
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if k := p.keys.Load(); k != nil {
		return k
	}
	k := jwtverify.NewRemote(m.jwksURI, jwtverify.RemoteOptions{LoaderOptions: p.opt, Client: p.client, Logger: p.log})
	p.keys.Store(k)
	return k
}

func (p *oidc) close() error {
	p.stop()
	p.wg.Wait()
	p.disc.Close()
	if k := p.keys.Load(); k != nil {
		k.Close()
	}
	return nil
}

// serve records the outcome on the Exchange; the authn gate acts on it.
func (p *oidc) serve(r *http.Request) {
	x := plugin.ExchangeOf(r)
	if x.Authenticated() {
		if p.hide {
			p.src.Strip(r)
		}
		return
	}
	tok, loc, err := p.src.Find(r)
	if p.hide && loc != jwtverify.Nowhere {
		p.src.Strip(r)
	}
	if loc == jwtverify.Nowhere {
		p.missingN.Inc()
		x.Challenge(p.missing)
		return
	}
	var claims map[string]any
	if err == nil {
		claims, err = p.validate(r.Context(), tok)
	}
	if err == nil {
		var c *plugin.Consumer
		if c, err = p.consumer(claims); err == nil {
			p.okN.Inc()
			x.Identify(c, Name)
			return
		}
	}
	p.invalidN.Inc()
	challenge := p.invalid
	if errors.Is(err, jwtverify.ErrScope) {
		// RFC 6750 3.1; the status stays 401 (the authn gate's), not 403.
		challenge = p.scopeChallenge
	}
	x.AuthnFailed(challenge, fmt.Errorf("%s: %w", Name, err))
}

// validate returns the claims of a valid token: a JWT checked locally, or an
// introspection answer.
func (p *oidc) validate(ctx context.Context, tok string) (map[string]any, error) {
	m, err := p.disc.Get(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("provider metadata not available yet: %w", err)
	}
	checks := p.checks
	checks.Issuer = m.issuer
	var claims map[string]any
	switch {
	case p.intro != nil && (p.intro.always || !jwtverify.LooksLikeJWS(tok)):
		if claims, err = p.intro.introspect(ctx, m.introspection, tok); err != nil {
			return nil, err
		}
		// RFC 7662 2.2: everything but active is optional, so iss and exp
		// are checked when the answer has them.
		checks.IssuerIfPresent, checks.RequireExp = true, false
	case !jwtverify.LooksLikeJWS(tok):
		return nil, errors.New("token is not a JWT and introspection is not configured")
	default:
		if claims, err = p.v.Verify(tok, func(alg, kid string, _ jwt.MapClaims) (any, error) {
			return p.remote(m).Key(ctx, kid, alg)
		}); err != nil {
			return nil, err
		}
	}
	if err := checks.Check(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// maxConsumerName bounds a consumer name taken from a token: it goes into
// logs, traces and metric labels.
const maxConsumerName = 256

// consumer maps the claims to the configured consumer the consumer claim
// names, or to a consumer of its own.
func (p *oidc) consumer(claims map[string]any) (*plugin.Consumer, error) {
	v, _ := jwtverify.Claim(claims, p.consumerClaim)
	name, _ := v.(string)
	switch {
	case name == "":
		return nil, fmt.Errorf("token has no %s claim (a non-empty string)", p.consumerClaim)
	case len(name) > maxConsumerName || strings.ContainsFunc(name, isCTL):
		return nil, fmt.Errorf("token's %s claim is longer than %d bytes or has control characters", p.consumerClaim, maxConsumerName)
	}
	if c := p.consumers[name]; c != nil {
		return c, nil
	}
	if p.requireConsumer {
		return nil, fmt.Errorf("token's %s %s is not a configured consumer", p.consumerClaim, jwtverify.Quote(name))
	}
	c := &plugin.Consumer{Name: name}
	if p.groupsClaim != "" {
		if g, ok := jwtverify.Claim(claims, p.groupsClaim); ok {
			switch g := g.(type) {
			case string:
				c.Groups = []string{g}
			case []any:
				for _, e := range g {
					if s, ok := e.(string); ok {
						c.Groups = append(c.Groups, s)
					}
				}
			}
		}
	}
	return c, nil
}
