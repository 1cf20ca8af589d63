package router

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// This file holds a brute-force reference matcher, written independently of
// the index from the rules in the package documentation, and the tests that
// compare the two.

// refKey is the specificity of one matching route; greater is better.
type refKey struct {
	host      int // 2 exact, 1 wildcard, 0 none
	hostLen   int // wildcard suffix length
	pathClass int // 3 exact, 2 param, 1 prefix, 0 none
	pathDepth int // segments in the pattern (prefix part for prefixes)
	pathSeq   string
	conds     int
	prio      int
}

func (a refKey) compare(b refKey) int {
	return cmp.Or(
		cmp.Compare(a.host, b.host),
		cmp.Compare(a.hostLen, b.hostLen),
		cmp.Compare(a.pathClass, b.pathClass),
		cmp.Compare(a.pathDepth, b.pathDepth),
		strings.Compare(a.pathSeq, b.pathSeq),
		cmp.Compare(a.conds, b.conds),
		cmp.Compare(a.prio, b.prio),
	)
}

type refParam struct{ Name, Value string }

type refResult struct {
	Index  int
	OK     bool
	Params []refParam
}

// refMatch scans every route, computes its specificity key and returns the
// first route with the greatest key.
func refMatch(routes []Route, method, host, path, rawQuery string, h http.Header) refResult {
	best := refResult{Index: -1}
	var bestKey refKey
	q, _ := url.ParseQuery(rawQuery)
	host, hostOK := refNormHost(host)
	for i, r := range routes {
		var k refKey
		// Host.
		if len(r.Hosts) > 0 {
			matched := false
			for _, p := range r.Hosts {
				p = strings.TrimSuffix(strings.ToLower(p), ".")
				if !hostOK {
					continue
				}
				if suf, ok := strings.CutPrefix(p, "*."); ok {
					if strings.HasSuffix(host, "."+suf) && len(host) > len(suf)+1 {
						if !matched || k.host < 1 || k.host == 1 && k.hostLen < len(suf) {
							k.host, k.hostLen = 1, len(suf)
						}
						matched = true
					}
				} else if host == p {
					k.host, k.hostLen = 2, 0
					matched = true
				}
			}
			if !matched {
				continue
			}
		}
		// Path.
		var params []refParam
		if len(r.Paths) > 0 {
			matched := false
			var bestPath refKey // path fields only
			for _, p := range r.Paths {
				pk, ps, ok := refPath(p, path)
				if !ok {
					continue
				}
				if !matched || pk.compare(bestPath) > 0 {
					bestPath, params = pk, ps
				}
				matched = true
			}
			if !matched {
				continue
			}
			k.pathClass, k.pathDepth, k.pathSeq = bestPath.pathClass, bestPath.pathDepth, bestPath.pathSeq
		}
		// Other conditions.
		if len(r.Methods) > 0 {
			if !slices.Contains(r.Methods, method) {
				continue
			}
			k.conds++
		}
		ok := true
		for name, v := range r.Headers {
			vs := h.Values(name)
			if v == "*" && len(vs) == 0 || v != "*" && !slices.Contains(vs, v) {
				ok = false
			}
			k.conds++
		}
		for name, v := range r.Query {
			vs, present := q[name]
			if v == "*" && !present || v != "*" && !slices.Contains(vs, v) {
				ok = false
			}
			k.conds++
		}
		if !ok {
			continue
		}
		k.prio = r.Priority
		if !best.OK || k.compare(bestKey) > 0 {
			best = refResult{Index: i, OK: true, Params: params}
			bestKey = k
		}
	}
	return best
}

func refNormHost(host string) (string, bool) {
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]"); i >= 0 {
			host = host[:i+1]
		}
	} else if h, _, found := strings.Cut(host, ":"); found {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	// ASCII-only lower case: strings.ToLower would turn the Kelvin sign
	// into "k".
	b := []byte(host)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), len(b) <= 253
}

// refPath matches one path pattern. The key has only the path fields set.
func refPath(pattern, path string) (refKey, []refParam, bool) {
	if !strings.HasPrefix(path, "/") {
		return refKey{}, nil, false
	}
	body, prefix := strings.CutSuffix(pattern, "/*")
	var psegs []string
	if body != "" {
		psegs = strings.Split(body[1:], "/")
	}
	rsegs := strings.Split(path[1:], "/")
	if prefix && len(rsegs) < len(psegs) || !prefix && len(rsegs) != len(psegs) {
		return refKey{}, nil, false
	}
	k := refKey{pathClass: 3, pathDepth: len(psegs)}
	if prefix {
		k.pathClass = 1
	}
	var params []refParam
	for i, ps := range psegs {
		if strings.HasPrefix(ps, "{") {
			if rsegs[i] == "" {
				return refKey{}, nil, false
			}
			params = append(params, refParam{ps[1 : len(ps)-1], rsegs[i]})
			k.pathSeq += "0"
			if !prefix {
				k.pathClass = 2
			}
			continue
		}
		if ps != rsegs[i] {
			return refKey{}, nil, false
		}
		k.pathSeq += "1"
	}
	return k, params, true
}

// indexed runs Match and converts the result for comparison with refMatch.
func indexed(rt *Router, method, host, path, rawQuery string, h http.Header) refResult {
	var ps Params
	i, ok := rt.Match(method, host, path, rawQuery, h, &ps)
	res := refResult{Index: i, OK: ok}
	for j := range ps.Len() {
		res.Params = append(res.Params, refParam{ps.Name(j), ps.Value(j)})
	}
	return res
}

type request struct {
	method, host, path, query string
	h                         http.Header
}

func (r request) String() string {
	return fmt.Sprintf("%s %s%s?%s %v", r.method, r.host, r.path, r.query, r.h)
}

// gen produces route sets and requests from small alphabets, so that
// collisions between patterns, and thus ties and fallbacks, are frequent.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g gen) pathPattern() string {
	var b strings.Builder
	n := g.r.IntN(5)
	for i := range n {
		if g.r.IntN(3) == 0 {
			fmt.Fprintf(&b, "/{p%d}", i)
		} else {
			b.WriteString("/" + g.pick("a", "b", "c"))
		}
	}
	switch x := g.r.IntN(10); {
	case x < 3:
		b.WriteString("/*")
	case x < 4 || b.Len() == 0:
		b.WriteString("/")
	}
	return b.String()
}

func (g gen) routes() []Route {
	rs := make([]Route, 1+g.r.IntN(30))
	for i := range rs {
		r := &rs[i]
		r.Priority = g.r.IntN(3)
		for range g.r.IntN(3) {
			r.Paths = append(r.Paths, g.pathPattern())
		}
		if g.r.IntN(3) == 0 {
			for range 1 + g.r.IntN(2) {
				r.Hosts = append(r.Hosts, g.pick("a.com", "b.a.com", "x.b.a.com", "*.a.com", "*.b.a.com", "B.A.com", "*.com", "[::1]"))
			}
		}
		if g.r.IntN(3) == 0 {
			r.Methods = append(r.Methods, g.pick("GET", "POST"))
			if g.r.IntN(2) == 0 {
				r.Methods = append(r.Methods, "PUT")
			}
		}
		if g.r.IntN(4) == 0 {
			r.Headers = map[string]string{g.pick("x-a", "X-B"): g.pick("1", "2", "*")}
		}
		if g.r.IntN(4) == 0 {
			r.Query = map[string]string{g.pick("q", "r"): g.pick("1", "a b", "*", "")}
		}
	}
	return rs
}

func (g gen) request() request {
	var b strings.Builder
	for range g.r.IntN(6) {
		b.WriteString("/" + g.pick("a", "b", "c", "d", ""))
	}
	path := b.String()
	if path == "" {
		path = g.pick("/", "/", "", "*")
	}
	h := http.Header{}
	if g.r.IntN(2) == 0 {
		h.Add(g.pick("X-A", "X-B", "X-C"), g.pick("1", "2", ""))
	}
	return request{
		method: g.pick("GET", "POST", "PUT", "DELETE"),
		host:   g.pick("a.com", "b.a.com", "x.b.a.com", "y.x.b.a.com", "A.COM:8080", "b.a.com.", "c.com", "", "[::1]:80", "B.a.CoM"),
		path:   path,
		query:  g.pick("", "q=1", "q=a+b", "q=a%20b&r=1", "r=2&q=1", "q", "q=", "q=%zz", "q=1;r=1", "r=1&q=2&q=1"),
		h:      h,
	}
}

func TestMatchEqualsReference(t *testing.T) {
	t.Parallel()
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	for seed := range uint64(iters) {
		g := gen{rand.New(rand.NewPCG(seed, 1))}
		routes := g.routes()
		rt, err := Compile(routes)
		if err != nil {
			t.Fatalf("seed %d: Compile: %v", seed, err)
		}
		for range 40 {
			req := g.request()
			want := refMatch(routes, req.method, req.host, req.path, req.query, req.h)
			got := indexed(rt, req.method, req.host, req.path, req.query, req.h)
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Fatalf("seed %d: Match(%v) mismatch (-want +got):\n%s\nroutes: %+v", seed, req, diff, routes)
			}
		}
	}
}

// fuzzRoutes is the fixed route set FuzzMatch runs against: hand-written
// routes for each feature plus generated ones for collisions.
func fuzzRoutes() []Route {
	rs := []Route{
		{Paths: []string{"/"}},
		{Paths: []string{"/*"}},
		{Paths: []string{"/api/v1/users/{id}", "/api/v1/u/{id}"}},
		{Paths: []string{"/api/v1/users/me"}},
		{Paths: []string{"/api/*"}, Methods: []string{"GET", "HEAD"}},
		{Paths: []string{"/api/{version}/*"}},
		{Paths: []string{"/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}"}},
		{Paths: []string{"/x/"}},
		{Paths: []string{"/x"}, Hosts: []string{"Example.com"}},
		{Paths: []string{"/x/*"}, Hosts: []string{"*.example.com"}},
		{Paths: []string{"/x/*"}, Hosts: []string{"*.a.example.com"}, Headers: map[string]string{"X-A": "*"}},
		{Hosts: []string{"[::1]"}, Query: map[string]string{"q": "a b"}},
		{Paths: []string{"/q"}, Query: map[string]string{"q": "*", "r": "1"}},
		{Paths: []string{"/h"}, Headers: map[string]string{"x-a": "v", "x-b": "*"}, Priority: 3},
		{Paths: []string{"/h"}, Headers: map[string]string{"x-a": "v"}, Priority: 9},
	}
	g := gen{rand.New(rand.NewPCG(42, 42))}
	return append(rs, g.routes()...)
}

func FuzzMatch(f *testing.F) {
	routes := fuzzRoutes()
	rt, err := Compile(routes)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("GET", "example.com", "/x", "", "")
	f.Fuzz(func(t *testing.T, method, host, path, query, hval string) {
		h := http.Header{}
		if hval != "" {
			h.Set("X-A", hval)
			h.Add("X-B", hval)
		}
		want := refMatch(routes, method, host, path, query, h)
		got := indexed(rt, method, host, path, query, h)
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Fatalf("Match(%q, %q, %q, %q, X-A: %q) mismatch (-want +got):\n%s", method, host, path, query, hval, diff)
		}
	})
}

func FuzzCompile(f *testing.F) {
	f.Add("/users/{id}/*", "*.example.com")
	f.Fuzz(func(t *testing.T, path, host string) {
		routes := []Route{{Paths: []string{path}, Hosts: []string{host}}}
		rt, err := Compile(routes)
		if err != nil {
			if rt != nil {
				t.Fatalf("Compile(%q, %q) returned a Router and error %v", path, host, err)
			}
			return
		}
		// A valid literal pattern must match itself.
		reqHost, _ := strings.CutPrefix(host, "*")
		if strings.HasPrefix(reqHost, ".") {
			reqHost = "x" + reqHost
		}
		reqPath := path
		if strings.ContainsAny(path, "{*") {
			reqPath = strings.TrimSuffix(path, "*")
			if strings.Contains(reqPath, "{") {
				return
			}
		}
		var ps Params
		if i, ok := rt.Match("GET", reqHost, reqPath, "", nil, &ps); !ok || i != 0 {
			t.Errorf("pattern (%q, %q): Match(%q, %q) = %d, %v; want 0, true", path, host, reqHost, reqPath, i, ok)
		}
		if got := refMatch(routes, "GET", reqHost, reqPath, "", nil); !got.OK {
			t.Errorf("pattern (%q, %q): reference does not match (%q, %q)", path, host, reqHost, reqPath)
		}
	})
}

// TestMatchDeepPaths covers patterns and paths deeper than the 63 segments
// the depth masks track exactly, and checks that a very long path is not
// searched once per segment.
func TestMatchDeepPaths(t *testing.T) {
	t.Parallel()
	deep := func(n int, last string) string {
		return strings.Repeat("/a", n-1) + last
	}
	routes := []Route{
		{Paths: []string{"/*"}},
		{Paths: []string{deep(70, "/a")}},
		{Paths: []string{deep(64, "/{x}")}},
		{Paths: []string{deep(65, "/a/*")}},
		{Paths: []string{deep(66, "/{y}/*")}},
		{Paths: []string{deep(63, "/b")}},
	}
	rt, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 62, 63, 64, 65, 66, 67, 69, 70, 71, 100} {
		for _, last := range []string{"/a", "/b", "/", ""} {
			path := deep(n, last)
			want := refMatch(routes, "GET", "", path, "", nil)
			got := indexed(rt, "GET", "", path, "", nil)
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("Match(%d segments + %q) mismatch (-want +got):\n%s", n, last, diff)
			}
		}
	}
	long := strings.Repeat("/a", 1<<20)
	if i, ok := rt.Match("GET", "", long, "", nil, nil); !ok || i != 4 {
		t.Errorf("Match(1<<20 segments) = %d, %v; want 4, true", i, ok)
	}
}
