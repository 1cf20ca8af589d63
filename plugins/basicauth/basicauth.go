// Package basicauth implements the basic-auth plugin: it identifies the
// caller by HTTP Basic credentials (RFC 7617), checked against the bcrypt or
// argon2id hash in the consumer's `credentials.basic-auth`. Plain-text
// passwords are refused when the config is loaded.
//
// A login for an unknown username still runs a full hash check, against a
// decoy hash with the parameters most consumers use, so the time an answer
// takes does not tell which usernames exist. Successful logins are cached
// briefly (see cache) because a hash check is meant to be slow.
package basicauth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/secret"
)

// Name is the plugin's name, also its key under consumers[].credentials.
const Name = "basic-auth"

// Kind is the basic-auth plugin.
var Kind = func() plugin.Kind {
	k := plugin.Define(Name, plugin.Authn, defaults, New)
	k.Credential = plugin.DefineCredential(func() *Credential { return &Credential{} }, identity)
	return k
}()

// Config is the basic-auth plugin's configuration.
type Config struct {
	// HideCredentials removes the Basic Authorization header before the
	// request goes upstream. Default true.
	HideCredentials bool `json:"hide_credentials"`
	// Realm is the realm of the WWW-Authenticate challenge sent with a 401
	// (`Basic realm="sluice", charset="UTF-8"`). Default "sluice".
	Realm string `json:"realm"`
	// CacheTTL is how long, in seconds, a successful login is remembered so
	// the same credentials skip the hash check. Default 60; 0 disables the
	// cache.
	CacheTTL int `json:"cache_ttl"`
	// CacheSize is the most logins remembered at once (least recently used
	// go first). Default 1024.
	CacheSize int `json:"cache_size"`
}

func defaults() *Config {
	return &Config{HideCredentials: true, Realm: "sluice", CacheTTL: 60, CacheSize: 1024}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if n := len(c.Realm); n < 1 || n > 256 || hasCTL(c.Realm) {
		errs = append(errs, errors.New("realm: must be 1 to 256 bytes without control characters"))
	}
	if c.CacheTTL < 0 || c.CacheTTL > 3600 {
		errs = append(errs, fmt.Errorf("cache_ttl: %d is outside 0 to 3600 seconds", c.CacheTTL))
	}
	if c.CacheSize < 1 || c.CacheSize > 1<<20 {
		errs = append(errs, fmt.Errorf("cache_size: %d is outside 1 to 1048576", c.CacheSize))
	}
	return errors.Join(errs...)
}

// hashHelp says how to make a hash; every error about one repeats it.
const hashHelp = "generate one with `htpasswd -nbBC 12 USER PASSWORD` (bcrypt; drop the USER: prefix) or an argon2id tool"

// Credential is a consumer's `credentials.basic-auth` entry.
type Credential struct {
	// Username is the user-id the client sends. Required; unique across
	// consumers; no colon (RFC 7617).
	Username string `json:"username"`
	// PasswordHash is a bcrypt ($2a$, $2b$ or $2y$) or argon2id
	// ($argon2id$v=19$m=...,t=...,p=...$salt$hash) hash of the password.
	// Required.
	PasswordHash string `json:"password_hash"`
	// Password is never accepted: it exists to tell those coming from
	// APISIX, whose basic-auth takes a plain password, to hash it.
	Password *string `json:"password,omitempty"`
}

// Validate returns every problem in c. It never quotes a password or hash.
func (c *Credential) Validate() error {
	var errs []error
	switch {
	case c.Username == "":
		errs = append(errs, errors.New("username: required"))
	case hasCTL(c.Username):
		errs = append(errs, errors.New("username: contains control characters"))
	case strings.Contains(c.Username, ":"):
		errs = append(errs, errors.New(`username: must not contain ":" (RFC 7617)`))
	}
	if c.Password != nil {
		errs = append(errs, errors.New("password: plain-text passwords are not accepted; set password_hash to a bcrypt or argon2id hash: "+hashHelp))
	}
	if c.PasswordHash == "" {
		if c.Password == nil {
			errs = append(errs, errors.New("password_hash: required: a bcrypt or argon2id hash; "+hashHelp))
		}
	} else if _, err := parseHash(c.PasswordHash); err != nil {
		errs = append(errs, fmt.Errorf("password_hash: %w; %s", err, hashHelp))
	}
	return errors.Join(errs...)
}

func identity(c *Credential) string { return c.Username }

// Errors for the log (the client sees only the gate's generic 401). A wrong
// password and an unknown username give the same error, so that not even
// the log tells them apart to someone who can read it.
var (
	errInvalid   = errors.New("basic-auth: wrong username or password")
	errAmbiguous = errors.New("basic-auth: Basic credentials among several Authorization headers")
	errMalformed = errors.New("basic-auth: malformed Basic credentials")
)

type user struct {
	consumer *plugin.Consumer
	hash     hash
}

// New builds the middleware from a decoded, validated c and the consumers'
// credentials in env.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	ba := &basicAuth{
		users:     make(map[string]*user, len(env.Credentials)),
		hide:      c.HideCredentials,
		challenge: plugin.MakeChallenge("Basic", "realm", c.Realm, "charset", "UTF-8"),
		// Hash checks are CPU-bound: more at once than there are CPUs only
		// queue inside the scheduler and, for argon2id, hold more memory.
		checks:  make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		missing: env.Decision("missing"),
		invalid: env.Decision("invalid"),
		ok:      env.Decision("identified"),
	}
	if c.CacheTTL > 0 {
		ba.cache = newCache(time.Duration(c.CacheTTL)*time.Second, c.CacheSize)
	}
	counts := map[string]int{}
	var common hash
	for _, cr := range env.Credentials {
		bc, ok := cr.Value.(*Credential)
		if !ok {
			return nil, fmt.Errorf("consumer %s: credential is %T, not *basicauth.Credential", cr.Consumer.Name, cr.Value)
		}
		h, err := parseHash(bc.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("consumer %s: password_hash: %w", cr.Consumer.Name, err)
		}
		if prev, dup := ba.users[bc.Username]; dup {
			return nil, fmt.Errorf("consumers %s and %s have the same basic-auth username", prev.consumer.Name, cr.Consumer.Name)
		}
		ba.users[bc.Username] = &user{consumer: cr.Consumer, hash: h}
		p := h.params()
		counts[p]++
		if common == nil || counts[p] > counts[common.params()] {
			common = h
		}
	}
	if common != nil {
		ba.decoy = common.decoy()
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{basicAuth: ba, next: next}
	}, nil
}

type basicAuth struct {
	users     map[string]*user
	decoy     hash // checked for unknown usernames; nil when there are no users
	cache     *cache
	checks    chan struct{} // semaphore of concurrent hash checks
	hide      bool
	challenge string

	missing, invalid, ok plugin.Counter
}

type handler struct {
	*basicAuth
	next plugin.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := plugin.ExchangeOf(r)
	if !x.Authenticated() {
		h.authenticate(x, r)
	}
	// Strip even when another plugin identified the caller: the password is
	// a secret of this gateway, not of the upstream. Other schemes stay for
	// the plugins and upstreams they belong to.
	if h.hide {
		stripBasic(r.Header)
	}
	return h.next.ServeHTTP(w, r)
}

func (h *handler) authenticate(x *plugin.Exchange, r *http.Request) {
	var buf [256]byte
	userPass, colon, st := parseAuthorization(r.Header["Authorization"], buf[:])
	switch st {
	case absent:
		h.missing.Inc()
		x.Challenge(h.challenge)
		return
	case ambiguous:
		h.fail(x, errAmbiguous)
		return
	case malformed:
		h.fail(x, errMalformed)
		return
	}
	var key secret.Digest
	if h.cache != nil {
		key = sha256.Sum256(userPass)
		if c, ok := h.cache.get(key); ok {
			h.ok.Inc()
			x.Identify(c, Name)
			return
		}
	}
	u := h.users[string(userPass[:colon])]
	hs := h.decoy
	if u != nil {
		hs = u.hash
	}
	if hs == nil { // no consumer has basic-auth credentials
		h.fail(x, errInvalid)
		return
	}
	select {
	case h.checks <- struct{}{}:
	case <-r.Context().Done():
		h.fail(x, fmt.Errorf("basic-auth: gave up waiting to check a password: %w", r.Context().Err()))
		return
	}
	// A copy, so that buf does not escape to the heap through the interface
	// call and cost an allocation on every request, cache hits included.
	match := hs.verify(append([]byte(nil), userPass[colon+1:]...))
	<-h.checks
	if u == nil || !match {
		h.fail(x, errInvalid)
		return
	}
	if h.cache != nil {
		h.cache.put(key, u.consumer)
	}
	h.ok.Inc()
	x.Identify(u.consumer, Name)
}

func (h *handler) fail(x *plugin.Exchange, err error) {
	h.invalid.Inc()
	x.AuthnFailed(h.challenge, err)
}

// stripBasic removes Basic values of the Authorization header.
func stripBasic(h http.Header) {
	vals := h["Authorization"]
	n := 0
	for _, v := range vals {
		if isBasic(v) {
			n++
		}
	}
	switch {
	case n == 0:
	case n == len(vals):
		delete(h, "Authorization")
	default:
		kept := make([]string, 0, len(vals)-n)
		for _, v := range vals {
			if !isBasic(v) {
				kept = append(kept, v)
			}
		}
		h["Authorization"] = kept
	}
}

var _ plugin.Handler = (*handler)(nil)

// hasCTL reports whether s holds an ASCII control character (RFC 5234 CTL).
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
