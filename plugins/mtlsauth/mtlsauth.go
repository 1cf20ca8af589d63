// Package mtlsauth implements the mtls-auth plugin: it maps the client
// certificate that the listener verified (listeners[].tls.client_ca) to the
// consumer whose `credentials.mtls-auth` names it, by subject alternative
// name, full subject or common name. The name is Kong's; APISIX has no such
// plugin (it verifies client certificates per route or SSL object).
//
// The plugin does no chain verification of its own: the TLS handshake did,
// against the listener's CA bundle. It reads the leaf of the first verified
// chain and refuses certificates that were sent but not verified.
package mtlsauth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// Name is the plugin's name, also its key under consumers[].credentials.
const Name = "mtls-auth"

// Kind is the mtls-auth plugin.
var Kind = func() plugin.Kind {
	k := plugin.Define(Name, plugin.Authn, defaults, New)
	k.Credential = plugin.DefineCredential(func() *Credential { return &Credential{} }, identity)
	return k
}()

// What a credential can match, the values of Config.Match.
const (
	matchSAN        = "san"
	matchSubject    = "subject"
	matchCommonName = "common_name"
)

// Config is the mtls-auth plugin's configuration.
type Config struct {
	// Match lists which kinds of consumer credential this route honours:
	// san, subject, common_name. Default all three. A consumer whose
	// credential is of a kind left out cannot log in on this route.
	Match []string `json:"match"`
}

func defaults() *Config {
	return &Config{Match: []string{matchSAN, matchSubject, matchCommonName}}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Match) == 0 {
		errs = append(errs, errors.New("match: must list at least one of san, subject, common_name"))
	}
	seen := map[string]bool{}
	for i, m := range c.Match {
		switch {
		case m != matchSAN && m != matchSubject && m != matchCommonName:
			errs = append(errs, fmt.Errorf("match[%d]: %q is not san, subject or common_name", i, m))
		case seen[m]:
			errs = append(errs, fmt.Errorf("match[%d]: %q is listed twice", i, m))
		}
		seen[m] = true
	}
	return errors.Join(errs...)
}

// Credential is a consumer's `credentials.mtls-auth` entry: exactly one of
// its fields.
type Credential struct {
	// SAN is a subject alternative name of the certificate: a URI
	// (spiffe://example.org/agent-a), an email address, an IP address or a
	// DNS name, told apart by their form. DNS names and email domains
	// compare case-insensitively.
	SAN string `json:"san,omitempty"`
	// Subject is the certificate's whole subject as an RFC 4514 string
	// ("CN=agent-a,O=Example"): the certificate must have exactly these
	// attributes, in any order.
	Subject string `json:"subject,omitempty"`
	// CommonName is the certificate subject's common name (CN); a
	// certificate with several CNs matches none.
	CommonName string `json:"common_name,omitempty"`
}

// Validate returns every problem in c.
func (c *Credential) Validate() error {
	n := 0
	for _, s := range []string{c.SAN, c.Subject, c.CommonName} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("san, subject, common_name: set exactly one")
	}
	_, err := c.key()
	return err
}

// key returns the credential's index key: which kind of name, and the name
// in the form a certificate's name is compared in.
func (c *Credential) key() (key, error) {
	switch {
	case c.SAN != "":
		k, err := sanKey(c.SAN)
		if err != nil {
			return key{}, fmt.Errorf("san: %w", err)
		}
		return k, nil
	case c.Subject != "":
		dn, err := parseDN(c.Subject)
		if err != nil {
			return key{}, fmt.Errorf("subject: %w", err)
		}
		return key{kindSubject, dn}, nil
	default:
		if hasCTL(c.CommonName) {
			return key{}, errors.New("common_name: contains control characters")
		}
		return key{kindCN, c.CommonName}, nil
	}
}

func identity(c *Credential) string {
	k, err := c.key()
	if err != nil {
		return ""
	}
	return string(rune('0'+k.kind)) + ":" + k.name
}

// nameKind is the kind of certificate name a key holds.
type nameKind int

const (
	kindURI nameKind = iota
	kindEmail
	kindIP
	kindDNS
	kindSubject
	kindCN
)

type key struct {
	kind nameKind
	name string
}

// sanKey classifies a SAN by form: an IP address, a URI (it has a scheme),
// an email address (it has an @), else a DNS name.
func sanKey(s string) (key, error) {
	if hasCTL(s) || strings.ContainsAny(s, " \t") {
		return key{}, errors.New("must not contain spaces or control characters")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return key{}, errors.New("an IP address must not have a zone")
		}
		return key{kindIP, a.Unmap().String()}, nil
	}
	if strings.Contains(s, ":") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return key{}, fmt.Errorf("%q is neither an IP address nor a URI with a scheme", s)
		}
		return key{kindURI, u.String()}, nil
	}
	if local, domain, ok := strings.Cut(s, "@"); ok {
		if local == "" || domain == "" || strings.Contains(domain, "@") {
			return key{}, fmt.Errorf("%q is not an email address", s)
		}
		return key{kindEmail, emailKey(s)}, nil
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	for _, l := range strings.Split(name, ".") {
		if l == "" || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-*_") != "" {
			return key{}, fmt.Errorf("%q is not a DNS name, IP address, email address or URI", s)
		}
	}
	return key{kindDNS, name}, nil
}

// emailKey lowercases an email address's domain; the local part is
// case-sensitive (RFC 5321).
func emailKey(s string) string {
	i := strings.LastIndexByte(s, '@')
	return s[:i+1] + strings.ToLower(s[i+1:])
}

// Errors for the log; the client sees only the gate's generic 401.
var (
	errUnverified = errors.New("mtls-auth: the client certificate was not verified (does the listener have tls.client_ca?)")
	errExpired    = errors.New("mtls-auth: the client certificate is outside its validity period")
)

// New builds the middleware from a decoded, validated c and the consumers'
// credentials in env.
func New(env plugin.Env, c *Config) (plugin.Middleware, error) {
	m := &mtlsAuth{
		names:   map[key]*plugin.Consumer{},
		now:     time.Now,
		missing: env.Decision("missing"),
		invalid: env.Decision("invalid"),
		ok:      env.Decision("identified"),
	}
	honoured := map[nameKind]bool{}
	for _, s := range c.Match {
		switch s {
		case matchSAN:
			honoured[kindURI], honoured[kindEmail], honoured[kindIP], honoured[kindDNS] = true, true, true, true
		case matchSubject:
			honoured[kindSubject] = true
		case matchCommonName:
			honoured[kindCN] = true
		}
	}
	for _, cr := range env.Credentials {
		mc, ok := cr.Value.(*Credential)
		if !ok {
			return nil, fmt.Errorf("consumer %s: credential is %T, not *mtlsauth.Credential", cr.Consumer.Name, cr.Value)
		}
		k, err := mc.key()
		if err != nil {
			return nil, fmt.Errorf("consumer %s: %w", cr.Consumer.Name, err)
		}
		if !honoured[k.kind] {
			continue
		}
		if prev, dup := m.names[k]; dup {
			return nil, fmt.Errorf("consumers %s and %s have the same mtls-auth credential", prev.Name, cr.Consumer.Name)
		}
		m.names[k] = cr.Consumer
		m.has[k.kind] = true
	}
	return func(next plugin.Handler) plugin.Handler {
		return &handler{mtlsAuth: m, next: next}
	}, nil
}

type mtlsAuth struct {
	names map[key]*plugin.Consumer
	has   [kindCN + 1]bool // which kinds of name any consumer uses
	now   func() time.Time

	missing, invalid, ok plugin.Counter
}

type handler struct {
	*mtlsAuth
	next plugin.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if x := plugin.ExchangeOf(r); !x.Authenticated() {
		h.authenticate(x, r)
	}
	return h.next.ServeHTTP(w, r)
}

func (h *handler) authenticate(x *plugin.Exchange, r *http.Request) {
	cs := r.TLS
	if cs == nil || len(cs.PeerCertificates) == 0 {
		// There is no standard challenge for a client certificate; the
		// certificate is asked for in the TLS handshake, not over HTTP.
		h.missing.Inc()
		x.Challenge("")
		return
	}
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		h.fail(x, errUnverified)
		return
	}
	// Every verified chain starts with the same leaf.
	leaf := cs.VerifiedChains[0][0]
	// The handshake checked the validity period, but a keep-alive or
	// HTTP/2 connection can outlive the certificate.
	if now := h.now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		h.fail(x, errExpired)
		return
	}
	var found *plugin.Consumer
	for k := range h.certNames(leaf) {
		c := h.names[k]
		if c == nil {
			continue
		}
		if found != nil && found != c {
			h.fail(x, fmt.Errorf("mtls-auth: the client certificate (subject %s) names both consumers %s and %s", leaf.Subject, found.Name, c.Name))
			return
		}
		found = c
	}
	if found == nil {
		h.fail(x, fmt.Errorf("mtls-auth: no consumer has the client certificate (subject %s)", leaf.Subject))
		return
	}
	h.ok.Inc()
	x.Identify(found, Name)
}

func (h *handler) fail(x *plugin.Exchange, err error) {
	h.invalid.Inc()
	x.AuthnFailed("", err)
}

var _ plugin.Handler = (*handler)(nil)

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func ipString(ip net.IP) (string, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "", false
	}
	return a.Unmap().String(), true
}

// certNames yields the leaf's names, of the kinds some consumer uses, in
// the form keys hold them.
func (m *mtlsAuth) certNames(leaf *x509.Certificate) iter.Seq[key] {
	return func(yield func(key) bool) {
		if m.has[kindURI] {
			for _, u := range leaf.URIs {
				if !yield(key{kindURI, u.String()}) {
					return
				}
			}
		}
		if m.has[kindEmail] {
			for _, e := range leaf.EmailAddresses {
				if !yield(key{kindEmail, emailKey(e)}) {
					return
				}
			}
		}
		if m.has[kindIP] {
			for _, ip := range leaf.IPAddresses {
				if s, ok := ipString(ip); ok && !yield(key{kindIP, s}) {
					return
				}
			}
		}
		if m.has[kindDNS] {
			for _, d := range leaf.DNSNames {
				if !yield(key{kindDNS, strings.ToLower(strings.TrimSuffix(d, "."))}) {
					return
				}
			}
		}
		if m.has[kindSubject] && !yield(key{kindSubject, subjectDN(leaf.Subject)}) {
			return
		}
		if m.has[kindCN] {
			if cn, ok := commonName(leaf.Subject); ok {
				yield(key{kindCN, cn})
			}
		}
	}
}
