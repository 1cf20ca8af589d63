// Package proxyrewrite implements the proxy-rewrite plugin: it changes the
// path, host, method and headers of the request before it goes upstream.
// Keys follow APISIX's proxy-rewrite plugin; strip_prefix is Sluice's own.
package proxyrewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/headerop"
)

// Kind is the proxy-rewrite plugin.
var Kind = plugin.Define("proxy-rewrite", plugin.Transform, defaults, New)

// Config is the proxy-rewrite plugin's configuration. At most one of URI,
// RegexURI and StripPrefix may be set.
type Config struct {
	// URI replaces the whole path, written as it goes on the wire
	// ("/v2/items", "/a%2Fb"). The query string is kept.
	URI string `json:"uri"`
	// RegexURI is a flat list of pattern, replacement pairs (Go regexp
	// syntax). The first pattern that matches the path has its first match
	// replaced; $1 or ${1} in the replacement is a capture. If none matches,
	// the path is left alone.
	RegexURI []string `json:"regex_uri"`
	// StripPrefix removes a leading path prefix, on segment boundaries:
	// "/api" turns "/api/users" into "/users" and "/api" into "/", and leaves
	// "/apis" alone.
	StripPrefix string `json:"strip_prefix"`
	// Host sets the Host header sent upstream.
	Host string `json:"host"`
	// Method sets the request method sent upstream.
	Method string `json:"method"`
	// Headers edits request headers: {add, remove, set}, run in that order,
	// or (APISIX's older form) a plain object of headers to set.
	Headers Headers `json:"headers"`
}

// Headers is headerop.Ops that also accepts a plain {name: value} object,
// meaning set.
type Headers struct{ headerop.Ops }

// UnmarshalJSON reads either form.
func (h *Headers) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return errors.New("headers: expected an object")
	}
	verbs := 0
	for k := range m {
		if k == "add" || k == "set" || k == "remove" {
			verbs++
		}
	}
	if verbs > 0 && verbs < len(m) {
		return errors.New("headers: mixes add/set/remove with header names; move the names under set")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if verbs == 0 {
		h.Ops = headerop.Ops{}
		if err := dec.Decode(&h.Ops.Set); err != nil {
			return fmt.Errorf("headers: header values must be strings")
		}
		return nil
	}
	if err := dec.Decode(&h.Ops); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("headers.%s: expected %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("headers: %w", err)
	}
	return nil
}

func defaults() *Config { return &Config{} }

// methods is APISIX's list.
var methods = []string{"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE", "PROPFIND", "LOCK", "UNLOCK", "PATCH", "TRACE"}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	set := 0
	for _, b := range []bool{c.URI != "", len(c.RegexURI) > 0, c.StripPrefix != ""} {
		if b {
			set++
		}
	}
	if set > 1 {
		errs = append(errs, errors.New("uri, regex_uri, strip_prefix: set at most one"))
	}
	if c.URI != "" {
		if _, _, err := parseURI(c.URI); err != nil {
			errs = append(errs, fmt.Errorf("uri: %q %v", c.URI, err))
		}
	}
	if len(c.RegexURI)%2 != 0 {
		errs = append(errs, fmt.Errorf("regex_uri: has %d entries; want pattern, replacement pairs", len(c.RegexURI)))
	}
	for i := 0; i+1 < len(c.RegexURI); i += 2 {
		re, err := regexp.Compile(c.RegexURI[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("regex_uri[%d]: %v", i, err))
			continue
		}
		if err := checkReplacement(re, c.RegexURI[i+1]); err != nil {
			errs = append(errs, fmt.Errorf("regex_uri[%d]: %q %v", i+1, c.RegexURI[i+1], err))
		}
	}
	if c.StripPrefix != "" && (!strings.HasPrefix(c.StripPrefix, "/") || strings.Trim(c.StripPrefix, "/") == "") {
		errs = append(errs, fmt.Errorf("strip_prefix: %q must start with / and name at least one segment", c.StripPrefix))
	}
	if c.Host != "" {
		if u, err := url.Parse("http://" + c.Host); err != nil || u.Host != c.Host || u.Hostname() == "" || strings.ContainsAny(c.Host, " \t") {
			errs = append(errs, fmt.Errorf("host: %q is not a valid host[:port]", c.Host))
		}
	}
	if c.Method != "" && !slices.Contains(methods, c.Method) {
		errs = append(errs, fmt.Errorf("method: %q is not one of %s", c.Method, strings.Join(methods, ", ")))
	}
	errs = append(errs, c.Headers.Validate("headers", headerop.Request)...)
	if set == 0 && c.Host == "" && c.Method == "" && len(c.Headers.Add)+len(c.Headers.Set)+len(c.Headers.Remove) == 0 {
		errs = append(errs, errors.New("nothing to do: set uri, regex_uri, strip_prefix, host, method or headers"))
	}
	return errors.Join(errs...)
}

// parseURI splits a wire-form path into url.URL's Path and RawPath.
func parseURI(s string) (path, raw string, err error) {
	if !strings.HasPrefix(s, "/") {
		return "", "", errors.New("must start with /")
	}
	if strings.ContainsAny(s, "?#") {
		return "", "", errors.New("must be a path only, without ? or #")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", "", errors.New("is not a valid path")
	}
	return u.Path, u.RawPath, nil
}

// checkReplacement rejects references to groups the pattern lacks, and the
// Go-specific trap "$1x" (which means the group named "1x", not $1 then x).
func checkReplacement(re *regexp.Regexp, repl string) error {
	for i := 0; i < len(repl); i++ {
		if repl[i] != '$' || i+1 == len(repl) {
			continue
		}
		if repl[i+1] == '$' {
			i++
			continue
		}
		var name string
		if repl[i+1] == '{' {
			end := strings.IndexByte(repl[i:], '}')
			if end < 0 {
				return errors.New("has an unterminated ${")
			}
			name = repl[i+2 : i+end]
			i += end
		} else {
			j := i + 1
			for j < len(repl) && isNameByte(repl[j]) {
				j++
			}
			name = repl[i+1 : j]
			if d := leadingDigits(name); d > 0 && d < len(name) {
				return fmt.Errorf("means the group named %q to Go; write ${%s}%s", name, name[:d], name[d:])
			}
			i = j - 1
		}
		if name == "" {
			continue
		}
		if n, err := strconv.Atoi(name); err == nil {
			if n > re.NumSubexp() {
				return fmt.Errorf("refers to $%d but the pattern has %d groups", n, re.NumSubexp())
			}
		} else if re.SubexpIndex(name) < 0 {
			return fmt.Errorf("refers to group %q, which the pattern does not define", name)
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return n
}

type rule struct {
	re   *regexp.Regexp
	repl string
}

// New builds the middleware from a decoded, validated c.
func New(_ plugin.Env, c *Config) (plugin.Middleware, error) {
	var (
		setPath, path, rawPath = c.URI != "", "", ""
		rules                  []rule
		prefix                 = strings.TrimRight(c.StripPrefix, "/")
		host, method           = c.Host, c.Method
	)
	if setPath {
		var err error
		if path, rawPath, err = parseURI(c.URI); err != nil {
			return nil, err
		}
	}
	for i := 0; i+1 < len(c.RegexURI); i += 2 {
		re, err := regexp.Compile(c.RegexURI[i])
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule{re, c.RegexURI[i+1]})
	}
	hdrs, err := headerop.Compile(c.Headers.Ops)
	if err != nil {
		return nil, err
	}
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			// Apply headers first so $host means the client's host, as in APISIX.
			hdrs.Apply(r.Header, r)
			u := r.URL
			switch {
			case setPath:
				u.Path, u.RawPath = path, rawPath
			case rules != nil:
				rewriteRegex(u, rules)
			case prefix != "":
				strip(u, prefix)
			}
			if host != "" {
				r.Host = host
			}
			if method != "" {
				r.Method = method
			}
			return next.ServeHTTP(w, r)
		})
	}, nil
}

// rewriteRegex applies the first matching rule to u.Path (decoded, as
// APISIX matches the normalized URI) and drops RawPath, which no longer
// corresponds.
func rewriteRegex(u *url.URL, rules []rule) {
	p := u.Path
	for _, ru := range rules {
		m := ru.re.FindStringSubmatchIndex(p)
		if m == nil {
			continue
		}
		b := make([]byte, 0, len(p)+len(ru.repl))
		b = append(b, p[:m[0]]...)
		b = ru.re.ExpandString(b, ru.repl, p, m)
		b = append(b, p[m[1]:]...)
		u.Path, u.RawPath = string(b), ""
		if u.Path == "" || u.Path[0] != '/' {
			u.Path = "/" + u.Path
		}
		return
	}
}

// strip removes prefix (no trailing slash) from u's path on a segment
// boundary. RawPath keeps up when it carries the same prefix, and is dropped
// otherwise. It does not allocate.
func strip(u *url.URL, prefix string) {
	rest, ok := cut(u.Path, prefix)
	if !ok {
		return
	}
	u.Path = rest
	if u.RawPath != "" {
		if raw, ok := cut(u.RawPath, prefix); ok {
			u.RawPath = raw
		} else {
			u.RawPath = ""
		}
	}
}

func cut(p, prefix string) (string, bool) {
	if !strings.HasPrefix(p, prefix) {
		return "", false
	}
	rest := p[len(prefix):]
	switch {
	case rest == "":
		return "/", true
	case rest[0] == '/':
		return rest, true
	}
	return "", false
}
