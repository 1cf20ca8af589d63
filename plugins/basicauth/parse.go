package basicauth

import (
	"encoding/base64"
	"strings"
)

// state is what parsing the Authorization header found.
type state int

const (
	absent    state = iota // no Basic credentials (none, or another scheme)
	found                  // one well-formed user-pass
	ambiguous              // Basic credentials among several Authorization headers
	malformed              // Basic credentials that are not valid RFC 7617
)

// isBasic reports whether an Authorization value uses the Basic scheme
// (case-insensitive, RFC 9110 section 11.1).
func isBasic(v string) bool {
	return len(v) >= 5 && strings.EqualFold(v[:5], "Basic") && (len(v) == 5 || v[5] == ' ')
}

// parseAuthorization returns the decoded user-pass ("user:password") of
// the request's Basic credentials and the index of its first colon. buf is
// scratch space for the decoding, so the common case does not allocate; the
// result may alias it.
//
// Parsing is strict (RFC 7617): exactly one Authorization header if any is
// Basic; the scheme, one or more spaces, then canonical padded base64 and
// nothing else; a colon in the decoded user-pass; no control characters in
// it. Anything else Basic is malformed, never guessed at.
func parseAuthorization(vals []string, buf []byte) (userPass []byte, colon int, st state) {
	n := 0
	for _, v := range vals {
		if isBasic(v) {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, 0, absent
	case len(vals) > 1:
		return nil, 0, ambiguous
	}
	tok := strings.TrimLeft(vals[0][5:], " ")
	if tok == "" || !isBase64(tok) {
		return nil, 0, malformed
	}
	enc := base64.StdEncoding.Strict()
	dst := buf[:cap(buf)]
	if need := enc.DecodedLen(len(tok)); need > len(dst) {
		dst = make([]byte, need)
	}
	m, err := enc.Decode(dst, []byte(tok))
	if err != nil {
		return nil, 0, malformed
	}
	userPass = dst[:m]
	colon = -1
	for i, c := range userPass {
		if c < 0x20 || c == 0x7f {
			return nil, 0, malformed
		}
		if c == ':' && colon < 0 {
			colon = i
		}
	}
	if colon < 0 {
		return nil, 0, malformed
	}
	return userPass, colon, found
}

// isBase64 reports whether s is padded standard base64, which the decoder
// alone would not check (it skips CR and LF).
func isBase64(s string) bool {
	body := strings.TrimRight(s, "=")
	return len(s)%4 == 0 && len(s)-len(body) <= 2 && isRawBase64(body)
}
