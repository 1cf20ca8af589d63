package keyauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzFind checks the key extraction from a query and cookies: it never
// panics, agrees with url.ParseQuery on queries ParseQuery accepts, and
// after strip no key is left anywhere.
func FuzzFind(f *testing.F) {
	f.Add("a=1&apikey=k&b=2", "x=1; apikey=\"c\"")
	f.Add("api%6Bey=a+b%2F", "")
	f.Add("apikey=1&apikey=2", "apikey=1; apikey=")
	f.Add("apikey=%zz&&=&apikey", "; ;apikey")
	f.Fuzz(func(t *testing.T, query, cookie string) {
		s := source{query: "apikey", cookie: "apikey"}
		r := &http.Request{URL: &url.URL{RawQuery: query}, Header: http.Header{"Cookie": {cookie}}}
		key, st := s.find(r)
		if st != found && key != "" {
			t.Fatalf("find = %q with state %d", key, st)
		}
		if q, err := url.ParseQuery(query); err == nil && !strings.Contains(query, ";") {
			var nonEmpty []string
			for _, v := range q["apikey"] {
				if v != "" {
					nonEmpty = append(nonEmpty, v)
				}
			}
			k, qst := fromQuery(query, "apikey")
			switch {
			case len(nonEmpty) == 0 && qst != absent,
				len(nonEmpty) == 1 && (qst != found || k != nonEmpty[0]),
				len(nonEmpty) > 1 && qst != ambiguous:
				t.Fatalf("fromQuery(%q) = %q, %d; ParseQuery has %q", query, k, qst, nonEmpty)
			}
		}
		s.strip(r)
		if k, st := s.find(r); st != absent {
			t.Fatalf("after strip, find = %q, %d (query %q, cookies %q)", k, st, r.URL.RawQuery, r.Header["Cookie"])
		}
		if queryHas(r.URL.RawQuery, "apikey") || cookieHas(r.Header["Cookie"], "apikey") {
			t.Fatalf("after strip the name is left: query %q, cookies %q", r.URL.RawQuery, r.Header["Cookie"])
		}
		q, c := r.URL.RawQuery, strings.Join(r.Header["Cookie"], "\n")
		s.strip(r)
		if r.URL.RawQuery != q || strings.Join(r.Header["Cookie"], "\n") != c {
			t.Fatalf("strip is not idempotent")
		}
	})
}
