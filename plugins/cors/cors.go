// Package cors implements the cors plugin: it answers CORS preflight requests
// itself and adds the CORS response headers for allowed origins, overriding
// any the upstream sent. Keys follow APISIX's cors plugin.
package cors

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/headerop"
	"github.com/sluicegw/sluice/plugins/internal/hookwriter"
)

// Kind is the cors plugin.
var Kind = plugin.Define("cors", plugin.Edge, defaults, New)

// Config is the cors plugin's configuration. Every list also accepts
// APISIX's comma-separated string form ("GET,POST").
type Config struct {
	// AllowOrigins lists origins (scheme://host[:port], http or https) that
	// may make CORS requests. "*" allows any origin without credentials; "**"
	// echoes any origin even with credentials (unsafe). Default "*", or none
	// when AllowOriginsByRegex is set.
	AllowOrigins List `json:"allow_origins"`
	// AllowOriginsByRegex lists Go regular expressions an origin may match.
	// Each is anchored at both ends.
	AllowOriginsByRegex []string `json:"allow_origins_by_regex"`
	// AllowMethods is sent in Access-Control-Allow-Methods on preflights.
	// "*" is sent as is; "**" sends every standard method. Default "*".
	AllowMethods List `json:"allow_methods"`
	// AllowHeaders is sent in Access-Control-Allow-Headers on preflights.
	// "*" is sent as is; "**" echoes the requested headers. Default "*".
	AllowHeaders List `json:"allow_headers"`
	// ExposeHeaders is sent in Access-Control-Expose-Headers. Default none.
	ExposeHeaders List `json:"expose_headers"`
	// MaxAge is how long, in seconds, browsers may cache a preflight answer;
	// -1 disables caching. Default 5.
	MaxAge int `json:"max_age"`
	// AllowCredential sends Access-Control-Allow-Credentials: true. With it,
	// no list may be "*" (browsers ignore the wildcard then). Default false.
	AllowCredential bool `json:"allow_credential"`
}

// List is a list of strings, written in JSON as an array or as one
// comma-separated string.
type List []string

// UnmarshalJSON accepts ["a","b"] or "a,b"; null leaves l unchanged.
func (l *List) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = nil
		for part := range strings.SplitSeq(s, ",") {
			*l = append(*l, strings.TrimSpace(part))
		}
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		kind := map[byte]string{'{': "object", 't': "bool", 'f': "bool", '[': "array with non-strings"}[b[0]]
		if kind == "" {
			kind = "number"
		}
		// An UnmarshalTypeError gets the key filled in by encoding/json.
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[[]string]()}
	}
	*l = a
	return nil
}

func defaults() *Config {
	return &Config{
		AllowMethods: List{"*"},
		AllowHeaders: List{"*"},
		MaxAge:       5,
	}
}

// allMethods is what "**" in allow_methods sends.
const allMethods = "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE"

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	wild := func(key string, l List, allowDouble bool) (star bool) {
		for i, v := range l {
			if v == "*" || allowDouble && v == "**" {
				if len(l) > 1 {
					errs = append(errs, fmt.Errorf("%s[%d]: %q must be the only entry", key, i, v))
				}
				star = star || v == "*"
			}
		}
		return star
	}
	anyOrigin := wild("allow_origins", c.AllowOrigins, true) ||
		len(c.AllowOrigins) == 0 && len(c.AllowOriginsByRegex) == 0 // the default
	for i, o := range c.AllowOrigins {
		if o == "*" || o == "**" {
			continue
		}
		if _, ok := normalizeOrigin(o); !ok {
			errs = append(errs, fmt.Errorf("allow_origins[%d]: %q is not a valid origin (want scheme://host[:port], scheme http or https)", i, o))
		}
	}
	for i, re := range c.AllowOriginsByRegex {
		if _, err := regexp.Compile(re); err != nil {
			errs = append(errs, fmt.Errorf("allow_origins_by_regex[%d]: %v", i, err))
		}
	}
	tokens := func(key string, l List, allowDouble bool) bool {
		star := wild(key, l, allowDouble)
		for i, v := range l {
			if v == "*" || allowDouble && v == "**" {
				continue
			}
			if v == "**" {
				errs = append(errs, fmt.Errorf(`%s[%d]: "**" is not supported here`, key, i))
			} else if !headerop.ValidName(v) {
				errs = append(errs, fmt.Errorf("%s[%d]: %q is not a valid token", key, i, v))
			}
		}
		return star
	}
	anyMethod := tokens("allow_methods", c.AllowMethods, true)
	anyHeader := tokens("allow_headers", c.AllowHeaders, true)
	anyExpose := tokens("expose_headers", c.ExposeHeaders, false)
	if c.MaxAge < -1 {
		errs = append(errs, fmt.Errorf("max_age: %d must be -1 (no caching) or more", c.MaxAge))
	}
	if c.AllowCredential {
		for _, k := range []struct {
			key  string
			star bool
		}{{"allow_origins", anyOrigin}, {"allow_methods", anyMethod}, {"allow_headers", anyHeader}, {"expose_headers", anyExpose}} {
			if k.star {
				errs = append(errs, fmt.Errorf(`%s: "*" is not allowed when allow_credential is true; list the values (or use "**" where supported)`, k.key))
			}
		}
	}
	return errors.Join(errs...)
}

// normalizeOrigin returns o as browsers serialize it in the Origin header:
// lowercase, without a default port.
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery ||
		(u.Path != "" && u.Path != "/") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", false
		}
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// cors is the built plugin. Header values are preallocated one-element
// slices with capacity 1 and are shared across requests: an Add on them
// reallocates instead of writing into the shared array.
type cors struct {
	origins    map[string][]string // normalized origin -> {origin}
	regexes    []*regexp.Regexp
	anyOrigin  bool // "*": send "*"
	echoOrigin bool // "**": echo any origin
	vary       bool // the answer depends on Origin

	methods, headers, maxAge, expose []string // nil when not sent
	echoHeaders                      bool     // allow_headers "**"
	credentials                      bool
}

func one(s string) []string { return []string{s}[:1:1] }

var (
	wildcard = one("*")
	trueVal  = one("true")
	varyVal  = one("Origin")
	varyPre  = one("Origin, Access-Control-Request-Headers")
)

// New builds the middleware from a decoded, validated c.
func New(_ plugin.Env, c *Config) (plugin.Middleware, error) {
	p := &cors{origins: map[string][]string{}, credentials: c.AllowCredential}
	origins := c.AllowOrigins
	if len(origins) == 0 && len(c.AllowOriginsByRegex) == 0 {
		origins = List{"*"}
	}
	for _, o := range origins {
		switch o {
		case "*":
			p.anyOrigin = true
		case "**":
			p.echoOrigin = true
		default:
			n, _ := normalizeOrigin(o)
			p.origins[n] = one(n)
		}
	}
	for _, re := range c.AllowOriginsByRegex {
		rx, err := regexp.Compile(`^(?:` + re + `)$`)
		if err != nil {
			return nil, fmt.Errorf("allow_origins_by_regex: %w", err)
		}
		p.regexes = append(p.regexes, rx)
	}
	p.vary = !p.anyOrigin
	switch {
	case len(c.AllowMethods) == 1 && c.AllowMethods[0] == "**":
		p.methods = one(allMethods)
	case len(c.AllowMethods) > 0:
		p.methods = one(strings.Join(c.AllowMethods, ","))
	}
	switch {
	case len(c.AllowHeaders) == 1 && c.AllowHeaders[0] == "**":
		p.echoHeaders = true
	case len(c.AllowHeaders) > 0:
		p.headers = one(strings.Join(c.AllowHeaders, ","))
	}
	if len(c.ExposeHeaders) > 0 {
		p.expose = one(strings.Join(c.ExposeHeaders, ","))
	}
	// -1 means "do not cache"; browsers read 0 that way, while a negative
	// value is invalid and falls back to their 5 second default.
	p.maxAge = one(strconv.Itoa(max(c.MaxAge, 0)))
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return p.serve(w, r, next)
		})
	}, nil
}

// allow returns the Access-Control-Allow-Origin value for the request's
// origin, or nil if the origin is not allowed. It does not allocate.
func (p *cors) allow(origin []string) []string {
	switch {
	case p.anyOrigin:
		return wildcard
	case p.echoOrigin:
		return origin[:1:1]
	}
	if v, ok := p.origins[origin[0]]; ok {
		return v
	}
	for _, rx := range p.regexes {
		if rx.MatchString(origin[0]) {
			return origin[:1:1]
		}
	}
	return nil
}

func (p *cors) serve(w http.ResponseWriter, r *http.Request, next plugin.Handler) error {
	origin := r.Header["Origin"]
	if len(origin) == 0 || origin[0] == "" {
		p.addVary(w.Header(), varyVal)
		return next.ServeHTTP(w, r)
	}
	allow := p.allow(origin)
	if r.Method == http.MethodOptions && len(r.Header["Access-Control-Request-Method"]) > 0 {
		// A preflight is answered here and never proxied. A disallowed origin
		// gets a 204 without CORS headers, which the browser treats as a no.
		h := w.Header()
		if p.echoHeaders {
			p.addVary(h, varyPre)
		} else {
			p.addVary(h, varyVal)
		}
		if allow != nil {
			h["Access-Control-Allow-Origin"] = allow
			if p.credentials {
				h["Access-Control-Allow-Credentials"] = trueVal
			}
			if p.methods != nil {
				h["Access-Control-Allow-Methods"] = p.methods
			}
			if p.echoHeaders {
				if req := r.Header["Access-Control-Request-Headers"]; len(req) > 0 {
					h["Access-Control-Allow-Headers"] = req[:1:1]
				}
			} else if p.headers != nil {
				h["Access-Control-Allow-Headers"] = p.headers
			}
			h["Access-Control-Max-Age"] = p.maxAge
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if allow == nil {
		p.addVary(w.Header(), varyVal)
		return next.ServeHTTP(w, r)
	}
	// Set the headers just before the response goes out, replacing any the
	// upstream sent: two Access-Control-Allow-Origin values fail in browsers.
	ww := hookwriter.New(w, state{p, allow}, commit)
	err := next.ServeHTTP(ww, r)
	ww.Finish()
	return err
}

type state struct {
	p     *cors
	allow []string
}

func commit(h http.Header, s *state) {
	h["Access-Control-Allow-Origin"] = s.allow
	if s.p.credentials {
		h["Access-Control-Allow-Credentials"] = trueVal
	} else {
		delete(h, "Access-Control-Allow-Credentials")
	}
	if s.p.expose != nil {
		h["Access-Control-Expose-Headers"] = s.p.expose
	}
	s.p.addVary(h, varyVal)
}

// addVary adds v to Vary unless Origin is already listed.
func (p *cors) addVary(h http.Header, v []string) {
	if !p.vary {
		return
	}
	old, ok := h["Vary"]
	if !ok {
		h["Vary"] = v
		return
	}
	for _, o := range old {
		if strings.Contains(o, "Origin") || o == "*" {
			return
		}
	}
	h["Vary"] = append(old, v[0])
}
