// Package headerop compiles the add/set/remove header operations shared by
// the headers and proxy-rewrite plugins, with values that may use a few
// request variables ($remote_addr, $request_id, $route, $consumer, $host).
// Everything is parsed and checked once, when the plugin is built.
package headerop

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Ops is the config shape: {add: {K: V}, set: {K: V}, remove: [K]}. They run
// in the order add, remove, set, as in APISIX.
type Ops struct {
	Add    map[string]string `json:"add,omitempty"`
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// Side says which message the operations apply to; some headers are off
// limits on one side.
type Side int

const (
	Request Side = iota
	Response
)

// Validate returns every problem in o, each prefixed with path (such as
// "request" or "headers").
func (o *Ops) Validate(path string, side Side) []error {
	var errs []error
	check := func(key, name string) {
		if !ValidName(name) {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid header name", key, name))
			return
		}
		switch http.CanonicalHeaderKey(name) {
		case "Content-Length", "Transfer-Encoding":
			errs = append(errs, fmt.Errorf("%s: %q is managed by the gateway and cannot be changed", key, name))
		case "Host":
			if side == Request {
				errs = append(errs, fmt.Errorf("%s: %q cannot be changed here; use proxy-rewrite's host", key, name))
			}
		}
	}
	for _, verb := range []struct {
		name string
		m    map[string]string
	}{{"add", o.Add}, {"set", o.Set}} {
		seen := map[string]string{}
		for _, name := range slices.Sorted(maps.Keys(verb.m)) {
			key := fmt.Sprintf("%s.%s[%q]", path, verb.name, name)
			check(key, name)
			c := http.CanonicalHeaderKey(name)
			if prev, ok := seen[c]; ok {
				errs = append(errs, fmt.Errorf("%s: names the same header as %q", key, prev))
			}
			seen[c] = name
			if _, err := Parse(verb.m[name]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
			}
		}
	}
	for i, name := range o.Remove {
		check(fmt.Sprintf("%s.remove[%d]", path, i), name)
	}
	return errs
}

// Program is compiled Ops, ready to apply. The zero Program does nothing.
type Program struct {
	add, set []op
	remove   []string
	vars     bool // some value uses a variable, so Apply needs the Exchange
}

type op struct {
	name string // canonical
	t    Template
}

// Compile turns validated ops into a Program.
func Compile(o Ops) (*Program, error) {
	p := &Program{}
	for _, name := range o.Remove {
		p.remove = append(p.remove, http.CanonicalHeaderKey(name))
	}
	var errs []error
	compile := func(m map[string]string) []op {
		var ops []op
		for _, name := range slices.Sorted(maps.Keys(m)) {
			t, err := Parse(m[name])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.vars = p.vars || !t.Const()
			ops = append(ops, op{http.CanonicalHeaderKey(name), t})
		}
		return ops
	}
	p.add = compile(o.Add)
	p.set = compile(o.Set)
	return p, errors.Join(errs...)
}

// Empty reports whether p does nothing.
func (p *Program) Empty() bool {
	return len(p.add) == 0 && len(p.set) == 0 && len(p.remove) == 0
}

// Apply edits h for request r. Constant values cost no allocation.
func (p *Program) Apply(h http.Header, r *http.Request) {
	var x *plugin.Exchange
	if p.vars {
		x = plugin.ExchangeOf(r)
	}
	for i := range p.add {
		o := &p.add[i]
		if o.t.Const() {
			if _, ok := h[o.name]; !ok {
				h[o.name] = o.t.vals
				continue
			}
		}
		h[o.name] = append(h[o.name], o.t.Expand(r, x))
	}
	for _, name := range p.remove {
		delete(h, name)
	}
	for i := range p.set {
		o := &p.set[i]
		if o.t.Const() {
			h[o.name] = o.t.vals
		} else {
			h[o.name] = []string{o.t.Expand(r, x)}
		}
	}
}

// Template is a header value with optional variables, parsed once.
type Template struct {
	parts []part   // nil for a constant
	vals  []string // the constant as a one-element, full-capacity slice
	size  int      // literal bytes, a hint for Expand
}

type part struct {
	lit string
	v   variable // 0 for a literal
}

type variable int

const (
	literal variable = iota
	remoteAddr
	requestID
	route
	consumer
	host
)

var varNames = map[string]variable{
	"remote_addr": remoteAddr,
	"request_id":  requestID,
	"route":       route,
	"consumer":    consumer,
	"host":        host,
}

// Known lists the variables a value may use, for messages and docs.
const Known = "$remote_addr, $request_id, $route, $consumer, $host"

// Parse compiles s. "$name" or "${name}" is a variable, "$$" a literal "$";
// a "$" not followed by a name is literal too. Unknown names are errors, so
// typos fail at load time rather than sending an empty header.
func Parse(s string) (Template, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return Template{}, errors.New("value must not contain CR, LF or NUL")
	}
	var parts []part
	var lit strings.Builder
	hasVar := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			lit.WriteByte(c)
			continue
		}
		var name string
		switch n := s[i+1]; {
		case n == '$':
			lit.WriteByte('$')
			i++
			continue
		case n == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return Template{}, fmt.Errorf("unterminated ${ in %q", s)
			}
			name = s[i+2 : i+2+end]
			i += 2 + end
		case '0' <= n && n <= '9':
			return Template{}, fmt.Errorf("regex captures like $%c are not supported in header values (write $$ for a literal $)", n)
		case isNameByte(n):
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			name = s[i+1 : j]
			i = j - 1
		default:
			lit.WriteByte(c)
			continue
		}
		v, ok := varNames[name]
		if !ok {
			return Template{}, fmt.Errorf("unknown variable $%s (known: %s; write $$ for a literal $)", name, Known)
		}
		if lit.Len() > 0 {
			parts = append(parts, part{lit: lit.String()})
			lit.Reset()
		}
		parts = append(parts, part{v: v})
		hasVar = true
	}
	if !hasVar {
		v := lit.String()
		return Template{vals: []string{v}[:1:1], size: len(v)}, nil
	}
	if lit.Len() > 0 {
		parts = append(parts, part{lit: lit.String()})
	}
	t := Template{parts: parts}
	for _, p := range parts {
		t.size += len(p.lit)
	}
	return t, nil
}

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Const reports whether t has no variables.
func (t *Template) Const() bool { return t.parts == nil }

// Expand returns t's value for r. x may be nil if t is constant.
func (t *Template) Expand(r *http.Request, x *plugin.Exchange) string {
	if t.parts == nil {
		return t.vals[0]
	}
	var arr [128]byte
	b := arr[:0]
	for _, p := range t.parts {
		switch p.v {
		case literal:
			b = append(b, p.lit...)
		case remoteAddr:
			b = appendRemoteAddr(b, r, x)
		case requestID:
			b = append(b, x.RequestID...)
		case route:
			b = append(b, x.Route...)
		case consumer:
			b = append(b, x.Consumer...)
		case host:
			b = append(b, hostOnly(r.Host)...)
		}
	}
	return string(b)
}

// appendRemoteAddr appends the client IP the gateway resolved, or the peer
// address of the connection.
func appendRemoteAddr(b []byte, r *http.Request, x *plugin.Exchange) []byte {
	if x.ClientIP.IsValid() {
		return x.ClientIP.AppendTo(b)
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().AppendTo(b)
	}
	return append(b, r.RemoteAddr...)
}

// hostOnly strips the port from a Host header, as nginx's $host does.
// IPv6 literals keep their brackets. It does not allocate.
func hostOnly(h string) string {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.IndexByte(h[i:], ']') >= 0 {
		return h
	}
	return h[:i]
}

// ValidName reports whether s is a valid header field name (an RFC 9110
// token).
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
