package h1server

import (
	"net/textproto"
	"strings"
)

// tokenTable marks the tchar bytes of RFC 9110 5.6.2.
var tokenTable = [256]bool{
	'!': true, '#': true, '$': true, '%': true, '&': true, '\'': true, '*': true,
	'+': true, '-': true, '.': true, '^': true, '_': true, '`': true, '|': true, '~': true,
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true, 'I': true,
	'J': true, 'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true, 'Q': true, 'R': true,
	'S': true, 'T': true, 'U': true, 'V': true, 'W': true, 'X': true, 'Y': true, 'Z': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true, 'i': true,
	'j': true, 'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true, 'q': true, 'r': true,
	's': true, 't': true, 'u': true, 'v': true, 'w': true, 'x': true, 'y': true, 'z': true,
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenTable[s[i]] {
			return false
		}
	}
	return true
}

// validFieldValue allows VCHAR, SP, HTAB and obs-text (RFC 9110 5.5): no
// CR, LF, NUL or other control byte. It is textproto's validHeaderValueByte.
func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

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

// trimOWS trims optional whitespace (SP, HTAB) from both ends.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
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
		if asciiEqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold for ASCII only. strings.EqualFold
// folds Unicode too ("chun\u212aed", with a Kelvin sign, equals "chunked"),
// and a framing keyword one peer reads as chunked and another does not is
// a request smuggling vector.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
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
var commonKeys = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Type",
		"Cookie", "Date", "Expect", "Forwarded", "Host", "If-Match", "If-Modified-Since",
		"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Origin", "Pragma",
		"Range", "Referer", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "Via",
		"X-Api-Key", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
		"X-Request-Id", "Traceparent", "Tracestate", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Priority",
	} {
		m[k] = k
	}
	return m
}()

// canonicalKey returns k in canonical form (textproto.CanonicalMIMEHeaderKey)
// and whether it is a valid field name (a token). A key already canonical is
// returned as is, without allocating.
func canonicalKey(k string) (string, bool) {
	if k == "" {
		return "", false
	}
	canon := true
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !tokenTable[c] {
			return "", false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canon = false
		}
		upper = c == '-'
	}
	if canon {
		return k, true
	}
	var stack [64]byte
	var b []byte
	if len(k) <= len(stack) {
		b = stack[:len(k)]
	} else {
		b = make([]byte, len(k))
	}
	upper = true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if v, ok := commonKeys[string(b)]; ok {
		return v, true
	}
	return string(b), true
}

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
