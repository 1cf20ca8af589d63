package jwtverify

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Source says where requests carry their token. An empty field skips that
// place; they are tried in the order header, query, cookie (APISIX's).
type Source struct {
	// Header is a header whose value is "Bearer <token>" (the scheme is
	// case-insensitive, RFC 6750 2.1) or the bare token. A value with any
	// other scheme ("Basic ...") belongs to another plugin and is ignored.
	Header string
	// Query is a query parameter holding the token.
	Query string
	// Cookie is a cookie holding the token.
	Cookie string
}

// Location is where Find found a token.
type Location uint8

// Where a token was found.
const (
	Nowhere Location = iota
	InHeader
	InQuery
	InCookie
)

// ErrAmbiguous means the place Find looked in holds more than one token: the
// gateway would check one while the upstream might read another.
var ErrAmbiguous = errors.New("token sent more than once")

// Find returns the request's token and where it was, or "" and Nowhere. An
// empty value counts as none. More than one token in the first place that
// has any is ErrAmbiguous.
func (s *Source) Find(r *http.Request) (string, Location, error) {
	if s.Header != "" {
		if tok, n := headerToken(r.Header.Values(s.Header)); n > 0 {
			return tok, InHeader, ambiguous(n)
		}
	}
	if s.Query != "" && r.URL != nil && r.URL.RawQuery != "" {
		if tok, n := queryToken(r.URL.RawQuery, s.Query); n > 0 {
			return tok, InQuery, ambiguous(n)
		}
	}
	if s.Cookie != "" && len(r.Header["Cookie"]) > 0 {
		tok, n := "", 0
		for _, c := range r.CookiesNamed(s.Cookie) {
			if c.Value != "" {
				if n == 0 {
					tok = c.Value
				}
				n++
			}
		}
		if n > 0 {
			return tok, InCookie, ambiguous(n)
		}
	}
	return "", Nowhere, nil
}

func ambiguous(n int) error {
	if n > 1 {
		return ErrAmbiguous
	}
	return nil
}

// headerToken returns the first token among a header's values and how many
// values hold one.
func headerToken(vals []string) (string, int) {
	tok, n := "", 0
	for _, v := range vals {
		if t := bearer(v); t != "" {
			if n == 0 {
				tok = t
			}
			n++
		}
	}
	return tok, n
}

// bearer returns the token in a header value: "Bearer <token>" or a bare
// token; "" for an empty value or another scheme.
func bearer(v string) string {
	v = strings.TrimSpace(v)
	scheme, rest, spaced := strings.Cut(v, " ")
	if !spaced {
		if strings.EqualFold(v, "bearer") {
			return "" // the scheme with no token: nothing to check
		}
		return v
	}
	if !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(rest)
}

// queryToken returns the first non-empty value of parameter name in a raw
// query, and how many non-empty ones there are, without decoding the other
// parameters.
func queryToken(raw, name string) (string, int) {
	tok, n := "", 0
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if v != "" && unescape(k) == name {
			if v = unescape(v); v != "" {
				if n == 0 {
					tok = v
				}
				n++
			}
		}
	}
	return tok, n
}

func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// Strip removes every token from every place s looks in, so the upstream
// never sees a copy of the credential: the header when it holds a token (a
// "Basic" value is left for its plugin), every instance of the query
// parameter, and every cookie of that name. Other parameters and cookies
// keep their bytes.
func (s *Source) Strip(r *http.Request) {
	if s.Header != "" {
		if _, n := headerToken(r.Header.Values(s.Header)); n > 0 {
			kept := r.Header.Values(s.Header)[:0:0]
			for _, v := range r.Header.Values(s.Header) {
				if bearer(v) == "" && strings.TrimSpace(v) != "" {
					kept = append(kept, v)
				}
			}
			r.Header.Del(s.Header)
			for _, v := range kept {
				r.Header.Add(s.Header, v)
			}
		}
	}
	if s.Query != "" && r.URL != nil && strings.Contains(r.URL.RawQuery, "=") {
		if q := withoutParam(r.URL.RawQuery, s.Query); q != r.URL.RawQuery {
			r.URL.RawQuery = q
			r.Form, r.PostForm = nil, nil // a parsed form would still hold it
		}
	}
	if s.Cookie != "" && len(r.Header["Cookie"]) > 0 {
		lines := r.Header["Cookie"]
		kept := make([]string, 0, len(lines))
		for _, line := range lines {
			if l := withoutCookie(line, s.Cookie); l != "" {
				kept = append(kept, l)
			}
		}
		if len(kept) == 0 {
			r.Header.Del("Cookie")
		} else {
			r.Header["Cookie"] = kept
		}
	}
}

func withoutParam(raw, name string) string {
	var b strings.Builder
	rest := raw
	changed := false
	for rest != "" {
		var kv string
		kv, rest, _ = strings.Cut(rest, "&")
		k, _, _ := strings.Cut(kv, "=")
		if unescape(k) == name {
			changed = true
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv)
	}
	if !changed {
		return raw
	}
	return b.String()
}

// withoutCookie returns a Cookie header line without the cookies called
// name. Names are compared after trimming, as net/http parses them.
func withoutCookie(line, name string) string {
	if !strings.Contains(line, name) {
		return line
	}
	var b strings.Builder
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		k, _, _ := strings.Cut(part, "=")
		if strings.TrimSpace(k) == name || strings.TrimSpace(part) == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(strings.TrimSpace(part))
	}
	return b.String()
}
