package jwtverify_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
)

// FuzzVerify feeds arbitrary tokens to a verifier that knows the RFC 7515
// example keys. Seeds are in testdata/fuzz/FuzzVerify (the RFC examples and
// broken variants). A token may verify only with a signature that golang-jwt
// confirms on its own, under an allowed algorithm.
func FuzzVerify(f *testing.F) {
	f.Add(rfcA1)
	f.Add(rfcA2)
	f.Add(rfcA3)
	hs := b64(f, rfcA1Key)
	rs := setKey(f, rfcA2JWK)
	es := setKey(f, rfcA3JWK)
	v := mustVerifier(f, "HS256", "RS256", "ES256")
	keys := func(alg, _ string, _ jwt.MapClaims) (any, error) {
		switch alg {
		case "HS256":
			return hs, nil
		case "RS256":
			return rs, nil
		}
		return es, nil
	}
	f.Fuzz(func(t *testing.T, tok string) {
		claims, err := v.Verify(tok, keys)
		if err != nil {
			return
		}
		if claims == nil || len(tok) > jwtverify.MaxTokenSize {
			t.Fatalf("Verify(%q) succeeded with claims %v", tok, claims)
		}
		i := strings.LastIndexByte(tok, '.')
		t1, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil {
			t.Fatalf("Verify accepted %q, which golang-jwt cannot parse: %v", tok, err)
		}
		alg := t1.Method.Alg()
		sig, err := jwt.NewParser().DecodeSegment(tok[i+1:])
		if err != nil {
			t.Fatalf("Verify accepted an undecodable signature in %q", tok)
		}
		key, _ := keys(alg, "", nil)
		if err := jwt.GetSigningMethod(alg).Verify(tok[:i], sig, key); err != nil {
			t.Fatalf("Verify accepted %q but its %s signature does not verify: %v", tok, alg, err)
		}
	})
}

// FuzzSourceFind checks that token extraction never panics and that Strip
// removes what Find found, so a stripped request never carries the token
// upstream. Seeds are in testdata/fuzz/FuzzSourceFind.
func FuzzSourceFind(f *testing.F) {
	f.Add("Bearer abc", "jwt=q&a=1", "jwt=c; a=b")
	f.Add("Basic dTpw", "%6Awt=%2B&jwt=", "a=b;jwt=\"q\"")
	src := jwtverify.Source{Header: "Authorization", Query: "jwt", Cookie: "jwt"}
	f.Fuzz(func(t *testing.T, authz, query, cookie string) {
		r := &http.Request{URL: &url.URL{Path: "/", RawQuery: query}, Header: http.Header{}}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		tok, loc, err := src.Find(r)
		if (loc == jwtverify.Nowhere) != (tok == "") || loc == jwtverify.Nowhere && err != nil {
			t.Fatalf("Find = %q, %v, %v", tok, loc, err)
		}
		src.Strip(r)
		if tok, loc, _ := src.Find(r); loc != jwtverify.Nowhere {
			t.Fatalf("after Strip, Find = %q, %v (authz %q, query %q, cookie %q)", tok, loc, r.Header.Values("Authorization"), r.URL.RawQuery, r.Header.Values("Cookie"))
		}
	})
}

// FuzzParseSet checks that JWK set parsing never panics and returns only
// keys that fit their declared algorithm. Seeds are in
// testdata/fuzz/FuzzParseSet.
func FuzzParseSet(f *testing.F) {
	f.Add([]byte(`{"keys":[` + rfcA2JWK + `,` + rfcA3JWK + `,` + rfc8037JWK + `]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := jwtverify.ParseSet(doc)
		if err != nil {
			return
		}
		for _, k := range s.Keys {
			if k.Alg != "" {
				if err := jwtverify.KeyFits(k.Alg, k.Key); err != nil {
					t.Fatalf("ParseSet kept key %q that does not fit its alg: %v", k.ID, err)
				}
			}
			fits := false
			for _, alg := range jwtverify.AsymmetricAlgorithms {
				fits = fits || jwtverify.KeyFits(alg, k.Key) == nil
			}
			if !fits {
				t.Fatalf("ParseSet kept key %q (%T) that fits no algorithm", k.ID, k.Key)
			}
		}
	})
}
