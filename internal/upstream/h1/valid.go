package h1

import (
	"github.com/sluicegw/sluice/internal/httpwire"
	"strings"
)

// validURIPart rejects control bytes and spaces, which would end or split
// the request line.
func validURIPart(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost is golang.org/x/net/http/httpguts.ValidHostHeader's byte set.
func validHost(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated values hold token, without
// regard to case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for len(v) > 0 {
			var f string
			f, v, _ = strings.Cut(v, ",")
			if httpwire.EqualFoldASCII(httpwire.TrimOWS(f), token) {
				return true
			}
		}
	}
	return false
}

// commonKeys interns the canonical form of frequent response header names,
// so a lower-case key from the upstream costs no allocation.
var commonKeys = httpwire.Intern(
	"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
	"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
	"Access-Control-Max-Age", "Age", "Alt-Svc", "Cache-Control", "Connection",
	"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
	"Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type", "Date",
	"Etag", "Expires", "Keep-Alive", "Last-Modified", "Link", "Location", "Pragma",
	"Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security", "Trailer",
	"Transfer-Encoding", "Upgrade", "Vary", "Via", "Www-Authenticate", "X-Content-Type-Options",
	"X-Frame-Options", "X-Request-Id", "X-Ratelimit-Limit", "X-Ratelimit-Remaining",
	"X-Ratelimit-Reset", "X-Xss-Protection",
)
