// Package oidctest is an OpenID provider that runs inside a test process,
// for the jwt-auth and openid-connect plugins' tests: a discovery document,
// a JWK set with keys that can be added, rotated and withdrawn (RSA, EC and
// Ed25519), token minting with any claims, header and algorithm (including
// forged ones), switches that make the JWK set or discovery fail (an HTTP
// status, or a dropped connection), and an RFC 7662 introspection endpoint.
// Every endpoint counts its calls, so tests can prove what was cached.
//
// Tokens are signed with github.com/golang-jwt/jwt/v5, the library the
// plugins verify with; JWKs are written here, independently of
// jwtverify's parser, so the two check each other.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Paths of the provider's endpoints, under Provider.URL.
const (
	DiscoveryPath     = "/.well-known/openid-configuration"
	JWKSPath          = "/jwks"
	IntrospectionPath = "/introspect"
)

// Down, given to SetJWKSStatus or SetDiscoveryStatus, makes the endpoint
// drop the connection without answering, like a provider that is down.
const Down = -1

var keyIDs atomic.Int64

// Key is one signing key of the provider.
type Key struct {
	ID     string
	Alg    string
	Signer crypto.Signer
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.Signer.Public() }

// Provider is the test OpenID provider. Its methods are safe for concurrent
// use with the requests it serves.
type Provider struct {
	// URL is the issuer: the server's base URL, with no trailing slash.
	URL string
	// ClientID and ClientSecret are the credentials the introspection
	// endpoint requires (client_secret_basic or client_secret_post).
	ClientID, ClientSecret string

	srv *httptest.Server

	mu              sync.Mutex
	now             func() time.Time
	keys            []*Key // published, in order
	signer          *Key
	jwksStatus      int
	discoveryStatus int
	jwksBody        string         // served instead of the keys when set
	discovery       map[string]any // overrides of discovery fields
	tokens          map[string]map[string]any
	calls           map[string]int
}

// New starts a provider with one RS256 signing key; t.Cleanup stops it.
func New(t testing.TB) *Provider {
	t.Helper()
	p := &Provider{
		ClientID:     "sluice",
		ClientSecret: "introspection-secret",
		now:          time.Now,
		discovery:    map[string]any{},
		tokens:       map[string]map[string]any{},
		calls:        map[string]int{},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	p.Rotate("RS256")
	return p
}

// Client returns an HTTP client for the provider's server.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// SetClock sets the provider's clock: the iat and exp of Claims and the
// expiry of introspected tokens follow it.
func (p *Provider) SetClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}

// NewKey generates a key for alg (RS*, PS*, ES256/384/512 or EdDSA) and
// publishes it, without signing with it yet.
func (p *Provider) NewKey(alg string) *Key {
	var signer crypto.Signer
	var err error
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case alg == "ES256":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case alg == "ES384":
		signer, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case alg == "ES512":
		signer, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case alg == "EdDSA":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		panic("oidctest: no key type for alg " + alg)
	}
	if err != nil {
		panic(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Kids are unique across providers, so that a kid from one provider
	// never names a key of another by accident.
	k := &Key{ID: fmt.Sprintf("key-%d-%s", keyIDs.Add(1), strings.ToLower(alg)), Alg: alg, Signer: signer}
	p.keys = append(p.keys, k)
	return k
}

// Rotate publishes a new key for alg and signs with it from now on. The
// old keys stay published until Withdraw.
func (p *Provider) Rotate(alg string) *Key {
	k := p.NewKey(alg)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signer = k
	return k
}

// Withdraw stops publishing k.
func (p *Provider) Withdraw(k *Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, pk := range p.keys {
		if pk == k {
			p.keys = append(p.keys[:i:i], p.keys[i+1:]...)
			return
		}
	}
}

// SigningKey returns the key Mint signs with.
func (p *Provider) SigningKey() *Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signer
}

// SetJWKSStatus makes the JWK set answer with status code (or drop the
// connection, for Down); 0 restores normal answers.
func (p *Provider) SetJWKSStatus(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwksStatus = code
}

// SetDiscoveryStatus does what SetJWKSStatus does, for discovery.
func (p *Provider) SetDiscoveryStatus(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discoveryStatus = code
}

// SetJWKS makes the JWK set endpoint serve body as it is (an empty set,
// garbage); "" goes back to serving the published keys.
func (p *Provider) SetJWKS(body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwksBody = body
}

// SetDiscoveryField overrides one field of the discovery document (a wrong
// issuer, another jwks_uri); a nil value removes the field.
func (p *Provider) SetDiscoveryField(name string, v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discovery[name] = v
}

// Calls returns how many requests reached path (DiscoveryPath, JWKSPath,
// IntrospectionPath), failed ones included.
func (p *Provider) Calls(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[path]
}

// Claims returns the usual claims of an access token for sub: iss, sub,
// aud ("api"), iat (now) and exp (in an hour), by the provider's clock.
// Tests change or delete entries before minting.
func (p *Provider) Claims(sub string) map[string]any {
	p.mu.Lock()
	now := p.now()
	p.mu.Unlock()
	return map[string]any{
		"iss": p.URL,
		"sub": sub,
		"aud": "api",
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// Mint signs claims with the current signing key (its kid in the header)
// and remembers the token for introspection.
func (p *Provider) Mint(claims map[string]any) string {
	return p.MintWith(p.SigningKey(), nil, claims)
}

// MintWith signs claims with k. header entries are added to the header
// ({"typ": "at+jwt"}) or replace alg and kid, to forge a header that does
// not match the key; a nil value removes the entry.
func (p *Provider) MintWith(k *Key, header, claims map[string]any) string {
	h := map[string]any{"alg": k.Alg, "kid": k.ID, "typ": "JWT"}
	maps.Copy(h, header)
	tok := Sign(k.Alg, k.Signer, h, claims)
	p.mu.Lock()
	p.tokens[tok] = claims
	p.mu.Unlock()
	return tok
}

// AddToken makes the introspection endpoint know token (an opaque one) with
// claims; Revoke forgets it.
func (p *Provider) AddToken(token string, claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens[token] = claims
}

// Revoke makes introspection answer active=false for token.
func (p *Provider) Revoke(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.tokens, token)
}

// Sign builds a compact JWS: header and claims as JSON, signed with key by
// the algorithm named alg (golang-jwt's name, "none" included, with
// jwt.UnsafeAllowNoneSignatureType as key). header["alg"] is what the token
// claims and may differ from alg: that is how tests forge tokens. A nil
// header entry is left out.
func Sign(alg string, key any, header, claims map[string]any) string {
	h := map[string]any{}
	for k, v := range header {
		if v != nil {
			h[k] = v
		}
	}
	hb, err := json.Marshal(h)
	if err != nil {
		panic(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		panic("oidctest: unknown alg " + alg)
	}
	sig, err := m.Sign(input, key)
	if err != nil {
		panic(fmt.Sprintf("oidctest: sign %s with %T: %v", alg, key, err))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (p *Provider) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.calls[r.URL.Path]++
	p.mu.Unlock()
	switch r.URL.Path {
	case DiscoveryPath:
		p.serveDiscovery(w)
	case JWKSPath:
		p.serveJWKS(w)
	case IntrospectionPath:
		p.serveIntrospection(w, r)
	default:
		http.NotFound(w, r)
	}
}

// fail answers per a status switch and reports whether it did.
func fail(w http.ResponseWriter, status int) bool {
	switch {
	case status == Down:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	case status > 0:
		http.Error(w, "provider failure", status)
		return true
	}
	return false
}

func (p *Provider) serveDiscovery(w http.ResponseWriter) {
	p.mu.Lock()
	status := p.discoveryStatus
	doc := map[string]any{
		"issuer":                                p.URL,
		"jwks_uri":                              p.URL + JWKSPath,
		"introspection_endpoint":                p.URL + IntrospectionPath,
		"token_endpoint":                        p.URL + "/token",
		"authorization_endpoint":                p.URL + "/authorize",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
	}
	for k, v := range p.discovery {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	p.mu.Unlock()
	if fail(w, status) {
		return
	}
	writeJSON(w, doc)
}

func (p *Provider) serveJWKS(w http.ResponseWriter) {
	p.mu.Lock()
	status, body := p.jwksStatus, p.jwksBody
	keys := make([]map[string]any, 0, len(p.keys))
	for _, k := range p.keys {
		keys = append(keys, JWK(k))
	}
	p.mu.Unlock()
	if fail(w, status) {
		return
	}
	if body != "" {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
		return
	}
	writeJSON(w, map[string]any{"keys": keys})
}

func (p *Provider) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok { // RFC 6749 2.3.1: form-encoded before base64
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	claims, known := p.tokens[r.PostForm.Get("token")]
	now := p.now()
	p.mu.Unlock()
	resp := map[string]any{"active": false}
	if known {
		if exp, ok := claims["exp"]; !ok || toFloat(exp) > float64(now.Unix()) {
			resp = maps.Clone(claims)
			resp["active"] = true
		}
	}
	writeJSON(w, resp)
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// JWK returns k's public half as a JWK (RFC 7517), with kid, alg and use.
func JWK(k *Key) map[string]any {
	j := map[string]any{"kid": k.ID, "alg": k.Alg, "use": "sig"}
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		j["kty"] = "RSA"
		j["n"] = b64(pub.N.Bytes())
		j["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := pub.Bytes()
		if err != nil {
			panic(err)
		}
		size := (len(b) - 1) / 2
		j["kty"] = "EC"
		j["crv"] = pub.Curve.Params().Name
		j["x"] = b64(b[1 : 1+size])
		j["y"] = b64(b[1+size:])
	case ed25519.PublicKey:
		j["kty"] = "OKP"
		j["crv"] = "Ed25519"
		j["x"] = b64(pub)
	default:
		panic(fmt.Sprintf("oidctest: no JWK form for %T", pub))
	}
	return j
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
