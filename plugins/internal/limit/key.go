package limit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Key is the `key` config value: one part as a string, or a list of parts.
type Key struct {
	Parts []string
	list  bool   // written as a list, so problems name key[i]
	bad   string // the JSON kind when it was neither, for ParseKey
}

// UnmarshalJSON accepts "consumer" or ["consumer", "header:X-Team"].
func (k *Key) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // keep the default, as encoding/json does for null
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*k = Key{Parts: []string{s}}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		// Validate reports it with the key's name, which a decode error
		// from here could not carry.
		*k = Key{bad: jsonKind(b)}
		return nil
	}
	*k = Key{Parts: l, list: true}
	return nil
}

// MarshalJSON writes a single part as a string, several as a list.
func (k Key) MarshalJSON() ([]byte, error) {
	if len(k.Parts) == 1 && !k.list {
		return json.Marshal(k.Parts[0])
	}
	return json.Marshal(k.Parts)
}

func jsonKind(b []byte) string {
	for _, c := range b {
		switch c {
		case '{':
			return "an object"
		case '[':
			return "a list with an item that is not a string"
		case '"':
			return "a string"
		case 't', 'f':
			return "a boolean"
		case ' ', '\t', '\n', '\r':
			continue
		default:
			return "a number"
		}
	}
	return "nothing"
}

// MaxKeyParts is the most parts a key may combine.
const MaxKeyParts = 8

// MaxKeyLen bounds the key material of one request: longer keys are
// replaced by their hash, so that Redis keys and local map keys stay small
// whatever clients send.
const MaxKeyLen = 128

type partKind uint8

const (
	partIP partKind = iota
	partConsumer
	partRoute
	partHeader
	partQuery
	partCookie
	partMCPMethod // the JSON-RPC method on an mcp route
	partMCPTool   // the tool (or prompt, or resource URI) on an mcp route
)

var kindNames = [...]string{"ip", "consumer", "route", "header", "query", "cookie", "mcp_method", "mcp_tool"}

type keyPart struct {
	kind partKind
	name string // header (lower case), query or cookie name
	tag  string // "ip=", "header.x-api-key=": written before the value
}

func (p keyPart) String() string {
	if p.name == "" {
		return kindNames[p.kind]
	}
	return kindNames[p.kind] + ":" + p.name
}

// KeySpec is a parsed Key: it builds the key material of a request.
type KeySpec struct {
	parts []keyPart
}

// ParseKey checks k and compiles it. Problems start with "key" or "key[i]".
// Parts are ip (alias remote_addr), consumer (consumer_name), route
// (route_id), header:NAME (http_name, with _ for -), query:NAME (arg_name)
// and cookie:NAME (cookie_name); the aliases are APISIX's variable names.
func ParseKey(k Key) (KeySpec, error) {
	if k.bad != "" {
		return KeySpec{}, fmt.Errorf("key: must be a string or a list of strings, got %s", k.bad)
	}
	if len(k.Parts) == 0 {
		return KeySpec{}, fmt.Errorf("key: must name at least one part (ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME, cookie:NAME)")
	}
	if len(k.Parts) > MaxKeyParts {
		return KeySpec{}, fmt.Errorf("key: has %d parts; at most %d are allowed", len(k.Parts), MaxKeyParts)
	}
	var spec KeySpec
	var errs []string
	var at []int // index in k.Parts of each of spec.parts
	for i, s := range k.Parts {
		where := "key"
		if k.list || len(k.Parts) > 1 {
			where = fmt.Sprintf("key[%d]", i)
		}
		p, err := parsePart(s)
		if err != nil {
			errs = append(errs, where+": "+err.Error())
			continue
		}
		for j, q := range spec.parts {
			if q.kind == p.kind && q.name == p.name {
				errs = append(errs, fmt.Sprintf("%s: %q repeats key[%d]", where, s, at[j]))
				p.kind = 255
				break
			}
		}
		if p.kind != 255 {
			spec.parts = append(spec.parts, p)
			at = append(at, i)
		}
	}
	if len(errs) > 0 {
		return KeySpec{}, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return spec, nil
}

func parsePart(s string) (keyPart, error) {
	switch s {
	case "ip", "remote_addr":
		return keyPart{kind: partIP, tag: "ip="}, nil
	case "consumer", "consumer_name":
		return keyPart{kind: partConsumer, tag: "consumer="}, nil
	case "route", "route_id":
		return keyPart{kind: partRoute, tag: "route="}, nil
	case "mcp_method":
		return keyPart{kind: partMCPMethod, tag: "mcp_method="}, nil
	case "mcp_tool":
		return keyPart{kind: partMCPTool, tag: "mcp_tool="}, nil
	}
	kind, name, ok := partIP, "", false
	for _, f := range []struct {
		prefix string
		kind   partKind
		apisix bool
	}{
		{"header:", partHeader, false}, {"query:", partQuery, false}, {"cookie:", partCookie, false},
		{"http_", partHeader, true}, {"arg_", partQuery, true}, {"cookie_", partCookie, true},
	} {
		if rest, found := strings.CutPrefix(s, f.prefix); found {
			kind, name, ok = f.kind, rest, true
			if f.apisix && kind == partHeader {
				name = strings.ReplaceAll(name, "_", "-")
			}
			break
		}
	}
	if !ok {
		return keyPart{}, fmt.Errorf("%q is not ip, consumer, route, mcp_method, mcp_tool, header:NAME, query:NAME or cookie:NAME", s)
	}
	if name == "" {
		return keyPart{}, fmt.Errorf("%q needs a %s name after the prefix", s, kindNames[kind])
	}
	if len(name) > 256 {
		return keyPart{}, fmt.Errorf("%q: the %s name is longer than 256 bytes", s, kindNames[kind])
	}
	switch kind {
	case partHeader, partCookie:
		if !isToken(name) {
			return keyPart{}, fmt.Errorf("%q: %q is not a valid %s name", s, name, kindNames[kind])
		}
	case partQuery:
		for i := 0; i < len(name); i++ {
			if c := name[i]; c < 0x20 || c == 0x7f {
				return keyPart{}, fmt.Errorf("%q: the query name has a control character", s)
			}
		}
	}
	if kind == partHeader {
		name = strings.ToLower(name)
	}
	p := keyPart{kind: kind, name: name}
	p.tag = kindNames[kind] + "." + escape(name) + "="
	return p, nil
}

// isToken reports whether s is an RFC 9110 token (header and cookie names).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return s != ""
}

// Parts returns the canonical spelling of each part, which ParseKey reads
// back into the same spec.
func (k KeySpec) Parts() []string {
	out := make([]string, len(k.parts))
	for i, p := range k.parts {
		out[i] = p.String()
	}
	return out
}

// Value returns the key material of r: each part as tag=value, joined by
// "|". Consumer, route and IP values are readable; header, query and cookie
// values are replaced by a hash, since they may be credentials (an API key,
// a session cookie) and keys are stored in Redis in the clear. A part that
// is empty for r (no consumer, a missing header) is the client IP instead,
// written "ip=..." so it cannot collide with a real value. Material longer
// than MaxKeyLen is replaced by "sha256=" and a hash of it.
func (k KeySpec) Value(r *http.Request) string { return k.Build("", r) }

// Build returns prefix followed by Value(r), in one allocation.
func (k KeySpec) Build(prefix string, r *http.Request) string {
	var buf [256]byte
	b := append(buf[:0], prefix...)
	x := plugin.ExchangeOf(r)
	for i, p := range k.parts {
		if i > 0 {
			b = append(b, '|')
		}
		var v string
		switch p.kind {
		case partIP:
			b = appendIP(b, x, r)
			continue
		case partConsumer:
			v = x.Consumer
		case partRoute:
			v = x.Route
		case partMCPMethod:
			if x.MCP != nil {
				v = x.MCP.Method
			}
		case partMCPTool:
			if x.MCP != nil {
				v = x.MCP.Name
			}
		case partHeader:
			v = r.Header.Get(p.name)
		case partQuery:
			v = queryValue(r.URL, p.name)
		case partCookie:
			if c, err := r.Cookie(p.name); err == nil {
				v = c.Value
			}
		}
		if v == "" {
			b = appendIP(b, x, r)
			continue
		}
		b = append(b, p.tag...)
		switch p.kind {
		case partConsumer, partRoute, partMCPMethod:
			b = appendEscaped(b, v)
		default:
			sum := sha256.Sum256([]byte(v))
			b = append(b, '#')
			b = hex.AppendEncode(b, sum[:12])
		}
	}
	if len(b)-len(prefix) > MaxKeyLen {
		sum := sha256.Sum256(b[len(prefix):])
		b = hex.AppendEncode(append(b[:len(prefix)], "sha256="...), sum[:16])
	}
	return string(b)
}

// appendIP writes "ip=" and the client IP: the gateway's resolved one, else
// the connection's peer, else "unknown" (all such clients share a counter).
func appendIP(b []byte, x *plugin.Exchange, r *http.Request) []byte {
	b = append(b, "ip="...)
	a := x.ClientIP
	if !a.IsValid() {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			a = ap.Addr()
		} else if a, err = netip.ParseAddr(r.RemoteAddr); err != nil {
			return append(b, "unknown"...)
		}
	}
	return a.Unmap().WithZone("").AppendTo(b)
}

// queryValue returns the first value of name in u's query without parsing
// all of it.
func queryValue(u *url.URL, name string) string {
	q := u.RawQuery
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
		}
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				return v
			}
			return uv
		}
		return v
	}
	return ""
}

// escape makes names and values safe to join with the separators of keys
// and scopes (":", "|", "@"): those and "%" are percent-encoded.
func escape(s string) string {
	if !strings.ContainsAny(s, "%|:@") {
		return s
	}
	return string(appendEscaped(nil, s))
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%', '|', ':', '@':
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}

// Scope names a plugin instance's counters: "group.NAME" when the plugin
// shares them through `group`, else "route.NAME" ("route." for a global
// plugin). extra, if not empty, is appended after "@" (limit-count adds its
// window, so that a per-minute and a per-day limit on one route differ).
func Scope(route, group, extra string) string {
	s := "route." + escape(route)
	if group != "" {
		s = "group." + escape(group)
	}
	if extra != "" {
		s += "@" + escape(extra)
	}
	return s
}

// MaxPartLen bounds a value AppendPart writes as it is; longer ones are
// replaced by their hash.
const MaxPartLen = 64

// AppendPart returns key (from KeySpec.Build) with one more part,
// "|name=value", for parts the request's key spec cannot name (the model
// of an AI request). name must be a fixed lower-case word; value is
// escaped, and replaced by a SHA-256 prefix (96 bits) when it is longer
// than MaxPartLen bytes, since it may come from the client.
func AppendPart(key, name, value string) string {
	b := make([]byte, 0, len(key)+len(name)+2+min(len(value), MaxPartLen)*3)
	b = append(b, key...)
	b = append(b, '|')
	b = append(b, name...)
	b = append(b, '=')
	if len(value) > MaxPartLen {
		sum := sha256.Sum256([]byte(value))
		b = append(b, '#')
		return string(hex.AppendEncode(b, sum[:12]))
	}
	return string(appendEscaped(b, value))
}
