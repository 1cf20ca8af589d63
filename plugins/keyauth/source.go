package keyauth

import (
	"net/http"
	"strings"
)

// state is what looking for a key in one place found.
type state int

const (
	absent    state = iota // no key here (an empty value counts as none)
	found                  // exactly one key
	ambiguous              // more than one: the upstream might read another than we checked
	malformed              // a key that cannot be decoded
)

// source is where the key is looked for: a canonical header name, a query
// parameter name and a cookie name, each "" when not looked in.
type source struct {
	header, query, cookie string
	// bearer: the header is Authorization, whose value is "Bearer KEY"
	// (what OpenAI's SDKs, Anthropic's auth_token and most LLM clients
	// send). Another scheme there is not a key: basic-auth may take it.
	bearer bool
}

func newSource(c *Config) source {
	s := source{query: c.Query, cookie: c.Cookie}
	if c.Header != "" {
		s.header = http.CanonicalHeaderKey(c.Header)
		s.bearer = s.header == "Authorization"
	}
	return s
}

// bearerToken returns the token of an Authorization value with the Bearer
// scheme (any case, RFC 9110 11.1), or "" for another scheme.
func bearerToken(v string) string {
	const scheme = "bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimLeft(v[len(scheme):], " ")
}

// find returns the key from the first place, in the order header, query,
// cookie, that holds one. It does not allocate unless the key in the query
// is percent-encoded.
func (s source) find(r *http.Request) (string, state) {
	if s.header != "" {
		k, st := fromValues(r.Header[s.header])
		if s.bearer && st == found {
			if k = bearerToken(k); k == "" {
				st = absent
			}
		}
		if st != absent {
			return k, st
		}
	}
	if s.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		if k, st := fromQuery(r.URL.RawQuery, s.query); st != absent {
			return k, st
		}
	}
	if s.cookie != "" {
		if k, st := fromCookies(r.Header["Cookie"], s.cookie); st != absent {
			return k, st
		}
	}
	return "", absent
}

// strip removes the key from every place s looks in, so that no copy of it
// reaches the upstream. The query and cookies are rewritten only when they
// hold the key; other parameters and cookies keep their bytes.
func (s source) strip(r *http.Request) {
	if s.header != "" {
		delete(r.Header, s.header)
	}
	if s.query != "" && r.URL != nil && r.URL.RawQuery != "" {
		if q, changed := stripQuery(r.URL.RawQuery, s.query); changed {
			r.URL.RawQuery = q
		}
	}
	if s.cookie != "" {
		if lines := r.Header["Cookie"]; len(lines) > 0 {
			stripCookies(r.Header, lines, s.cookie)
		}
	}
}

// fromValues returns the one non-empty header value.
func fromValues(vs []string) (string, state) {
	key, st := "", absent
	for _, v := range vs {
		if v == "" {
			continue
		}
		if st == found {
			return "", ambiguous
		}
		key, st = v, found
	}
	return key, st
}

// fromQuery returns the value of parameter name in raw, a URL's RawQuery,
// split on "&" and percent-decoded as url.ParseQuery does.
func fromQuery(raw, name string) (string, state) {
	val, st := "", absent
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if v == "" || !queryNameIs(k, name) {
			continue
		}
		if st != absent {
			return "", ambiguous
		}
		u, err := unescapeQuery(v)
		if err != nil {
			st = malformed
			continue
		}
		val, st = u, found
	}
	if st == malformed {
		return "", malformed
	}
	return val, st
}

// queryNameIs reports whether the raw (still escaped) parameter name k is
// name.
func queryNameIs(k, name string) bool {
	if k == name {
		return true
	}
	if strings.IndexByte(k, '%') < 0 && strings.IndexByte(k, '+') < 0 {
		return false
	}
	u, err := unescapeQuery(k)
	return err == nil && u == name
}

// stripQuery returns raw without any parameter called name, and whether
// there was one. The other pairs keep their bytes and order.
func stripQuery(raw, name string) (string, bool) {
	if !queryHas(raw, name) {
		return raw, false
	}
	var b strings.Builder
	b.Grow(len(raw))
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if k, _, _ := strings.Cut(pair, "="); queryNameIs(k, name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String(), true
}

// queryHas reports whether raw has a parameter called name, empty or not.
func queryHas(raw, name string) bool {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if k, _, _ := strings.Cut(pair, "="); queryNameIs(k, name) {
			return true
		}
	}
	return false
}

// fromCookies returns the value of cookie name from the Cookie header lines,
// parsed as RFC 6265 section 4.2.1 says (pairs split on ";", a value may be
// double-quoted).
func fromCookies(lines []string, name string) (string, state) {
	val, st := "", absent
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(strings.Trim(part, " \t"), "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if v == "" {
				continue
			}
			if st == found {
				return "", ambiguous
			}
			val, st = v, found
		}
	}
	return val, st
}

// stripCookies removes cookie name from the Cookie header lines in h,
// dropping lines left empty. Lines without it keep their bytes.
func stripCookies(h http.Header, lines []string, name string) {
	if !cookieHas(lines, name) {
		return
	}
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		if !cookieHas([]string{line}, name) {
			out = append(out, line)
			continue
		}
		var kept []string
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			p := strings.Trim(part, " \t")
			if k, _, _ := strings.Cut(p, "="); p != "" && k != name {
				kept = append(kept, p)
			}
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, "; "))
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}

// cookieHas reports whether the Cookie lines hold cookie name, empty or not.
func cookieHas(lines []string, name string) bool {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			if k, _, _ := strings.Cut(strings.Trim(part, " \t"), "="); k == name {
				return true
			}
		}
	}
	return false
}
