package proxyrewrite

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/plugin"
)

func build(t testing.TB, cfg string, next plugin.HandlerFunc) plugin.Handler {
	t.Helper()
	mw, err := Kind.Build(plugin.Env{}, json.RawMessage(cfg))
	if err != nil {
		t.Fatalf("Build(%s) = %v", cfg, err)
	}
	return mw(next)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"uri", `{"uri":"/v2/items"}`, ""},
		{"regex", `{"regex_uri":["^/api/(.*)","/$1","^/(?P<x>old)/(.*)","/new/${x}/${2}"]}`, ""},
		{"strip", `{"strip_prefix":"/api/"}`, ""},
		{"host method headers", `{"host":"backend.internal:8080","method":"POST","headers":{"add":{"X-A":"1"},"remove":["Cookie"],"set":{"X-B":"$request_id"}}}`, ""},
		{"legacy headers", `{"headers":{"X-Api-Version":"v1"}}`, ""},
		{"ipv6 host", `{"host":"[::1]:8080"}`, ""},
		{"nothing", `{}`, "nothing to do: set uri, regex_uri, strip_prefix, host, method or headers"},
		{"two paths", `{"uri":"/a","strip_prefix":"/b"}`, "uri, regex_uri, strip_prefix: set at most one"},
		{"relative uri", `{"uri":"v2"}`, `uri: "v2" must start with /`},
		{"uri query", `{"uri":"/v2?x=1"}`, `uri: "/v2?x=1" must be a path only, without ? or #`},
		{"uri bad escape", `{"uri":"/a%zz"}`, `uri: "/a%zz" is not a valid path`},
		{"odd regex", `{"regex_uri":["^/a"]}`, "regex_uri: has 1 entries; want pattern, replacement pairs"},
		{"bad regex", `{"regex_uri":["^/(a","/b"]}`, "regex_uri[0]: error parsing regexp: missing closing ): `^/(a`"},
		{"missing group", `{"regex_uri":["^/(a)","/$2"]}`, `regex_uri[1]: "/$2" refers to $2 but the pattern has 1 groups`},
		{"missing named group", `{"regex_uri":["^/(a)","/${x}"]}`, `regex_uri[1]: "/${x}" refers to group "x", which the pattern does not define`},
		{"go trap", `{"regex_uri":["^/(a)","/$1v2"]}`, `regex_uri[1]: "/$1v2" means the group named "1v2" to Go; write ${1}v2`},
		{"strip root", `{"strip_prefix":"/"}`, `strip_prefix: "/" must start with / and name at least one segment`},
		{"strip relative", `{"strip_prefix":"api"}`, `strip_prefix: "api" must start with / and name at least one segment`},
		{"bad host", `{"host":"http://x/y"}`, `host: "http://x/y" is not a valid host[:port]`},
		{"bad method", `{"method":"get"}`, `method: "get" is not one of GET, POST, PUT, HEAD, DELETE, OPTIONS, MKCOL, COPY, MOVE, PROPFIND, LOCK, UNLOCK, PATCH, TRACE`},
		{"bad header", `{"headers":{"set":{"Host":"x"}}}`, `headers.set["Host"]: "Host" cannot be changed here; use proxy-rewrite's host`},
		{"mixed headers", `{"headers":{"set":{"A":"1"},"X-B":"2"}}`, "headers: mixes add/set/remove with header names; move the names under set"},
		{"legacy non-string", `{"headers":{"X-B":2}}`, "headers: header values must be strings"},
		{"headers wrong type", `{"headers":{"remove":"Cookie"}}`, "headers.remove: expected []string, got string"},
		{"unknown key", `{"scheme":"https"}`, `json: unknown field "scheme"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Kind.Check(json.RawMessage(tt.cfg))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
}

type seen struct {
	Method, Host, Path, RawPath, Query, EscapedPath string
	Header                                          map[string][]string
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cfg, target string
		want              seen
	}{
		{"uri", `{"uri":"/v2/items"}`, "/v1/things?page=2",
			seen{Path: "/v2/items", Query: "page=2", EscapedPath: "/v2/items"}},
		{"uri escaped", `{"uri":"/a%2Fb"}`, "/x",
			seen{Path: "/a/b", RawPath: "/a%2Fb", EscapedPath: "/a%2Fb"}},
		{"regex first match", `{"regex_uri":["^/iresty/(.*)/(.*)","/$1-$2","^/theothers/.*","/theothers"]}`, "/iresty/hello/world",
			seen{Path: "/hello-world", EscapedPath: "/hello-world"}},
		{"regex second rule", `{"regex_uri":["^/iresty/(.*)/(.*)","/$1-$2","^/theothers/.*","/theothers"]}`, "/theothers/a/b",
			seen{Path: "/theothers", EscapedPath: "/theothers"}},
		{"regex replaces the match only", `{"regex_uri":["v1","v2"]}`, "/api/v1/v1/x",
			seen{Path: "/api/v2/v1/x", EscapedPath: "/api/v2/v1/x"}},
		{"regex no match", `{"regex_uri":["^/nomatch","/z"]}`, "/a%2Fb",
			seen{Path: "/a/b", RawPath: "/a%2Fb", EscapedPath: "/a%2Fb"}},
		{"strip", `{"strip_prefix":"/api"}`, "/api/users?id=1",
			seen{Path: "/users", Query: "id=1", EscapedPath: "/users"}},
		{"strip trailing slash config", `{"strip_prefix":"/api/"}`, "/api/users",
			seen{Path: "/users", EscapedPath: "/users"}},
		{"strip to root", `{"strip_prefix":"/api"}`, "/api",
			seen{Path: "/", EscapedPath: "/"}},
		{"strip segment boundary", `{"strip_prefix":"/api"}`, "/apis/x",
			seen{Path: "/apis/x", EscapedPath: "/apis/x"}},
		{"strip keeps raw path", `{"strip_prefix":"/api"}`, "/api/a%2Fb",
			seen{Path: "/a/b", RawPath: "/a%2Fb", EscapedPath: "/a%2Fb"}},
		{"host method", `{"host":"backend.internal","method":"POST"}`, "/x",
			seen{Method: "POST", Host: "backend.internal", Path: "/x", EscapedPath: "/x"}},
		{"headers", `{"headers":{"add":{"X-Multi":"2"},"remove":["Cookie"],"set":{"X-Host":"$host"}}}`, "/x",
			seen{Path: "/x", EscapedPath: "/x", Header: map[string][]string{"X-Multi": {"1", "2"}, "X-Host": {"client.example.org"}}}},
		{"legacy headers", `{"headers":{"x-api-version":"v1"}}`, "/x",
			seen{Path: "/x", EscapedPath: "/x", Header: map[string][]string{"X-Multi": {"1"}, "Cookie": {"a=b"}, "X-Api-Version": {"v1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got seen
			h := build(t, tt.cfg, func(w http.ResponseWriter, r *http.Request) error {
				got = seen{r.Method, r.Host, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.URL.EscapedPath(), r.Header}
				return nil
			})
			r := httptest.NewRequest("GET", "http://client.example.org"+tt.target, nil)
			r.Header.Set("X-Multi", "1")
			r.Header.Set("Cookie", "a=b")
			if tt.want.Method == "" {
				tt.want.Method = "GET"
			}
			if tt.want.Host == "" {
				tt.want.Host = "client.example.org"
			}
			if tt.want.Header == nil {
				tt.want.Header = map[string][]string{"X-Multi": {"1"}, "Cookie": {"a=b"}}
			}
			if err := h.ServeHTTP(httptest.NewRecorder(), r); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("upstream request (-want +got):\n%s", diff)
			}
		})
	}
}

func BenchmarkProxyRewrite(b *testing.B) {
	for _, bc := range []struct{ name, cfg string }{
		{"uri", `{"uri":"/v2/items"}`},
		{"strip-prefix", `{"strip_prefix":"/api"}`},
		{"regex-uri", `{"regex_uri":["^/api/v1/(.*)","/v2/$1"]}`},
		{"host-and-header", `{"host":"backend.internal","headers":{"set":{"X-Api":"v2"}}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := build(b, bc.cfg, func(http.ResponseWriter, *http.Request) error { return nil })
			r := httptest.NewRequest("GET", "/api/v1/users/42", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				r.URL.Path = "/api/v1/users/42"
				_ = h.ServeHTTP(w, r)
			}
		})
	}
}
