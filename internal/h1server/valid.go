package h1server

import (
	"github.com/sluicegw/sluice/internal/httpwire"
	"net/textproto"
	"strings"
)

// pathSafe marks the bytes a request path may hold for the fast path of
// parseTarget: unreserved characters and the reserved ones url.URL leaves
// unescaped in a path. A path of these bytes alone is its own escaping, so
// url.ParseRequestURI would set Path to it and RawPath to "".
var pathSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// containsCTL reports whether s holds an ASCII control byte or DEL, which
// url.Parse rejects.
func containsCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// hasToken is net/http's hasToken: whether v holds token, without regard to
// case, bounded by space, comma or tab. net/http's server uses it (on the
// first value only) for Connection and Expect, so the same looser match is
// kept to decide keep-alive exactly as it does.
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isTokenBoundary(v[end]) {
			continue
		}
		if httpwire.EqualFoldASCII(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// first returns the first value of vv, or "" (http.Header.Get without the
// canonicalization).
func first(vv []string) string {
	if len(vv) == 0 {
		return ""
	}
	return vv[0]
}

// commonKeys interns the canonical form of frequent request header names,
// so a lower-case key from the client costs no allocation.
var commonKeys = httpwire.Intern(
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
	"Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Type",
	"Cookie", "Date", "Expect", "Forwarded", "Host", "If-Match", "If-Modified-Since",
	"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Origin", "Pragma",
	"Range", "Referer", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "Via",
	"X-Api-Key", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
	"X-Request-Id", "Traceparent", "Tracestate", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
	"Sec-Fetch-Site", "Priority",
)

// sanitizeValue is what net/http's Header.Write does to a value: CR and LF
// become spaces (no response splitting) and ASCII space is trimmed. The
// common clean value is returned without allocating.
func sanitizeValue(v string) string {
	clean := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' {
			clean = false
			break
		}
	}
	if !clean {
		v = strings.NewReplacer("\n", " ", "\r", " ").Replace(v)
	}
	if len(v) > 0 && (isASCIISpace(v[0]) || isASCIISpace(v[len(v)-1])) {
		v = textproto.TrimString(v)
	}
	return v
}

func isASCIISpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// trunc shortens s for an error message.
func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
