package router

import (
	"fmt"
	"net/http"
	"testing"
)

// routes10k returns 10,000 routes: exact, parameterized and prefix paths,
// some behind exact or wildcard hosts, some restricted by method, header or
// query.
func routes10k() []Route {
	rs := make([]Route, 0, 10000)
	for i := range 10000 {
		var r Route
		switch i % 10 {
		case 0, 1, 2, 3:
			r.Paths = []string{fmt.Sprintf("/svc%d/v1/items", i)}
		case 4, 5, 6:
			r.Paths = []string{fmt.Sprintf("/svc%d/users/{id}/orders/{order}", i)}
		case 7, 8:
			r.Paths = []string{fmt.Sprintf("/static%d/*", i)}
		case 9:
			r.Paths = []string{fmt.Sprintf("/tenant/{t}/svc%d/*", i)}
		}
		switch i % 7 {
		case 0:
			r.Hosts = []string{fmt.Sprintf("h%d.example.com", i%100)}
		case 1:
			r.Hosts = []string{fmt.Sprintf("*.t%d.example.org", i%50)}
		}
		switch i % 5 {
		case 0:
			r.Methods = []string{"GET", "HEAD"}
		case 1:
			r.Methods = []string{"POST"}
		}
		if i%13 == 0 {
			r.Headers = map[string]string{"X-Tenant": "*"}
		}
		if i%17 == 0 {
			r.Query = map[string]string{"v": "2"}
		}
		rs = append(rs, r)
	}
	return rs
}

func BenchmarkMatch10k(b *testing.B) {
	routes := routes10k()
	rt, err := Compile(routes)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{"X-Tenant": {"acme"}, "Accept": {"*/*"}}
	benches := []struct {
		name, method, host, path, query string
		want                            int // route index, -1 for a miss
	}{
		{"exact", "GET", "gw.local", "/svc5002/v1/items", "", 5002},
		{"exact-host", "GET", "H0.example.com:443", "/svc700/v1/items", "", 700},
		{"param", "GET", "gw.local", "/svc4014/users/42/orders/7", "", 4014},
		{"prefix", "GET", "gw.local", "/static5008/css/app/site.css", "", 5008},
		{"param-prefix", "GET", "gw.local", "/tenant/acme/svc5009/a/b", "", 5009},
		{"wildcard-host", "POST", "a.b.t16.example.org", "/svc1016/users/1/orders/2", "", 1016},
		{"header-query", "POST", "gw.local", "/svc221/v1/items", "a=1&v=2", 221},
		{"miss", "GET", "gw.local", "/nope/not/here", "", -1},
		{"miss-host-fallback", "GET", "h0.example.com", "/svc5002/v1/items", "", 5002},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			var ps Params
			ref := refMatch(routes, bb.method, bb.host, bb.path, bb.query, h)
			if i, _ := rt.Match(bb.method, bb.host, bb.path, bb.query, h, &ps); i != bb.want || ref.Index != bb.want {
				b.Fatalf("Match = %d, reference = %d; want %d", i, ref.Index, bb.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				rt.Match(bb.method, bb.host, bb.path, bb.query, h, &ps)
			}
		})
	}
}

func BenchmarkCompile10k(b *testing.B) {
	routes := routes10k()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(routes); err != nil {
			b.Fatal(err)
		}
	}
}
