package jwtverify_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
)

func TestSourceFindAndStrip(t *testing.T) {
	t.Parallel()
	all := jwtverify.Source{Header: "Authorization", Query: "jwt", Cookie: "jwt"}
	tests := []struct {
		name      string
		src       jwtverify.Source
		url       string
		header    map[string][]string
		token     string
		loc       jwtverify.Location
		ambiguous bool
		wantURL   string   // RawQuery after Strip
		wantAuthz []string // Authorization after Strip
		wantCook  []string // Cookie after Strip
	}{
		{name: "bearer", src: all, url: "/", header: map[string][]string{"Authorization": {"Bearer abc.def.ghi"}},
			token: "abc.def.ghi", loc: jwtverify.InHeader},
		{name: "bearer lowercase, extra spaces", src: all, url: "/", header: map[string][]string{"Authorization": {"  bearer   abc  "}},
			token: "abc", loc: jwtverify.InHeader},
		{name: "bare token (APISIX)", src: all, url: "/", header: map[string][]string{"Authorization": {"abc.def.ghi"}},
			token: "abc.def.ghi", loc: jwtverify.InHeader},
		{name: "basic is someone else's and stays", src: all, url: "/", header: map[string][]string{"Authorization": {"Basic dTpw"}},
			loc: jwtverify.Nowhere, wantAuthz: []string{"Basic dTpw"}},
		{name: "basic and bearer: only bearer goes", src: all, url: "/", header: map[string][]string{"Authorization": {"Basic dTpw", "Bearer t"}},
			token: "t", loc: jwtverify.InHeader, wantAuthz: []string{"Basic dTpw"}},
		{name: "two bearer headers", src: all, url: "/", header: map[string][]string{"Authorization": {"Bearer a", "Bearer b"}},
			token: "a", loc: jwtverify.InHeader, ambiguous: true},
		{name: "bearer without token", src: all, url: "/", header: map[string][]string{"Authorization": {"Bearer"}},
			loc: jwtverify.Nowhere, wantAuthz: []string{"Bearer"}},
		{name: "custom header", src: jwtverify.Source{Header: "X-Token"}, url: "/", header: map[string][]string{"X-Token": {"t1"}},
			token: "t1", loc: jwtverify.InHeader},
		{name: "header wins; the query copy is stripped too", src: all, url: "/?jwt=q&a=1", header: map[string][]string{"Authorization": {"Bearer h"}},
			token: "h", loc: jwtverify.InHeader, wantURL: "a=1"},
		{name: "query", src: all, url: "/p?a=1&jwt=tok%2Bx&b=%20", token: "tok+x", loc: jwtverify.InQuery, wantURL: "a=1&b=%20"},
		{name: "query with empty values", src: all, url: "/p?jwt=&jwt=t2&jwt=", token: "t2", loc: jwtverify.InQuery, wantURL: ""},
		{name: "query repeated", src: all, url: "/p?jwt=t1&jwt=t2", token: "t1", loc: jwtverify.InQuery, ambiguous: true, wantURL: ""},
		{name: "query key escaped", src: all, url: "/p?%6Awt=t&x=1", token: "t", loc: jwtverify.InQuery, wantURL: "x=1"},
		{name: "query similar name", src: all, url: "/p?jwtx=t&xjwt=u", loc: jwtverify.Nowhere, wantURL: "jwtx=t&xjwt=u"},
		{name: "query disabled", src: jwtverify.Source{Header: "Authorization"}, url: "/p?jwt=t", loc: jwtverify.Nowhere, wantURL: "jwt=t"},
		{name: "cookie", src: all, url: "/", header: map[string][]string{"Cookie": {"a=1; jwt=ck; b=2"}},
			token: "ck", loc: jwtverify.InCookie, wantCook: []string{"a=1; b=2"}},
		{name: "cookie alone", src: all, url: "/", header: map[string][]string{"Cookie": {"jwt=ck"}},
			token: "ck", loc: jwtverify.InCookie},
		{name: "cookie twice", src: all, url: "/", header: map[string][]string{"Cookie": {"jwt=ck", "x=1;jwt=again"}},
			token: "ck", loc: jwtverify.InCookie, ambiguous: true, wantCook: []string{"x=1"}},
		{name: "other header scheme falls through to the cookie", src: all, url: "/", header: map[string][]string{"Authorization": {"Basic x"}, "Cookie": {"jwt=ck"}},
			token: "ck", loc: jwtverify.InCookie, wantAuthz: []string{"Basic x"}},
		{name: "nothing", src: all, url: "/?a=b", header: map[string][]string{"Cookie": {"a=b"}}, loc: jwtverify.Nowhere, wantURL: "a=b", wantCook: []string{"a=b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", tt.url, nil)
			for k, vs := range tt.header {
				r.Header[k] = vs
			}
			tok, loc, err := tt.src.Find(r)
			if tok != tt.token || loc != tt.loc || (err != nil) != tt.ambiguous {
				t.Fatalf("Find = %q, %v, %v; want %q, %v (ambiguous %v)", tok, loc, err, tt.token, tt.loc, tt.ambiguous)
			}
			if tt.ambiguous && !errors.Is(err, jwtverify.ErrAmbiguous) {
				t.Errorf("Find error = %v; want ErrAmbiguous", err)
			}
			tt.src.Strip(r)
			if r.URL.RawQuery != tt.wantURL {
				t.Errorf("after Strip, query = %q; want %q", r.URL.RawQuery, tt.wantURL)
			}
			if got := r.Header.Values("Authorization"); strings.Join(got, "|") != strings.Join(tt.wantAuthz, "|") {
				t.Errorf("after Strip, Authorization = %q; want %q", got, tt.wantAuthz)
			}
			if got := r.Header.Values("Cookie"); strings.Join(got, "|") != strings.Join(tt.wantCook, "|") {
				t.Errorf("after Strip, Cookie = %q; want %q", got, tt.wantCook)
			}
			if tok, loc, _ := tt.src.Find(r); loc != jwtverify.Nowhere {
				t.Errorf("after Strip, Find = %q, %v", tok, loc)
			}
		})
	}
}

func TestLooksLikeJWS(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"a.b.c": true, "..": true, "abc": false, "a.b": false, "a.b.c.d": false} {
		if got := jwtverify.LooksLikeJWS(s); got != want {
			t.Errorf("LooksLikeJWS(%q) = %v", s, got)
		}
	}
}
