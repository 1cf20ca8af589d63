// Package jwtauth implements the jwt-auth plugin: it identifies the caller
// by a JSON Web Token signed with a key of one of the consumers. The token's
// key claim (default "key") names the consumer's credential; the signature
// is then checked with that consumer's secret, public key or JWK set and
// algorithm only, so neither another consumer's key nor an algorithm the
// consumer did not choose can ever verify it. Keys follow APISIX's jwt-auth
// plugin.
//
// The shared JWT code (token extraction, algorithm allowlisting, key sets,
// claim checks) is in plugins/internal/jwtverify, which also explains the
// choice of JOSE library.
package jwtauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/headerop"
	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
)

// Name is the plugin's name, also its key under consumers[].credentials.
const Name = "jwt-auth"

// Kind is the jwt-auth plugin.
var Kind = func() plugin.Kind {
	k := plugin.Define(Name, plugin.Authn, defaults, New)
	k.Credential = plugin.DefineCredential(newCredential, func(c *Credential) string { return c.Key })
	return k
}()

// Config is the jwt-auth plugin's configuration. The token is looked for in
// the header, then the query, then the cookie.
type Config struct {
	// Header carries "Bearer <token>" or the bare token. Default
	// "Authorization"; "" does not look in headers.
	Header string `json:"header"`
	// Query is the query parameter carrying the token. Default "jwt"; ""
	// does not look in the query.
	Query string `json:"query"`
	// Cookie is the cookie carrying the token. Default "jwt"; "" does not
	// look in cookies.
	Cookie string `json:"cookie"`
	// HideCredentials removes the token from every place above before the
	// request goes upstream. Default true (APISIX: false).
	HideCredentials bool `json:"hide_credentials"`
	// KeyClaimName is the claim that holds the consumer's key. Default
	// "key".
	KeyClaimName string `json:"key_claim_name"`
	// ClockSkew is the grace allowed on exp and nbf, and how far in the
	// future iat may be. Default 30s.
	ClockSkew jwtverify.Duration `json:"clock_skew"`
	// Issuer, if set, must equal the token's iss.
	Issuer string `json:"issuer"`
	// Audience, if set, must share a value with the token's aud.
	Audience jwtverify.StringList `json:"audience"`
	// Realm is the realm of the WWW-Authenticate challenge. Default
	// "sluice".
	Realm string `json:"realm"`
	// Timeout bounds each fetch of a consumer's jwks_url. Default 3s.
	Timeout jwtverify.Duration `json:"timeout"`
	// JWKSRefreshInterval is the age at which a JWK set is fetched again in
	// the background. Default 5m.
	JWKSRefreshInterval jwtverify.Duration `json:"jwks_refresh_interval"`
	// JWKSMinRefreshInterval is the least time between two fetches of one
	// JWK set, however many unknown kids or failures come. Default 10s.
	JWKSMinRefreshInterval jwtverify.Duration `json:"jwks_min_refresh_interval"`
}

func defaults() *Config {
	return &Config{
		Header:                 "Authorization",
		Query:                  "jwt",
		Cookie:                 "jwt",
		HideCredentials:        true,
		KeyClaimName:           "key",
		ClockSkew:              jwtverify.Dur(30 * time.Second),
		Realm:                  "sluice",
		Timeout:                jwtverify.Dur(3 * time.Second),
		JWKSRefreshInterval:    jwtverify.Dur(5 * time.Minute),
		JWKSMinRefreshInterval: jwtverify.Dur(10 * time.Second),
	}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if c.Header == "" && c.Query == "" && c.Cookie == "" {
		errs = append(errs, errors.New("header, query, cookie: all are empty; set at least one place to look for the token"))
	}
	if c.Header != "" && !headerop.ValidName(c.Header) {
		errs = append(errs, fmt.Errorf("header: %q is not a valid header name", c.Header))
	}
	if hasCTL(c.Query) || strings.ContainsAny(c.Query, "&=") {
		errs = append(errs, fmt.Errorf("query: %q contains control characters, & or =", c.Query))
	}
	if c.Cookie != "" && !headerop.ValidName(c.Cookie) {
		errs = append(errs, fmt.Errorf("cookie: %q is not a valid cookie name", c.Cookie))
	}
	if c.KeyClaimName == "" {
		errs = append(errs, errors.New("key_claim_name: required (the claim naming the consumer's key)"))
	}
	if err := c.ClockSkew.Check("clock_skew", 0, time.Hour); err != nil {
		errs = append(errs, err)
	}
	for i, a := range c.Audience {
		if a == "" {
			errs = append(errs, fmt.Errorf("audience[%d]: must not be empty", i))
		}
	}
	if n := len(c.Realm); n < 1 || n > 256 || hasCTL(c.Realm) {
		errs = append(errs, errors.New("realm: must be 1 to 256 bytes without control characters"))
	}
	errs = append(errs, jwksChecks(c.Timeout, c.JWKSRefreshInterval, c.JWKSMinRefreshInterval)...)
	return errors.Join(errs...)
}

func jwksChecks(timeout, refresh, minRefresh jwtverify.Duration) []error {
	var errs []error
	for _, e := range []error{
		timeout.Check("timeout", time.Millisecond, time.Minute),
		refresh.Check("jwks_refresh_interval", time.Second, 7*24*time.Hour),
		minRefresh.Check("jwks_min_refresh_interval", 0, time.Hour),
	} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}

func hasCTL(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Credential is a consumer's `credentials.jwt-auth` entry: a key and exactly
// one of secret (HS*), public_key or jwks_url (RS*, PS*, ES*, EdDSA).
type Credential struct {
	// Key is what the token's key claim must hold. Required; unique across
	// consumers. It is an identifier, not a secret (anyone holding a token
	// can read it).
	Key string `json:"key"`
	// Secret is the HMAC secret (HS256, HS384, HS512): at least as long as
	// the hash, 32, 48 or 64 bytes (RFC 7518 3.2). Never logged.
	Secret jwtverify.Secret `json:"secret"`
	// Base64Secret says Secret is base64 (standard or URL alphabet, padded
	// or not). Default false.
	Base64Secret bool `json:"base64_secret"`
	// PublicKey is a PEM public key (PUBLIC KEY, RSA PUBLIC KEY or
	// CERTIFICATE) for the asymmetric algorithms.
	PublicKey string `json:"public_key"`
	// JWKSURL is an http(s) URL of a JWK set; the token's kid picks the key.
	JWKSURL string `json:"jwks_url"`
	// Algorithm is the one algorithm the consumer's tokens may use. Default
	// HS256.
	Algorithm string `json:"algorithm"`
}

func newCredential() *Credential { return &Credential{Algorithm: "HS256"} }

// Validate returns every problem in c. It never quotes the secret.
func (c *Credential) Validate() error {
	var errs []error
	switch {
	case c.Key == "":
		errs = append(errs, errors.New("key: required (the value of the token's key claim)"))
	case hasCTL(c.Key):
		errs = append(errs, errors.New("key: contains control characters"))
	}
	set := 0
	for _, s := range []string{string(c.Secret), c.PublicKey, c.JWKSURL} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		errs = append(errs, errors.New("secret, public_key, jwks_url: set exactly one"))
	}
	if !jwtverify.Known(c.Algorithm) {
		errs = append(errs, fmt.Errorf("algorithm: %q is not supported; use one of %s", c.Algorithm, strings.Join(jwtverify.Algorithms, ", ")))
		return errors.Join(errs...)
	}
	if c.Base64Secret && c.Secret == "" {
		errs = append(errs, errors.New("base64_secret: set without a secret"))
	}
	hmac := jwtverify.IsHMAC(c.Algorithm)
	switch {
	case c.Secret != "" && !hmac:
		errs = append(errs, fmt.Errorf("secret: %s takes a public_key or jwks_url; a secret needs algorithm HS256, HS384 or HS512", c.Algorithm))
	case c.Secret != "":
		if _, err := c.key(); err != nil {
			errs = append(errs, err)
		}
	case hmac && set == 1:
		errs = append(errs, fmt.Errorf("algorithm: %s (the default) takes a secret; set algorithm to the public key's, such as RS256, ES256 or EdDSA", c.Algorithm))
	case c.PublicKey != "":
		if _, err := c.key(); err != nil {
			errs = append(errs, err)
		}
	case c.JWKSURL != "":
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("jwks_url: %q is not an http or https URL", c.JWKSURL))
		}
	}
	return errors.Join(errs...)
}

// key returns the static verification key: the decoded secret, or the
// parsed public key. Errors never quote the secret.
func (c *Credential) key() (any, error) {
	if c.Secret != "" {
		b := []byte(c.Secret.Reveal())
		if c.Base64Secret {
			var err error
			if b, err = decodeBase64(c.Secret.Reveal()); err != nil {
				return nil, errors.New("secret: base64_secret is set but the secret is not valid base64")
			}
		}
		if err := jwtverify.KeyFits(c.Algorithm, b); err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		return b, nil
	}
	k, err := jwtverify.ParsePublicKey(c.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("public_key: %w", err)
	}
	if err := jwtverify.KeyFits(c.Algorithm, k); err != nil {
		return nil, fmt.Errorf("public_key: %w", err)
	}
	return k, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// options are what tests replace.
type options struct {
	now    func() time.Time
	client *http.Client
}

// New builds the middleware from a decoded, validated c and the consumers'
// credentials in env.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	return build(env, c, options{now: time.Now})
}

// entry is one consumer's verification key.
type entry struct {
	consumer *plugin.Consumer
	alg      string
	key      any               // []byte or a public key; nil with remote
	remote   *jwtverify.Remote // jwks_url
}

type auth struct {
	src      jwtverify.Source
	hide     bool
	keyClaim string
	byKey    map[string]*entry
	v        *jwtverify.Verifier
	checks   jwtverify.Checks
	missing  string // challenge without a credential
	invalid  string // challenge for a wrong one
	remotes  map[string]*jwtverify.Remote

	missingN, invalidN, okN plugin.Counter
}

func build(env plugin.Env, c *Config, o options) (plugin.Middleware, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &auth{
		src:      jwtverify.Source{Header: c.Header, Query: c.Query, Cookie: c.Cookie},
		hide:     c.HideCredentials,
		keyClaim: c.KeyClaimName,
		byKey:    map[string]*entry{},
		checks:   jwtverify.Checks{Clock: o.now, Skew: c.ClockSkew.D, Issuer: c.Issuer, Audience: c.Audience},
		missing:  plugin.MakeChallenge("Bearer", "realm", c.Realm),
		invalid:  plugin.MakeChallenge("Bearer", "realm", c.Realm, "error", "invalid_token"),
		remotes:  map[string]*jwtverify.Remote{},
		missingN: env.Decision("missing"),
		invalidN: env.Decision("invalid"),
		okN:      env.Decision("identified"),
	}
	var algs []string
	for _, cr := range env.Credentials {
		cred, ok := cr.Value.(*Credential)
		if !ok {
			return nil, fmt.Errorf("consumer %s: credential is %T, not *jwtauth.Credential", cr.Consumer.Name, cr.Value)
		}
		if prev, dup := a.byKey[cred.Key]; dup {
			return nil, fmt.Errorf("consumers %s and %s have the same jwt-auth key", prev.consumer.Name, cr.Consumer.Name)
		}
		e := &entry{consumer: cr.Consumer, alg: cred.Algorithm}
		if cred.JWKSURL != "" {
			// One cache per URL: consumers sharing a provider share its keys.
			e.remote = a.remotes[cred.JWKSURL]
			if e.remote == nil {
				e.remote = jwtverify.NewRemote(cred.JWKSURL, jwtverify.RemoteOptions{
					LoaderOptions: jwtverify.LoaderOptions{
						Timeout:     c.Timeout.D,
						Refresh:     c.JWKSRefreshInterval.D,
						MinInterval: c.JWKSMinRefreshInterval.D,
						Clock:       o.now,
					},
					Client: o.client,
					Logger: log,
				})
				a.remotes[cred.JWKSURL] = e.remote
				env.Cleanup(e.remote.Close)
			}
		} else {
			k, err := cred.key()
			if err != nil {
				return nil, fmt.Errorf("consumer %s: credentials.%s.%w", cr.Consumer.Name, Name, err)
			}
			e.key = k
		}
		a.byKey[cred.Key] = e
		if !slices.Contains(algs, cred.Algorithm) {
			algs = append(algs, cred.Algorithm)
		}
	}
	v, err := jwtverify.NewVerifier(algs)
	if err != nil {
		return nil, err
	}
	a.v = v
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			a.serve(r)
			return next.ServeHTTP(w, r)
		})
	}, nil
}

// serve records the outcome on the Exchange; the authn gate acts on it.
func (a *auth) serve(r *http.Request) {
	x := plugin.ExchangeOf(r)
	if x.Authenticated() {
		if a.hide {
			a.src.Strip(r) // still our credential: the upstream gets no copy
		}
		return
	}
	tok, loc, err := a.src.Find(r)
	if a.hide && loc != jwtverify.Nowhere {
		a.src.Strip(r)
	}
	if loc == jwtverify.Nowhere {
		a.missingN.Inc()
		x.Challenge(a.missing)
		return
	}
	var c *plugin.Consumer
	if err == nil {
		c, err = a.verify(r.Context(), tok)
	}
	if err != nil {
		a.invalidN.Inc()
		x.AuthnFailed(a.invalid, fmt.Errorf("%s: %w", Name, err))
		return
	}
	a.okN.Inc()
	x.Identify(c, Name)
}

// verify returns the consumer whose key signed tok.
func (a *auth) verify(ctx context.Context, tok string) (*plugin.Consumer, error) {
	var e *entry
	claims, err := a.v.Verify(tok, func(alg, kid string, claims jwt.MapClaims) (any, error) {
		k, ok := claims[a.keyClaim].(string)
		if !ok || k == "" {
			return nil, fmt.Errorf("token has no %s claim (a non-empty string)", a.keyClaim)
		}
		if e = a.byKey[k]; e == nil {
			return nil, fmt.Errorf("no consumer has key %s", jwtverify.Quote(k))
		}
		// The consumer's algorithm, and no other: this is what stops alg
		// "none", HS/RS confusion and downgrades to a weaker algorithm.
		if alg != e.alg {
			return nil, fmt.Errorf("token alg %s is not consumer %s's algorithm %s", alg, e.consumer.Name, e.alg)
		}
		if e.remote != nil {
			return e.remote.Key(ctx, kid, alg)
		}
		return e.key, nil
	})
	if err == nil {
		err = a.checks.Check(claims)
	}
	if err != nil {
		if e != nil {
			return nil, fmt.Errorf("consumer %s: %w", e.consumer.Name, err)
		}
		return nil, err
	}
	return e.consumer, nil
}
