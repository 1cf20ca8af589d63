// Package keyauth implements the key-auth plugin: it identifies the caller
// by an API key sent in a header, a query parameter or a cookie, and maps it
// to the consumer whose `credentials.key-auth.key` it is. Keys follow APISIX's
// key-auth plugin.
//
// Keys are held only as SHA-256 digests once the plugin is built, and looked
// up by digest (see plugins/internal/secret), so neither memory nor timing
// gives a stored key away.
package keyauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/secret"
)

// Name is the plugin's name, also its key under consumers[].credentials.
const Name = "key-auth"

// Kind is the key-auth plugin.
var Kind = func() plugin.Kind {
	k := plugin.Define(Name, plugin.Authn, defaults, New)
	k.Credential = plugin.DefineCredential(func() *Credential { return &Credential{} }, identity)
	return k
}()

// Config is the key-auth plugin's configuration. The key is looked for in
// the header, then the query, then the cookie; at least one must be set.
type Config struct {
	// Header is the request header carrying the key. Default "apikey";
	// "" does not look in headers. "Authorization" takes the key from
	// "Authorization: Bearer KEY", as LLM SDKs send it.
	Header string `json:"header"`
	// Query is the query parameter carrying the key. Default "apikey"; ""
	// does not look in the query.
	Query string `json:"query"`
	// Cookie is the cookie carrying the key. Default "" (none).
	Cookie string `json:"cookie"`
	// HideCredentials removes the key (from every place configured above)
	// before the request goes upstream. Default true.
	HideCredentials bool `json:"hide_credentials"`
	// Realm is the realm of the WWW-Authenticate challenge
	// (`Key realm="sluice"`) sent with a 401. Default "sluice".
	Realm string `json:"realm"`
}

func defaults() *Config {
	return &Config{Header: "apikey", Query: "apikey", HideCredentials: true, Realm: "sluice"}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if c.Header == "" && c.Query == "" && c.Cookie == "" {
		errs = append(errs, errors.New(`header, query, cookie: all are empty; set at least one place to look for the key`))
	}
	if c.Header != "" && !isToken(c.Header) {
		errs = append(errs, fmt.Errorf("header: %q is not a valid header name", c.Header))
	}
	if hasCTL(c.Query) {
		errs = append(errs, fmt.Errorf("query: %q contains control characters", c.Query))
	}
	if c.Cookie != "" && !isToken(c.Cookie) {
		errs = append(errs, fmt.Errorf("cookie: %q is not a valid cookie name", c.Cookie))
	}
	if n := len(c.Realm); n < 1 || n > 256 || hasCTL(c.Realm) {
		errs = append(errs, errors.New("realm: must be 1 to 256 bytes without control characters"))
	}
	return errors.Join(errs...)
}

// Credential is a consumer's `credentials.key-auth` entry.
type Credential struct {
	// Key is the consumer's API key. Required; unique across consumers.
	// Take it from the environment or a file ("${AGENT_KEY}").
	Key string `json:"key"`
}

// Validate returns every problem in c. It never quotes the key.
func (c *Credential) Validate() error {
	switch {
	case c.Key == "":
		return errors.New("key: required (a non-empty string)")
	case hasCTL(c.Key):
		return errors.New("key: contains control characters, so no client could send it")
	case strings.TrimLeft(c.Key, " \t") != c.Key || strings.TrimRight(c.Key, " \t") != c.Key:
		return errors.New("key: begins or ends with a space or tab, which HTTP strips from header values")
	}
	// No minimum length, as in APISIX: the key's entropy is the operator's
	// choice, and a length rule would only reject short test keys.
	return nil
}

// identity makes duplicate keys detectable without keeping the key: the
// gateway compares identities and never prints them.
func identity(c *Credential) string {
	d := secret.Sum(c.Key)
	return string(d[:])
}

// Errors for the log (the client sees only the gate's generic 401).
var (
	errInvalid   = errors.New("key-auth: invalid API key")
	errAmbiguous = errors.New("key-auth: the API key is sent more than once")
	errMalformed = errors.New("key-auth: the API key in the query is not validly escaped")
)

// New builds the middleware from a decoded, validated c and the consumers'
// credentials in env.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	ka := &keyAuth{
		src:       newSource(c),
		hide:      c.HideCredentials,
		challenge: plugin.MakeChallenge("Key", "realm", c.Realm),
		missing:   env.Decision("missing"),
		invalid:   env.Decision("invalid"),
		ok:        env.Decision("identified"),
	}
	for _, cr := range env.Credentials {
		k, ok := cr.Value.(*Credential)
		if !ok {
			return nil, fmt.Errorf("consumer %s: credential is %T, not *keyauth.Credential", cr.Consumer.Name, cr.Value)
		}
		if prev, added := ka.keys.Add(secret.Sum(k.Key), cr.Consumer); !added {
			return nil, fmt.Errorf("consumers %s and %s have the same key-auth key", prev.Name, cr.Consumer.Name)
		}
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{keyAuth: ka, next: next}
	}, nil
}

type keyAuth struct {
	src       source
	keys      secret.Index[*plugin.Consumer]
	hide      bool
	challenge string

	missing, invalid, ok plugin.Counter
}

type handler struct {
	*keyAuth
	next plugin.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := plugin.ExchangeOf(r)
	if !x.Authenticated() {
		h.authenticate(x, r)
	}
	// Strip even when another plugin identified the caller: the key is a
	// secret of this gateway, not of the upstream.
	if h.hide {
		h.src.strip(r)
	}
	return h.next.ServeHTTP(w, r)
}

func (h *handler) authenticate(x *plugin.Exchange, r *http.Request) {
	key, st := h.src.find(r)
	switch st {
	case absent:
		h.missing.Inc()
		x.Challenge(h.challenge)
		return
	case ambiguous:
		h.invalid.Inc()
		x.AuthnFailed(h.challenge, errAmbiguous)
		return
	case malformed:
		h.invalid.Inc()
		x.AuthnFailed(h.challenge, errMalformed)
		return
	}
	c, ok := h.keys.Lookup(key)
	if !ok {
		h.invalid.Inc()
		x.AuthnFailed(h.challenge, errInvalid)
		return
	}
	h.ok.Inc()
	x.Identify(c, Name)
}

var _ plugin.Handler = (*handler)(nil)

// isToken reports whether s is an RFC 9110 token (header and cookie names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tchar[c] {
			return false
		}
	}
	return true
}

var tchar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// hasCTL reports whether s holds an ASCII control character (RFC 5234 CTL).
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// unescapeQuery is url.QueryUnescape without the allocation when there is
// nothing to unescape.
func unescapeQuery(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}
