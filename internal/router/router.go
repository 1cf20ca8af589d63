package router

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// MaxParams is the maximum number of {param} segments in one path pattern.
const MaxParams = 8

// maxHostLen is the longest host name DNS allows (RFC 1035, section 2.3.4, in
// its textual form).
const maxHostLen = 253

// Route is one route's predicate as the router sees it. The zero Route matches
// every request. See the package documentation for the pattern syntax and how
// routes are ranked.
type Route struct {
	// Priority breaks ties between equally specific routes; higher wins.
	// The default 0 is neutral, and negative values are allowed.
	Priority int
	// Hosts are exact ("api.example.com") or wildcard ("*.example.org")
	// host patterns; any one must match. Empty means any host.
	Hosts []string
	// Paths are exact ("/x"), prefix ("/x/*"), parameterized
	// ("/users/{id}") or combined ("/users/{id}/*") path patterns; any one
	// must match. Empty means any path.
	Paths []string
	// Methods are upper-case request methods; any one must match. Empty
	// means any method.
	Methods []string
	// Headers maps case-insensitive header names to the exact value
	// required, or "*" for any value. Nil means no header conditions.
	Headers map[string]string
	// Query maps decoded query keys to the decoded value required, or "*"
	// for any value. Nil means no query conditions.
	Query map[string]string
}

// PatternError reports one invalid part of a route given to [Compile].
type PatternError struct {
	Route int    // index of the route in the slice given to Compile
	Field string // "hosts", "paths", "methods", "headers" or "query"
	Index int    // index into Hosts, Paths or Methods; -1 for Headers and Query
	Msg   string // what is wrong, quoting the pattern or key
}

// Error returns e formatted as "routes[R].field[I]: msg".
func (e *PatternError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("routes[%d].%s: %s", e.Route, e.Field, e.Msg)
	}
	return fmt.Sprintf("routes[%d].%s[%d]: %s", e.Route, e.Field, e.Index, e.Msg)
}

// Router is a compiled set of routes. It is immutable and safe for
// concurrent use. The zero Router, and a nil *Router, match nothing.
type Router struct {
	routes   []compiled
	exact    map[string]*bucket // by lower-case host
	wild     map[string]*bucket // by suffix after "*."
	hostless *bucket
}

// compiled holds the conditions of one route that are checked on the
// candidates found in the index.
type compiled struct {
	methods []string
	headers []cond // keys in canonical form
	query   []cond
	conds   int // specificity rule 3
	prio    int
}

type cond struct {
	key, val string
	any      bool // val was "*"
}

// bucket indexes the paths of the routes that share one host condition.
type bucket struct {
	root *node
	any  []cand // routes without path patterns

	// The deepest full and prefix patterns in root, in segments, or -1. They
	// bound the search for long paths, which the depth masks cannot, as
	// these saturate at 63.
	maxFull, maxPrefix int
}

func newBucket() *bucket { return &bucket{maxFull: -1, maxPrefix: -1} }

// node is one segment of a path trie. The literal children are kept in a
// slice while there are few of them, as a linear scan of short strings is
// faster than hashing.
type node struct {
	litSegs []string
	lits    []*node
	litMap  map[string]*node // replaces litSegs and lits when large
	param   *node

	full   []cand // routes whose exact or parameterized pattern ends here
	prefix []cand // routes whose prefix pattern ends here

	// Bit min(d, 63) is set when this subtree holds a full (or prefix)
	// pattern of d segments, so that searches skip subtrees that cannot match.
	fullMask, prefixMask uint64
}

// cand is one route reachable at a node.
type cand struct {
	route int32
	path  int32    // index into Route.Paths, -1 if none
	names []string // parameter names, in path order
}

const smallFanout = 8

// Compile builds a Router from routes. Match reports indexes into routes.
// Compile does not retain routes or its slices and maps.
//
// The error, if not nil, joins (errors.Join) one *PatternError for every
// invalid host, path, method, header or query key, and the Router is nil.
func Compile(routes []Route) (*Router, error) {
	rt := &Router{
		routes: make([]compiled, len(routes)),
		exact:  make(map[string]*bucket),
		wild:   make(map[string]*bucket),
	}
	var errs []error
	bad := func(r int, field string, i int, format string, args ...any) {
		errs = append(errs, &PatternError{Route: r, Field: field, Index: i, Msg: fmt.Sprintf(format, args...)})
	}

	type pathInfo struct {
		segs   []string // literal segments; paramSeg for a parameter
		prefix bool
		names  []string
	}
	for ri := range routes {
		r := &routes[ri]
		c := &rt.routes[ri]
		c.prio = r.Priority

		for i, m := range r.Methods {
			if msg := checkMethod(m); msg != "" {
				bad(ri, "methods", i, "%q: %s", m, msg)
			}
		}
		c.methods = slices.Clone(r.Methods)
		if len(c.methods) > 0 {
			c.conds++
		}
		for k, v := range r.Headers {
			if !isToken(k) {
				bad(ri, "headers", -1, "%q: header name must be a non-empty token", k)
				continue
			}
			c.headers = append(c.headers, cond{key: http.CanonicalHeaderKey(k), val: v, any: v == "*"})
		}
		for k, v := range r.Query {
			if k == "" {
				bad(ri, "query", -1, "empty query key")
				continue
			}
			c.query = append(c.query, cond{key: k, val: v, any: v == "*"})
		}
		// Map order is random; sort so that matching cost is stable.
		byKey := func(a, b cond) int { return strings.Compare(a.key, b.key) }
		slices.SortFunc(c.headers, byKey)
		slices.SortFunc(c.query, byKey)
		c.conds += len(c.headers) + len(c.query)

		paths := make([]pathInfo, len(r.Paths))
		for i, p := range r.Paths {
			segs, prefix, names, msg := parsePath(p)
			if msg != "" {
				bad(ri, "paths", i, "%q: %s", p, msg)
			}
			paths[i] = pathInfo{segs, prefix, names}
		}

		var buckets []*bucket
		if len(r.Hosts) == 0 {
			if rt.hostless == nil {
				rt.hostless = newBucket()
			}
			buckets = append(buckets, rt.hostless)
		}
		for i, h := range r.Hosts {
			host, wild, msg := parseHost(h)
			if msg != "" {
				bad(ri, "hosts", i, "%q: %s", h, msg)
				continue
			}
			m := rt.exact
			if wild {
				m = rt.wild
			}
			b := m[host]
			if b == nil {
				b = newBucket()
				m[host] = b
			}
			if !slices.Contains(buckets, b) { // "a.com" and "A.com" are one host
				buckets = append(buckets, b)
			}
		}
		if len(errs) > 0 {
			continue // keep validating, but stop building
		}
		for _, b := range buckets {
			if len(paths) == 0 {
				b.any = append(b.any, cand{route: int32(ri), path: -1})
				continue
			}
			for pi, p := range paths {
				if b.root == nil {
					b.root = &node{}
				}
				n := b.root
				for _, s := range p.segs {
					n = n.add(s)
				}
				cd := cand{route: int32(ri), path: int32(pi), names: p.names}
				if p.prefix {
					n.prefix = append(n.prefix, cd)
					b.maxPrefix = max(b.maxPrefix, len(p.segs))
				} else {
					n.full = append(n.full, cd)
					b.maxFull = max(b.maxFull, len(p.segs))
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for _, b := range rt.allBuckets() {
		rt.sortCands(b.any)
		if b.root != nil {
			rt.finish(b.root, 0)
		}
	}
	return rt, nil
}

func (rt *Router) allBuckets() []*bucket {
	var bs []*bucket
	if rt.hostless != nil {
		bs = append(bs, rt.hostless)
	}
	for _, b := range rt.exact {
		bs = append(bs, b)
	}
	for _, b := range rt.wild {
		bs = append(bs, b)
	}
	return bs
}

// paramSeg stands for a parameter among the segments parsePath returns. No
// literal segment can be "{", as parsePath rejects braces in literals.
const paramSeg = "{"

// add returns the child of n for segment s (paramSeg for a parameter),
// creating it if needed. Literal children are kept in litMap while building.
func (n *node) add(s string) *node {
	if s == paramSeg {
		if n.param == nil {
			n.param = &node{}
		}
		return n.param
	}
	if n.litMap == nil {
		n.litMap = make(map[string]*node)
	}
	c := n.litMap[s]
	if c == nil {
		c = &node{}
		n.litMap[s] = c
	}
	return c
}

// finish sorts the candidates of the subtree at n, which is at depth d,
// computes its masks and turns small child maps into slices.
func (rt *Router) finish(n *node, d int) {
	rt.sortCands(n.full)
	rt.sortCands(n.prefix)
	if len(n.full) > 0 {
		n.fullMask |= depthBit(d)
	}
	if len(n.prefix) > 0 {
		n.prefixMask |= depthBit(d)
	}
	keys := make([]string, 0, len(n.litMap))
	for k := range n.litMap {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c := n.litMap[k]
		rt.finish(c, d+1)
		n.fullMask |= c.fullMask
		n.prefixMask |= c.prefixMask
	}
	if n.param != nil {
		rt.finish(n.param, d+1)
		n.fullMask |= n.param.fullMask
		n.prefixMask |= n.param.prefixMask
	}
	if len(keys) <= smallFanout {
		for _, k := range keys {
			n.litSegs = append(n.litSegs, k)
			n.lits = append(n.lits, n.litMap[k])
		}
		n.litMap = nil
	}
}

// sortCands orders candidates of equal path specificity by rules 3 to 5, and
// then by path index so that parameter names come from the first pattern.
func (rt *Router) sortCands(cs []cand) {
	slices.SortFunc(cs, func(a, b cand) int {
		ra, rb := &rt.routes[a.route], &rt.routes[b.route]
		if c := cmp.Compare(rb.conds, ra.conds); c != 0 {
			return c
		}
		if c := cmp.Compare(rb.prio, ra.prio); c != 0 {
			return c
		}
		if c := cmp.Compare(a.route, b.route); c != 0 {
			return c
		}
		return cmp.Compare(a.path, b.path)
	})
}

func depthBit(d int) uint64 {
	return 1 << min(d, 63)
}

// parsePath validates a path pattern. It returns its segments (paramSeg
// standing for a parameter), whether it is a prefix, and its parameter names. A
// non-empty msg reports the first problem.
func parsePath(p string) (segs []string, prefix bool, names []string, msg string) {
	if !strings.HasPrefix(p, "/") {
		return nil, false, nil, `must start with "/"`
	}
	if strings.Contains(p, "//") {
		return nil, false, nil, `empty segment ("//")`
	}
	body := p
	if strings.HasSuffix(p, "/*") {
		prefix = true
		body = p[:len(p)-2]
	}
	if body == "" {
		return nil, true, nil, "" // "/*"
	}
	for s := range strings.SplitSeq(body[1:], "/") {
		switch {
		case strings.Contains(s, "*"):
			return nil, false, nil, `"*" is only allowed as the final segment, after "/"`
		case strings.HasPrefix(s, "{"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return nil, false, nil, fmt.Sprintf("unterminated parameter %q", s)
			}
			if end != len(s)-1 || strings.Count(s, "{") != 1 {
				return nil, false, nil, fmt.Sprintf("parameter %q must be a whole segment", s)
			}
			name := s[1:end]
			if name == "" {
				return nil, false, nil, "empty parameter name"
			}
			if !isParamName(name) {
				return nil, false, nil, fmt.Sprintf("parameter name %q must use only letters, digits, \"_\" and \"-\"", name)
			}
			if slices.Contains(names, name) {
				return nil, false, nil, fmt.Sprintf("duplicate parameter name %q", name)
			}
			if len(names) == MaxParams {
				return nil, false, nil, fmt.Sprintf("more than %d parameters", MaxParams)
			}
			names = append(names, name)
			segs = append(segs, paramSeg)
		case strings.ContainsAny(s, "{}"):
			return nil, false, nil, fmt.Sprintf("parameter in %q must be a whole segment", s)
		default:
			// s is "" only after a trailing slash ("/x/"), as "//" was
			// rejected above.
			segs = append(segs, s)
		}
	}
	return segs, prefix, names, ""
}

// parseHost validates and lower-cases a host pattern. For a wildcard it
// returns the part after "*.".
func parseHost(h string) (host string, wild bool, msg string) {
	// ASCII only: strings.ToLower would turn the Kelvin sign into "k".
	h = strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, h)
	switch {
	case h == "":
		return "", false, "empty host"
	case h == "*":
		return "", false, `"*" alone is not allowed; leave hosts empty to match any host`
	case strings.HasPrefix(h, "*."):
		h, wild = h[2:], true
	}
	if strings.Contains(h, "*") {
		return "", false, `a wildcard must be the whole first label, as in "*.example.com"`
	}
	if strings.HasPrefix(h, "[") {
		if wild {
			return "", false, "a wildcard cannot precede an IP literal"
		}
		if !strings.HasSuffix(h, "]") || len(h) < 3 || strings.Trim(h[1:len(h)-1], "0123456789abcdef:.") != "" {
			return "", false, "malformed IPv6 literal"
		}
		return h, false, ""
	}
	h = strings.TrimSuffix(h, ".")
	if len(h) > maxHostLen {
		return "", false, fmt.Sprintf("longer than %d bytes", maxHostLen)
	}
	if strings.Contains(h, ":") {
		return "", false, "host must not include a port"
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return "", false, "empty label"
		}
		if strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return "", false, `labels may contain only letters, digits, "-" and "_"`
		}
	}
	return h, wild, ""
}

func checkMethod(m string) string {
	if !isToken(m) {
		return "method must be a non-empty token"
	}
	if strings.ToUpper(m) != m {
		return "method must be upper case"
	}
	return ""
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func isParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' {
			continue
		}
		return false
	}
	return true
}
