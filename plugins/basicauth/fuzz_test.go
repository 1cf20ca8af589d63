package basicauth

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseAuthorization checks the Basic parser never panics, accepts only
// what net/http's more lenient Request.BasicAuth accepts too, with the same
// result, and reads back what it accepted after re-encoding.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("Basic YWxpY2U6cHc=")
	f.Add("basic  YTo=")
	f.Add("Basic YWxpY2U=")
	f.Add("Basic YWxpY2U6cHc")
	f.Add("Bearer abc")
	f.Fuzz(func(t *testing.T, v string) {
		var buf [256]byte
		up, colon, st := parseAuthorization([]string{v}, buf[:])
		if st != found {
			if up != nil {
				t.Fatalf("state %d with a user-pass", st)
			}
			return
		}
		user, pass := string(up[:colon]), string(up[colon+1:])
		if strings.Contains(user, ":") || hasCTL(user) || hasCTL(pass) {
			t.Fatalf("accepted user %q pass %q", user, pass)
		}
		// RFC 9110 allows several spaces after the scheme; net/http only one.
		r := &http.Request{Header: http.Header{"Authorization": {"Basic " + strings.TrimLeft(v[5:], " ")}}}
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			t.Fatalf("parse(%q) = %q, %q; net/http: %q, %q, %v", v, user, pass, u, p, ok)
		}
		again := "Basic " + base64.StdEncoding.EncodeToString(up)
		up2, colon2, st2 := parseAuthorization([]string{again}, nil)
		if st2 != found || string(up2) != string(up) || colon2 != colon {
			t.Fatalf("re-encoded %q parses to %q, %d", again, up2, st2)
		}
	})
}

// FuzzParseHash checks the hash parser never panics, and that what it
// accepts is within the limits and in canonical form.
func FuzzParseHash(f *testing.F) {
	f.Add("$2b$04$abcdefghijklmnopqrstuu5Lr5uDqXq7K6cuO0yCx2pZQ9KCqW3ta")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$c2VjcmV0LXB3c2VjcmV0LXB3c2VjcmV0LXB3")
	f.Add("$argon2id$v=19$m=065,t=1,p=1$c2FsdHNhbHQ$c2VjcmV0LXB3c2VjcmV0LXB3")
	f.Add("user:$2y$10$abcdefghijklmnopqrstuu5Lr5uDqXq7K6cuO0yCx2pZQ9KCqW3ta")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			return // that errors quote no hash is TestCredentialValidate's job
		}
		switch h := h.(type) {
		case *bcryptHash:
			if len(s) != 60 || h.cost < 4 || h.cost > maxBcryptCost {
				t.Fatalf("accepted bcrypt %q with cost %d", s, h.cost)
			}
		case *argon2idHash:
			enc := base64.RawStdEncoding
			canon := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", h.memory, h.time, h.threads, enc.EncodeToString(h.salt), enc.EncodeToString(h.sum))
			if canon != s {
				t.Fatalf("accepted %q, canonically %q", s, canon)
			}
			if h.memory > maxArgon2Memory || h.time > maxArgon2Time || h.threads > maxArgon2Par || h.memory < 8*uint32(h.threads) {
				t.Fatalf("accepted parameters past the limits: %s", h.params())
			}
		default:
			t.Fatalf("parseHash returned %T", h)
		}
	})
}
