// Package httpwire holds the HTTP/1.1 syntax checks that Sluice's own
// client (internal/upstream/h1) and server (internal/h1server) share:
// tokens, field values, optional whitespace, ASCII case folding and header
// key canonicalization. They follow RFC 9110 and net/http's textproto, and
// both sides must agree byte for byte, which is why they live in one place.
package httpwire

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

// IsTokenChar reports whether c may appear in a token.
func IsTokenChar(c byte) bool { return tokenTable[c] }

// ValidToken reports whether s is a non-empty token (a method, a field name).
func ValidToken(s string) bool {
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

// ValidFieldValue allows VCHAR, SP, HTAB and obs-text (RFC 9110 5.5): no
// CR, LF, NUL or other control byte. It is textproto's validHeaderValueByte.
func ValidFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// TrimOWS trims optional whitespace (SP, HTAB) from both ends.
func TrimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// EqualFoldASCII is strings.EqualFold for ASCII only. Header tokens are
// ASCII; strings.EqualFold would also match "chun\u212aed" (a Kelvin sign
// folds to k) as "chunked", a framing another parser would disagree with.
func EqualFoldASCII(a, b string) bool {
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

// CanonicalKey returns k in canonical form (textproto.CanonicalMIMEHeaderKey)
// and whether it is a valid field name (a token). A key already canonical is
// returned as is, without allocating; interned maps the canonical form of
// frequent keys to a shared string, so those cost no allocation either.
func CanonicalKey(k string, interned map[string]string) (string, bool) {
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
	if v, ok := interned[string(b)]; ok {
		return v, true
	}
	return string(b), true
}

// Intern returns the interning map of keys (each must be canonical) for
// CanonicalKey.
func Intern(keys ...string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = k
	}
	return m
}
