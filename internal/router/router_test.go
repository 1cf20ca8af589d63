package router

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

type matchCase struct {
	name   string
	routes []Route
	method string // "GET" if empty
	host   string
	path   string
	query  string
	header http.Header
	want   int // -1 for no match
	params []refParam
}

func (tt matchCase) run(t *testing.T) {
	t.Helper()
	rt, err := Compile(tt.routes)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	method := tt.method
	if method == "" {
		method = "GET"
	}
	want := refResult{Index: tt.want, OK: tt.want >= 0, Params: tt.params}
	got := indexed(rt, method, tt.host, tt.path, tt.query, tt.header)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Match(%q, %q, %q, %q) mismatch (-want +got):\n%s", method, tt.host, tt.path, tt.query, diff)
	}
	// The table doubles as a check of the reference matcher.
	if diff := cmp.Diff(want, refMatch(tt.routes, method, tt.host, tt.path, tt.query, tt.header)); diff != "" {
		t.Errorf("refMatch(%q, %q, %q, %q) mismatch (-want +got):\n%s", method, tt.host, tt.path, tt.query, diff)
	}
}

func paths(ps ...string) []string { return ps }

func TestMatchPaths(t *testing.T) {
	t.Parallel()
	tests := []matchCase{
		{name: "exact", routes: []Route{{Paths: paths("/a")}, {Paths: paths("/a/b")}}, path: "/a/b", want: 1},
		{name: "exact root", routes: []Route{{Paths: paths("/")}}, path: "/", want: 0},
		{name: "exact root misses other", routes: []Route{{Paths: paths("/")}}, path: "/a", want: -1},
		{name: "exact no trailing slash", routes: []Route{{Paths: paths("/x")}}, path: "/x/", want: -1},
		{name: "exact trailing slash", routes: []Route{{Paths: paths("/x/")}}, path: "/x", want: -1},
		{name: "exact trailing slash hit", routes: []Route{{Paths: paths("/x")}, {Paths: paths("/x/")}}, path: "/x/", want: 1},
		{name: "second path of route", routes: []Route{{Paths: paths("/a", "/b")}}, path: "/b", want: 0},
		{name: "no paths matches anything", routes: []Route{{}}, path: "/any/thing", want: 0},
		{name: "no paths matches asterisk", routes: []Route{{Paths: paths("/*")}, {}}, path: "*", want: 1},
		{name: "raw path not decoded", routes: []Route{{Paths: paths("/a b")}, {Paths: paths("/a%20b")}}, path: "/a%20b", want: 1},
		{name: "case-sensitive path", routes: []Route{{Paths: paths("/A")}}, path: "/a", want: -1},

		{name: "prefix matches bare", routes: []Route{{Paths: paths("/x/*")}}, path: "/x", want: 0},
		{name: "prefix matches slash", routes: []Route{{Paths: paths("/x/*")}}, path: "/x/", want: 0},
		{name: "prefix matches deeper", routes: []Route{{Paths: paths("/x/*")}}, path: "/x/y/z", want: 0},
		{name: "prefix is per segment", routes: []Route{{Paths: paths("/x/*")}}, path: "/xy", want: -1},
		{name: "root prefix", routes: []Route{{Paths: paths("/*")}}, path: "/", want: 0},
		{name: "root prefix deep", routes: []Route{{Paths: paths("/*")}}, path: "/a/b/c", want: 0},
		{name: "longer prefix wins", routes: []Route{{Paths: paths("/*")}, {Paths: paths("/a/b/*")}, {Paths: paths("/a/*")}}, path: "/a/b/c", want: 1},
		{name: "longer prefix wins at its end", routes: []Route{{Paths: paths("/a/*")}, {Paths: paths("/a/b/*")}}, path: "/a/b", want: 1},

		{name: "param", routes: []Route{{Paths: paths("/users/{id}")}}, path: "/users/42", want: 0,
			params: []refParam{{"id", "42"}}},
		{name: "param not empty", routes: []Route{{Paths: paths("/users/{id}")}}, path: "/users/", want: -1},
		{name: "param one segment", routes: []Route{{Paths: paths("/users/{id}")}}, path: "/users/4/2", want: -1},
		{name: "params many", routes: []Route{{Paths: paths("/{a}/x/{b}/{c}")}}, path: "/1/x/2/3", want: 0,
			params: []refParam{{"a", "1"}, {"b", "2"}, {"c", "3"}}},
		{name: "params max", routes: []Route{{Paths: paths("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}")}}, path: "/1/2/3/4/5/6/7/8", want: 0,
			params: []refParam{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}, {"f", "6"}, {"g", "7"}, {"h", "8"}}},
		{name: "param with prefix", routes: []Route{{Paths: paths("/users/{id}/*")}}, path: "/users/7/posts/1", want: 0,
			params: []refParam{{"id", "7"}}},
		{name: "param with prefix bare", routes: []Route{{Paths: paths("/users/{id}/*")}}, path: "/users/7", want: 0,
			params: []refParam{{"id", "7"}}},
		{name: "param names per route", routes: []Route{{Paths: paths("/u/{id}"), Methods: []string{"POST"}}, {Paths: paths("/u/{uid}")}}, path: "/u/1", want: 1,
			params: []refParam{{"uid", "1"}}},
		{name: "param names from first of equal paths", routes: []Route{{Paths: paths("/u/{b}", "/u/{a}")}}, path: "/u/1", want: 0,
			params: []refParam{{"b", "1"}}},
		{name: "params from best path of route", routes: []Route{{Paths: paths("/{a}/*", "/{b}/{c}")}}, path: "/1/2", want: 0,
			params: []refParam{{"b", "1"}, {"c", "2"}}},

		{name: "exact beats param", routes: []Route{{Paths: paths("/users/{id}")}, {Paths: paths("/users/me")}}, path: "/users/me", want: 1},
		{name: "param beats prefix", routes: []Route{{Paths: paths("/users/*")}, {Paths: paths("/users/{id}")}}, path: "/users/me", want: 1,
			params: []refParam{{"id", "me"}}},
		{name: "prefix beats no path", routes: []Route{{}, {Paths: paths("/*")}}, path: "/a", want: 1},
		{name: "earlier literal beats later literal", routes: []Route{{Paths: paths("/{y}/b/c")}, {Paths: paths("/a/{x}/c")}}, path: "/a/b/c", want: 1,
			params: []refParam{{"x", "b"}}},
		{name: "literal then param", routes: []Route{{Paths: paths("/{a}/{b}")}, {Paths: paths("/{a}/x")}, {Paths: paths("/x/{b}")}}, path: "/x/x", want: 2,
			params: []refParam{{"b", "x"}}},
		{name: "deeper prefix beats literal-first prefix", routes: []Route{{Paths: paths("/a/*")}, {Paths: paths("/{x}/b/*")}}, path: "/a/b/c", want: 1,
			params: []refParam{{"x", "a"}}},
		{name: "equal prefixes literal first", routes: []Route{{Paths: paths("/{x}/b/*")}, {Paths: paths("/a/{y}/*")}}, path: "/a/b/c", want: 1,
			params: []refParam{{"y", "b"}}},
		{name: "best path of route ranks it", routes: []Route{{Paths: paths("/a/{x}")}, {Paths: paths("/*", "/a/b")}}, path: "/a/b", want: 1},

		{name: "fallback to param when exact method differs",
			routes: []Route{{Paths: paths("/users/me"), Methods: []string{"POST"}}, {Paths: paths("/users/{id}")}}, path: "/users/me", want: 1,
			params: []refParam{{"id", "me"}}},
		{name: "fallback to prefix when param method differs",
			routes: []Route{{Paths: paths("/users/{id}"), Methods: []string{"POST"}}, {Paths: paths("/users/*")}}, path: "/users/me", want: 1},
		{name: "fallback to shorter prefix",
			routes: []Route{{Paths: paths("/a/*")}, {Paths: paths("/a/b/*"), Methods: []string{"POST"}}}, path: "/a/b/c", want: 0},
		{name: "fallback to param sibling",
			routes: []Route{{Paths: paths("/a/b/c"), Methods: []string{"POST"}}, {Paths: paths("/a/{x}/c")}}, path: "/a/b/c", want: 1,
			params: []refParam{{"x", "b"}}},
		{name: "fallback to no path",
			routes: []Route{{Paths: paths("/a/*"), Methods: []string{"POST"}}, {Methods: []string{"GET"}}}, path: "/a", want: 1},
		{name: "nothing matches", routes: []Route{{Paths: paths("/a"), Methods: []string{"POST"}}}, path: "/a", want: -1},
		{name: "no routes", routes: nil, path: "/", want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

func TestMatchHosts(t *testing.T) {
	t.Parallel()
	hosts := func(hs ...string) []string { return hs }
	tests := []matchCase{
		{name: "exact", routes: []Route{{Hosts: hosts("a.com")}}, host: "a.com", want: 0},
		{name: "exact miss", routes: []Route{{Hosts: hosts("a.com")}}, host: "b.com", want: -1},
		{name: "port stripped", routes: []Route{{Hosts: hosts("a.com")}}, host: "a.com:8443", want: 0},
		{name: "trailing dot stripped", routes: []Route{{Hosts: hosts("a.com")}}, host: "a.com.", want: 0},
		{name: "trailing dot in pattern", routes: []Route{{Hosts: hosts("a.com.")}}, host: "a.com", want: 0},
		{name: "case-insensitive request", routes: []Route{{Hosts: hosts("a.com")}}, host: "A.CoM:80", want: 0},
		{name: "case-insensitive pattern", routes: []Route{{Hosts: hosts("API.A.com")}}, host: "api.a.COM", want: 0},
		{name: "ipv6", routes: []Route{{Hosts: hosts("[::1]")}}, host: "[::1]:8080", want: 0},
		{name: "ipv6 no port", routes: []Route{{Hosts: hosts("[::1]")}}, host: "[::1]", want: 0},
		{name: "empty host only hostless", routes: []Route{{Hosts: hosts("a.com")}, {}}, host: "", want: 1},
		{name: "any of hosts", routes: []Route{{Hosts: hosts("a.com", "b.com")}}, host: "b.com", want: 0},
		{name: "too long host", routes: []Route{{Hosts: hosts("*.com")}, {}}, host: strings.Repeat("a", 250) + ".com", want: 1},

		{name: "wildcard one label", routes: []Route{{Hosts: hosts("*.a.com")}}, host: "x.a.com", want: 0},
		{name: "wildcard two labels", routes: []Route{{Hosts: hosts("*.a.com")}}, host: "y.x.a.com", want: 0},
		{name: "wildcard not apex", routes: []Route{{Hosts: hosts("*.a.com")}}, host: "a.com", want: -1},
		{name: "wildcard label boundary", routes: []Route{{Hosts: hosts("*.a.com")}}, host: "xa.com", want: -1},
		{name: "wildcard with port and case", routes: []Route{{Hosts: hosts("*.A.com")}}, host: "X.a.COM:1", want: 0},

		{name: "exact beats wildcard", routes: []Route{{Hosts: hosts("*.a.com")}, {Hosts: hosts("x.a.com")}}, host: "x.a.com", want: 1},
		{name: "longer wildcard wins", routes: []Route{{Hosts: hosts("*.com")}, {Hosts: hosts("*.x.a.com")}, {Hosts: hosts("*.a.com")}}, host: "y.x.a.com", want: 1},
		{name: "wildcard beats hostless", routes: []Route{{}, {Hosts: hosts("*.com")}}, host: "a.com", want: 1},
		{name: "host beats path", routes: []Route{{Paths: paths("/a/b")}, {Hosts: hosts("a.com"), Paths: paths("/*")}}, host: "a.com", path: "/a/b", want: 1},
		{name: "best host of route ranks it",
			routes: []Route{{Hosts: hosts("x.a.com")}, {Hosts: hosts("*.a.com", "x.a.com"), Priority: 1}}, host: "x.a.com", want: 1},

		{name: "exact host falls back to hostless",
			routes: []Route{{Hosts: hosts("a.com"), Paths: paths("/x")}, {Paths: paths("/y")}}, host: "a.com", path: "/y", want: 1},
		{name: "exact host falls back to wildcard",
			routes: []Route{{Hosts: hosts("x.a.com"), Methods: []string{"POST"}}, {Hosts: hosts("*.a.com")}}, host: "x.a.com", want: 1},
		{name: "longer wildcard falls back to shorter",
			routes: []Route{{Hosts: hosts("*.com"), Paths: paths("/y")}, {Hosts: hosts("*.a.com"), Paths: paths("/x")}}, host: "x.a.com", path: "/y", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

func TestMatchConditions(t *testing.T) {
	t.Parallel()
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	tests := []matchCase{
		{name: "method", routes: []Route{{Methods: []string{"POST"}}, {Methods: []string{"GET", "PUT"}}}, method: "PUT", want: 1},
		{name: "method case-sensitive", routes: []Route{{Methods: []string{"GET"}}}, method: "get", want: -1},

		{name: "header exact", routes: []Route{{Headers: map[string]string{"X-A": "1"}}}, header: hdr("X-A", "1"), want: 0},
		{name: "header value case-sensitive", routes: []Route{{Headers: map[string]string{"X-A": "v"}}}, header: hdr("X-A", "V"), want: -1},
		{name: "header key case-insensitive", routes: []Route{{Headers: map[string]string{"x-API-key": "1"}}}, header: hdr("X-Api-Key", "1"), want: 0},
		{name: "header any value", routes: []Route{{Headers: map[string]string{"X-A": "*"}}}, header: hdr("X-A", ""), want: 0},
		{name: "header any value absent", routes: []Route{{Headers: map[string]string{"X-A": "*"}}}, header: hdr("X-B", "1"), want: -1},
		{name: "header second value", routes: []Route{{Headers: map[string]string{"X-A": "2"}}}, header: hdr("X-A", "1", "X-A", "2"), want: 0},
		{name: "header list not split", routes: []Route{{Headers: map[string]string{"X-A": "2"}}}, header: hdr("X-A", "1, 2"), want: -1},
		{name: "header nil", routes: []Route{{Headers: map[string]string{"X-A": "*"}}}, want: -1},
		{name: "headers all required", routes: []Route{{Headers: map[string]string{"X-A": "1", "X-B": "2"}}}, header: hdr("X-A", "1"), want: -1},

		{name: "query exact", routes: []Route{{Query: map[string]string{"q": "1"}}}, query: "q=1", want: 0},
		{name: "query plus is space", routes: []Route{{Query: map[string]string{"q": "a b"}}}, query: "q=a+b", want: 0},
		{name: "query percent decoded", routes: []Route{{Query: map[string]string{"q": "a b"}}}, query: "x=1&q=a%20b", want: 0},
		{name: "query key decoded", routes: []Route{{Query: map[string]string{"a b": "1"}}}, query: "a%20b=1", want: 0},
		{name: "query second value", routes: []Route{{Query: map[string]string{"q": "2"}}}, query: "q=1&q=2", want: 0},
		{name: "query any value", routes: []Route{{Query: map[string]string{"q": "*"}}}, query: "q", want: 0},
		{name: "query empty value", routes: []Route{{Query: map[string]string{"q": ""}}}, query: "q=", want: 0},
		{name: "query absent", routes: []Route{{Query: map[string]string{"q": "*"}}}, query: "r=1", want: -1},
		{name: "query bad escape ignored", routes: []Route{{Query: map[string]string{"q": "*"}}}, query: "q=%zz", want: -1},
		{name: "query semicolon ignored", routes: []Route{{Query: map[string]string{"q": "1"}}}, query: "q=1;r=2", want: -1},
		{name: "query case-sensitive", routes: []Route{{Query: map[string]string{"q": "a"}}}, query: "Q=a", want: -1},
		{name: "query too many params", routes: []Route{{Query: map[string]string{"q": "1"}}}, query: "q=1" + strings.Repeat("&", 10000), want: -1},

		{name: "more conditions win", routes: []Route{{Methods: []string{"GET"}}, {Methods: []string{"GET"}, Query: map[string]string{"q": "1"}}}, query: "q=1", want: 1},
		{name: "conditions counted per key",
			routes: []Route{{Methods: []string{"GET", "POST", "PUT"}}, {Headers: map[string]string{"X-A": "*", "X-B": "*"}}}, header: hdr("X-A", "", "X-B", ""), want: 1},
		{name: "path beats conditions", routes: []Route{{Paths: paths("/*"), Methods: []string{"GET"}}, {Paths: paths("/a")}}, path: "/a", want: 1},
		{name: "conditions beat priority", routes: []Route{{Priority: 10}, {Methods: []string{"GET"}}}, want: 1},
		{name: "priority wins", routes: []Route{{Priority: 1}, {Priority: 2}, {Priority: 2}}, want: 1},
		{name: "negative priority", routes: []Route{{Priority: -1}, {}}, want: 1},
		{name: "earlier wins", routes: []Route{{Paths: paths("/a")}, {Paths: paths("/a")}}, path: "/a", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		route Route
		want  []PatternError // Msg is checked as a substring
	}{
		{"path without slash", Route{Paths: paths("a")}, []PatternError{{0, "paths", 0, `must start with "/"`}}},
		{"empty path", Route{Paths: paths("/a", "")}, []PatternError{{0, "paths", 1, `must start with "/"`}}},
		{"double slash", Route{Paths: paths("/a//b")}, []PatternError{{0, "paths", 0, "empty segment"}}},
		{"star not at end", Route{Paths: paths("/a/*/b")}, []PatternError{{0, "paths", 0, `"*" is only allowed`}}},
		{"star not after slash", Route{Paths: paths("/a*")}, []PatternError{{0, "paths", 0, `"*" is only allowed`}}},
		{"bare star", Route{Paths: paths("*")}, []PatternError{{0, "paths", 0, `must start with "/"`}}},
		{"empty param", Route{Paths: paths("/{}")}, []PatternError{{0, "paths", 0, "empty parameter name"}}},
		{"unterminated param", Route{Paths: paths("/{id")}, []PatternError{{0, "paths", 0, "unterminated"}}},
		{"unterminated param in middle", Route{Paths: paths("/{id/x}")}, []PatternError{{0, "paths", 0, "unterminated"}}},
		{"partial param", Route{Paths: paths("/{id}.json")}, []PatternError{{0, "paths", 0, "whole segment"}}},
		{"param after literal", Route{Paths: paths("/x{id}")}, []PatternError{{0, "paths", 0, "whole segment"}}},
		{"stray brace", Route{Paths: paths("/a}")}, []PatternError{{0, "paths", 0, "whole segment"}}},
		{"bad param name", Route{Paths: paths("/{a b}")}, []PatternError{{0, "paths", 0, "parameter name"}}},
		{"duplicate param", Route{Paths: paths("/{id}/x/{id}")}, []PatternError{{0, "paths", 0, `duplicate parameter name "id"`}}},
		{"too many params", Route{Paths: paths("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}")}, []PatternError{{0, "paths", 0, "more than 8 parameters"}}},
		{"empty host", Route{Hosts: []string{""}}, []PatternError{{0, "hosts", 0, "empty host"}}},
		{"star host", Route{Hosts: []string{"*"}}, []PatternError{{0, "hosts", 0, `"*" alone is not allowed`}}},
		{"inner wildcard", Route{Hosts: []string{"a.*.com"}}, []PatternError{{0, "hosts", 0, "wildcard must be the whole first label"}}},
		{"partial wildcard", Route{Hosts: []string{"*a.com"}}, []PatternError{{0, "hosts", 0, "wildcard must be the whole first label"}}},
		{"double wildcard", Route{Hosts: []string{"*.*.com"}}, []PatternError{{0, "hosts", 0, "wildcard must be the whole first label"}}},
		{"wildcard nothing", Route{Hosts: []string{"*."}}, []PatternError{{0, "hosts", 0, "empty label"}}},
		{"host port", Route{Hosts: []string{"a.com:80"}}, []PatternError{{0, "hosts", 0, "port"}}},
		{"host empty label", Route{Hosts: []string{"a..com"}}, []PatternError{{0, "hosts", 0, "empty label"}}},
		{"host bad char", Route{Hosts: []string{"a/b.com"}}, []PatternError{{0, "hosts", 0, "labels may contain"}}},
		{"host too long", Route{Hosts: []string{strings.Repeat("a.", 127) + "com"}}, []PatternError{{0, "hosts", 0, "longer than 253"}}},
		{"host kelvin sign", Route{Hosts: []string{"\u212a.com"}}, []PatternError{{0, "hosts", 0, "labels may contain"}}},
		{"bad ipv6", Route{Hosts: []string{"[::1"}}, []PatternError{{0, "hosts", 0, "malformed IPv6"}}},
		{"wildcard ipv6", Route{Hosts: []string{"*.[::1]"}}, []PatternError{{0, "hosts", 0, "IP literal"}}},
		{"lower-case method", Route{Methods: []string{"get"}}, []PatternError{{0, "methods", 0, "upper case"}}},
		{"empty method", Route{Methods: []string{"GET", ""}}, []PatternError{{0, "methods", 1, "token"}}},
		{"bad header", Route{Headers: map[string]string{"a b": "1"}}, []PatternError{{0, "headers", -1, "token"}}},
		{"empty query key", Route{Query: map[string]string{"": "1"}}, []PatternError{{0, "query", -1, "empty query key"}}},
		{"all errors", Route{Paths: paths("/ok", "x", "/{a}/{a}"), Hosts: []string{"ok.com", "*"}}, []PatternError{
			{0, "paths", 1, "must start"}, {0, "paths", 2, "duplicate"}, {0, "hosts", 1, "alone"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Put the bad route second to check Route.
			rt, err := Compile([]Route{{Paths: paths("/fine")}, tt.route})
			if rt != nil || err == nil {
				t.Fatalf("Compile(%+v) = %v, %v; want nil, error", tt.route, rt, err)
			}
			var got []PatternError
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var pe *PatternError
				if !errors.As(e, &pe) {
					t.Fatalf("error %v is %T; want *PatternError", e, e)
				}
				got = append(got, *pe)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Compile(%+v) errors = %v; want %d errors like %v", tt.route, err, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				w.Route = 1
				g := got[i]
				if g.Route != w.Route || g.Field != w.Field || g.Index != w.Index || !strings.Contains(g.Msg, w.Msg) {
					t.Errorf("error %d = %+v; want %+v (Msg as substring)", i, g, w)
				}
			}
		})
	}
}

func TestCompileValid(t *testing.T) {
	t.Parallel()
	valid := []Route{
		{Paths: paths("/", "/*", "/a/", "/a/*", "/{a}/*", "/{a_1-B}", "/a%20b/~x.y", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/*")},
		{Hosts: []string{"a.com", "*.a.com", "*.com", "localhost", "[::1]", "[2001:db8::1]", "xn--bcher-kva.example", "A_B.com", "a.com."}},
		{Methods: []string{"GET", "M-SEARCH", "PROPFIND"}},
		{Headers: map[string]string{"x-a": "", "X-B": "*"}, Query: map[string]string{"q": "", "a b": "*"}},
		{},
	}
	if _, err := Compile(valid); err != nil {
		t.Errorf("Compile(valid) = %v; want nil", err)
	}
}

func TestPatternErrorError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *PatternError
		want string
	}{
		{&PatternError{Route: 2, Field: "paths", Index: 1, Msg: `"x": must start with "/"`}, `routes[2].paths[1]: "x": must start with "/"`},
		{&PatternError{Route: 0, Field: "headers", Index: -1, Msg: "bad"}, `routes[0].headers: bad`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q; want %q", tt.err, got, tt.want)
		}
	}
}

func TestParams(t *testing.T) {
	t.Parallel()
	rt, err := Compile([]Route{{Paths: paths("/{org}/repos/{repo}")}})
	if err != nil {
		t.Fatal(err)
	}
	ps := Params{n: 3} // stale state must be reset
	path := "/golang/repos/go"
	if _, ok := rt.Match("GET", "", path, "", nil, &ps); !ok {
		t.Fatalf("Match(%q) did not match", path)
	}
	if got := ps.Len(); got != 2 {
		t.Fatalf("Len() = %d; want 2", got)
	}
	if got := ps.Get("repo"); got != "go" {
		t.Errorf("Get(repo) = %q; want %q", got, "go")
	}
	if got := ps.Get("nope"); got != "" {
		t.Errorf("Get(nope) = %q; want empty", got)
	}
	// Values alias the path.
	if v := ps.Value(0); v != "golang" || unsafe.StringData(v) != unsafe.StringData(path[1:]) {
		t.Errorf("Value(0) = %q; want %q, sharing memory with the path", v, "golang")
	}
	if _, ok := rt.Match("GET", "", "/nope", "", nil, &ps); ok || ps.Len() != 0 {
		t.Errorf("after a miss, Len() = %d; want 0", ps.Len())
	}
	if _, ok := rt.Match("GET", "", path, "", nil, nil); !ok {
		t.Errorf("Match with nil Params did not match")
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Name(0) on empty Params did not panic")
		}
	}()
	_ = ps.Name(0)
}

func TestNilRouter(t *testing.T) {
	t.Parallel()
	var rt *Router
	if i, ok := rt.Match("GET", "", "/", "", nil, nil); ok || i != -1 {
		t.Errorf("nil Router Match = %d, %v; want -1, false", i, ok)
	}
	if i, ok := new(Router).Match("GET", "", "/", "", nil, nil); ok || i != -1 {
		t.Errorf("zero Router Match = %d, %v; want -1, false", i, ok)
	}
}

// TestMatchAllocs proves that Match allocates nothing, for every kind of
// pattern and condition.
func TestMatchAllocs(t *testing.T) {
	// Not parallel: AllocsPerRun counts allocations of the whole process.
	routes := []Route{
		{Paths: paths("/exact/path")},
		{Paths: paths("/users/{id}/posts/{post}")},
		{Paths: paths("/static/*")},
		{Paths: paths("/orgs/{org}/*")},
		{Hosts: []string{"*.example.org"}, Paths: paths("/w")},
		{Hosts: []string{"api.example.com"}, Paths: paths("/e")},
		{Paths: paths("/h"), Headers: map[string]string{"X-Api-Key": "secret", "X-Any": "*"}},
		{Paths: paths("/q"), Query: map[string]string{"a b": "c d", "flag": "*"}},
		{Paths: paths("/m"), Methods: []string{"PUT", "POST"}},
		{Priority: -1},
	}
	rt, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Api-Key": {"secret"}, "X-Any": {""}}
	tests := []struct {
		name, method, host, path, query string
		want                            int
	}{
		{"exact", "GET", "", "/exact/path", "", 0},
		{"param", "GET", "", "/users/1/posts/2", "", 1},
		{"prefix", "GET", "", "/static/css/a.css", "", 2},
		{"param prefix", "GET", "", "/orgs/x/a/b", "", 3},
		{"wildcard host", "GET", "A.B.Example.ORG:8080", "/w", "", 4},
		{"exact host", "GET", "API.example.com", "/e", "", 5},
		{"header", "GET", "", "/h", "", 6},
		{"query", "GET", "", "/q", "x=1&a+b=c%20d&flag", 7},
		{"method", "POST", "", "/m", "", 8},
		{"fallback", "GET", "", "/m", "", 9},
		{"long host", "GET", strings.Repeat("A", 300), "/e", "", 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps Params
			if i, ok := rt.Match(tt.method, tt.host, tt.path, tt.query, h, &ps); !ok || i != tt.want {
				t.Fatalf("Match(%q, %q, %q, %q) = %d, %v; want %d, true", tt.method, tt.host, tt.path, tt.query, i, ok, tt.want)
			}
			allocs := testing.AllocsPerRun(100, func() {
				rt.Match(tt.method, tt.host, tt.path, tt.query, h, &ps)
			})
			if allocs != 0 {
				t.Errorf("Match(%q, %q, %q, %q) allocates %v times; want 0", tt.method, tt.host, tt.path, tt.query, allocs)
			}
		})
	}
}
