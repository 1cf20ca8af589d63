package router

import (
	"net/http"
	"strings"
)

// Params holds the parameters captured by [Router.Match]. The zero Params is
// empty and ready to use; a Params is typically kept on the stack or in a
// per-request struct and reused. It holds at most [MaxParams] parameters.
type Params struct {
	names  [MaxParams]string
	values [MaxParams]string
	n      int
}

// Len returns the number of captured parameters.
func (p *Params) Len() int { return p.n }

// Name returns the name of the i-th parameter in path order. It panics unless
// 0 <= i < p.Len(). The string is owned by the Router and must not be
// modified (Go strings cannot be).
func (p *Params) Name(i int) string {
	if uint(i) >= uint(p.n) {
		panic("router: Params index out of range")
	}
	return p.names[i]
}

// Value returns the value of the i-th parameter in path order, a substring
// of the path given to Match. It panics unless 0 <= i < p.Len().
func (p *Params) Value(i int) string {
	if uint(i) >= uint(p.n) {
		panic("router: Params index out of range")
	}
	return p.values[i]
}

// Get returns the value of the parameter called name, or "" if there is none.
func (p *Params) Get(name string) string {
	for i := range p.n {
		if p.names[i] == name {
			return p.values[i]
		}
	}
	return ""
}

// maxQueryParams mirrors the limit url.ParseQuery applies by default; a
// longer query parses to no values at all.
const maxQueryParams = 10000

// Match returns the index, in the slice given to [Compile], of the most
// specific route that matches the request, or -1 and false if none does.
//
// host is the request host, possibly with a port; path is the cleaned,
// undecoded r.URL.Path; rawQuery is r.URL.RawQuery; h may be nil. If ps is
// not nil it is reset and then holds the parameters of the matched path
// pattern: their values are substrings of path and their names are owned by
// the Router. Match does not allocate and is safe for concurrent use.
func (rt *Router) Match(method, host, path, rawQuery string, h http.Header, ps *Params) (int, bool) {
	if ps != nil {
		ps.n = 0
	}
	if rt == nil {
		return -1, false
	}
	m := matcher{rt: rt, method: method, query: rawQuery, h: h}
	if strings.HasPrefix(path, "/") {
		m.segs = strings.Count(path, "/")
	} else {
		m.segs = -1 // only routes without paths can match
	}
	if strings.Count(rawQuery, "&") >= maxQueryParams {
		m.query = ""
	}

	if len(rt.exact) > 0 || len(rt.wild) > 0 {
		if c := m.hosts(host, path); c != nil {
			return m.result(c, ps)
		}
	}
	if rt.hostless != nil {
		if c := m.bucket(rt.hostless, path); c != nil {
			return m.result(c, ps)
		}
	}
	return -1, false
}

// hosts returns the most specific route among those with a host condition,
// or nil.
func (m *matcher) hosts(host, path string) *cand {
	var buf [maxHostLen]byte
	name, ok := lowerHost(&buf, host)
	if !ok {
		return nil
	}
	if b := m.rt.exact[string(name)]; b != nil {
		if c := m.bucket(b, path); c != nil {
			return c
		}
	}
	if len(m.rt.wild) == 0 {
		return nil
	}
	// Try suffixes from the longest: "*.b.c.com" before "*.c.com".
	for i := 1; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		if b := m.rt.wild[string(name[i+1:])]; b != nil {
			if c := m.bucket(b, path); c != nil {
				return c
			}
		}
	}
	return nil
}

// lowerHost strips the port and one trailing dot from host and writes it in
// lower case to buf. It reports false if the result does not fit.
func lowerHost(buf *[maxHostLen]byte, host string) ([]byte, bool) {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if len(host) > len(buf) {
		return nil, false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(host)], true
}

// matcher is the state of one Match call. It lives on Match's stack.
type matcher struct {
	rt     *Router
	method string
	query  string
	h      http.Header
	segs   int // number of segments in the path, -1 if it has none

	vals [MaxParams]string // parameter values on the current trie path
	nv   int
	got  int // nv when the found candidate was picked
}

func (m *matcher) result(c *cand, ps *Params) (int, bool) {
	if ps != nil && m.got == len(c.names) {
		copy(ps.names[:], c.names)
		copy(ps.values[:], m.vals[:m.got])
		ps.n = m.got
	}
	return int(c.route), true
}

// bucket returns the most specific route in b that matches, or nil.
func (m *matcher) bucket(b *bucket, path string) *cand {
	if b.root != nil && m.segs >= 0 {
		want := depthBit(m.segs)
		if m.segs <= b.maxFull && b.root.fullMask&want != 0 {
			if c := m.full(b.root, path, want); c != nil {
				return c
			}
		}
		for d := min(m.segs, b.maxPrefix); d >= 0; d-- {
			if b.root.prefixMask&depthBit(d) != 0 {
				if c := m.prefix(b.root, path, 0, d); c != nil {
					return c
				}
			}
		}
	}
	m.got = 0
	return m.pick(b.any)
}

// full searches the subtree at n for a full pattern matching rest, the
// unmatched tail of the path (with its leading "/"). Trying the literal child
// before the parameter child visits patterns from the most specific, so the
// first hit is the best one.
func (m *matcher) full(n *node, rest string, want uint64) *cand {
	if rest == "" {
		m.got = m.nv
		return m.pick(n.full)
	}
	seg, next := cutSeg(rest)
	if c := n.child(seg); c != nil && c.fullMask&want != 0 {
		if r := m.full(c, next, want); r != nil {
			return r
		}
	}
	if p := n.param; p != nil && seg != "" && p.fullMask&want != 0 && m.nv < MaxParams {
		m.vals[m.nv] = seg
		m.nv++
		r := m.full(p, next, want)
		m.nv--
		return r
	}
	return nil
}

// prefix searches the subtree at n, which is at depth depth, for a prefix
// pattern of d segments matching the start of rest.
func (m *matcher) prefix(n *node, rest string, depth, d int) *cand {
	if depth == d {
		m.got = m.nv
		return m.pick(n.prefix)
	}
	want := depthBit(d)
	seg, next := cutSeg(rest)
	if c := n.child(seg); c != nil && c.prefixMask&want != 0 {
		if r := m.prefix(c, next, depth+1, d); r != nil {
			return r
		}
	}
	if p := n.param; p != nil && seg != "" && p.prefixMask&want != 0 && m.nv < MaxParams {
		m.vals[m.nv] = seg
		m.nv++
		r := m.prefix(p, next, depth+1, d)
		m.nv--
		return r
	}
	return nil
}

// cutSeg splits "/seg/rest" into "seg" and "/rest".
func cutSeg(rest string) (seg, next string) {
	s := rest[1:]
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

func (n *node) child(seg string) *node {
	if n.litMap != nil {
		return n.litMap[seg]
	}
	for i, s := range n.litSegs {
		if s == seg {
			return n.lits[i]
		}
	}
	return nil
}

// pick returns the first candidate whose method, header and query conditions
// hold. Candidates are sorted by rules 3 to 5.
func (m *matcher) pick(cs []cand) *cand {
	for i := range cs {
		if m.conds(&m.rt.routes[cs[i].route]) {
			return &cs[i]
		}
	}
	return nil
}

func (m *matcher) conds(c *compiled) bool {
	if len(c.methods) > 0 {
		ok := false
		for _, x := range c.methods {
			if x == m.method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range c.headers {
		if !headerHas(m.h, &c.headers[i]) {
			return false
		}
	}
	for i := range c.query {
		if !queryHas(m.query, &c.query[i]) {
			return false
		}
	}
	return true
}

func headerHas(h http.Header, c *cond) bool {
	vs, ok := h[c.key]
	if c.any {
		// Set and Add never leave an empty slice, but a literal might.
		return ok && len(vs) > 0
	}
	for _, v := range vs {
		if v == c.val {
			return true
		}
	}
	return false
}

// queryHas reports whether the raw query, read the way url.ParseQuery reads
// it, has the key of c with the value of c (or any value).
func queryHas(raw string, c *cond) bool {
	for raw != "" {
		var pair string
		if i := strings.IndexByte(raw, '&'); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			pair, raw = raw, ""
		}
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v := pair, ""
		if i := strings.IndexByte(pair, '='); i >= 0 {
			k, v = pair[:i], pair[i+1:]
		}
		if !unescapedEqual(k, c.key) {
			continue
		}
		if c.any {
			if validEscapes(v) {
				return true
			}
			continue
		}
		if unescapedEqual(v, c.val) {
			return true
		}
	}
	return false
}

// unescapedEqual reports whether raw is a valid query component that
// decodes to want, without allocating.
func unescapedEqual(raw, want string) bool {
	j := 0
	for i := 0; i < len(raw); j++ {
		c := raw[i]
		switch c {
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return false
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 3
		case '+':
			c = ' '
			i++
		default:
			i++
		}
		if j >= len(want) || want[j] != c {
			return false
		}
	}
	return j == len(want)
}

func validEscapes(raw string) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' {
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
