package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Consumer is a named caller: an app, a team or an agent. Authn plugins map
// a verified credential to one; the name then reaches logs, metrics, traces,
// limits and the AI and MCP layers through Exchange.Consumer.
type Consumer struct {
	Name   string
	Groups []string
	Labels map[string]string
}

// InGroup reports whether c belongs to group.
func (c *Consumer) InGroup(group string) bool {
	if c == nil {
		return false
	}
	for _, g := range c.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// Credential is one consumer's credential for one Authn kind: the decoded
// `consumers[].credentials.<kind>` entry.
type Credential struct {
	Consumer *Consumer
	Value    any // what the kind's CredentialSpec.Decode returned
}

// CredentialSpec lets an Authn kind take credentials from consumers. The
// gateway decodes every consumer's entry for the kind once per config
// generation and hands the list to Build in Env.Credentials.
type CredentialSpec struct {
	// New returns a fresh pointer to the credential type (for the JSON Schema).
	New func() any
	// Decode strictly decodes and validates one entry.
	Decode func(raw json.RawMessage) (any, error)
	// Identity returns what must be unique across consumers (an API key, a
	// username, a JWT key id), or "" when nothing must be. The gateway
	// compares identities to report duplicates naming both consumers; it
	// never prints them, so they may be secrets.
	Identity func(v any) string
}

// DefineCredential declares the credential type of an Authn kind. defaults
// returns a fresh *C; identity may be nil.
func DefineCredential[C Validator](defaults func() C, identity func(C) string) *CredentialSpec {
	return &CredentialSpec{
		New: func() any { return defaults() },
		Decode: func(raw json.RawMessage) (any, error) {
			c := defaults()
			if err := DecodeStrict(raw, c); err != nil {
				return c, err
			}
			return c, c.Validate()
		},
		Identity: func(v any) string {
			c, ok := v.(C)
			if !ok || identity == nil {
				return ""
			}
			return identity(c)
		},
	}
}

// Counter counts one plugin outcome. The gateway's counters are Prometheus
// counters of sluice_plugin_decisions_total{route, plugin, decision}.
type Counter interface{ Inc() }

type nopCounter struct{}

func (nopCounter) Inc() {}

// AuthnPolicy is a route's rule for combining its Authn plugins.
type AuthnPolicy struct {
	// All requires every Authn plugin on the route to identify the same
	// consumer; otherwise any one succeeding is enough and later ones skip.
	All bool
	// Anonymous, if set, is the consumer of requests that carry no
	// credential at all. A credential that is present but wrong is still
	// refused.
	Anonymous *Consumer
}

// authn is the per-request state of the Authn phase.
type authn struct {
	all        bool
	passed     int
	failed     bool
	challenges []string
	errs       []error
}

// Authenticated reports whether an earlier Authn plugin identified the
// caller and the route needs only one, so this plugin may pass the request
// on untouched.
func (x *Exchange) Authenticated() bool {
	return x.Caller != nil && !x.authn.all
}

// Identify records that the plugin by verified the caller as c. With
// AuthnPolicy.All, a second plugin naming a different consumer fails the
// request.
func (x *Exchange) Identify(c *Consumer, by string) {
	if x.Caller != nil && x.Caller.Name != c.Name {
		x.authn.failed = true
		x.authn.errs = append(x.authn.errs, fmt.Errorf("%s identified consumer %q but an earlier plugin identified %q", by, c.Name, x.Caller.Name))
		return
	}
	x.Caller = c
	x.Consumer = c.Name
	x.AuthnBy = by
	x.authn.passed++
}

// Challenge records a WWW-Authenticate challenge (`Bearer realm="sluice"`)
// from a plugin that found no credential of its kind in the request. The
// 401 sent when nobody identifies the caller carries every challenge.
func (x *Exchange) Challenge(challenge string) {
	if challenge != "" {
		x.authn.challenges = append(x.authn.challenges, challenge)
	}
}

// AuthnFailed records a credential that was present but wrong. err is for
// the log only (it may say which part was wrong; the client is never told).
func (x *Exchange) AuthnFailed(challenge string, err error) {
	x.Challenge(challenge)
	x.authn.failed = true
	if err != nil {
		x.authn.errs = append(x.authn.errs, err)
	}
}

// unauthorizedText is the one public answer to a failed authentication, so
// the body never tells which part of a credential was wrong.
const unauthorizedText = "missing or invalid credentials"

// AuthnGate returns the two middlewares that bracket a route's Authn plugins:
// begin records the policy on the Exchange, end refuses the request with
// 401 unless the plugins between them identified the caller (or the policy
// lets an anonymous caller through). plugins is the number of Authn plugins
// between them.
func AuthnGate(p AuthnPolicy, plugins int) (begin, end Middleware) {
	begin = func(next Handler) Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			x := ExchangeOf(r)
			x.authn.all = p.All
			return next.ServeHTTP(w, r)
		})
	}
	end = func(next Handler) Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			x := ExchangeOf(r)
			a := &x.authn
			// Any one success is enough (the others' failures are only
			// logged), unless the policy asks for all of them.
			ok := x.Caller != nil
			if p.All {
				ok = a.passed == plugins && !a.failed
			}
			if !ok && x.Caller == nil && !a.failed && p.Anonymous != nil {
				x.Caller, x.Consumer, x.AuthnBy = p.Anonymous, p.Anonymous.Name, "anonymous"
				ok = true
			}
			if !ok {
				x.Caller, x.Consumer, x.AuthnBy = nil, "", ""
				h := http.Header{}
				for _, c := range a.challenges {
					h.Add("WWW-Authenticate", c)
				}
				if len(a.challenges) == 0 {
					h.Set("WWW-Authenticate", `Bearer realm="sluice"`)
				}
				err := errors.Join(a.errs...)
				if err == nil {
					err = errors.New("no credential")
				}
				return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Public: unauthorizedText, Header: h, Err: err}
			}
			return next.ServeHTTP(w, r)
		})
	}
	return begin, end
}

// Forbidden is the error for a known caller that may not do what it asked.
// why goes to the log only.
func Forbidden(why string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Public: "access denied", Err: errors.New(why)}
}

// MakeChallenge builds a WWW-Authenticate challenge: scheme then key="value"
// pairs in order, values quoted per RFC 9110.
func MakeChallenge(scheme string, params ...string) string {
	var b strings.Builder
	b.WriteString(scheme)
	for i := 0; i+1 < len(params); i += 2 {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(params[i])
		b.WriteString(`="`)
		b.WriteString(quoteEscaper.Replace(params[i+1]))
		b.WriteByte('"')
	}
	return b.String()
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
