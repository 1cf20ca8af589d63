package proxy

import (
	"net"
	"net/http"
	"strings"
)

// hopHeaders are meaningful for one connection only and never forwarded
// (RFC 9110 7.6.1; Keep-Alive and Proxy-Connection are pre-standard but seen).
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopHeaders deletes hop-by-hop headers, including every header named
// in Connection.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for len(v) > 0 {
			var f string
			f, v, _ = strings.Cut(v, ",")
			if f = strings.TrimSpace(f); f != "" {
				h.Del(f)
			}
		}
	}
	deleteAll(h, hopHeaders[:], isHopHeader)
}

// deleteAll deletes the keys in names (canonical) from h; in(k) reports
// whether k is one of them. A typical header has fewer fields than there
// are names, and then one pass over the fields costs less than a hashed
// delete per name, which this runs twice per proxied request.
func deleteAll(h http.Header, names []string, in func(string) bool) {
	if len(h) > len(names) {
		for _, k := range names {
			delete(h, k)
		}
		return
	}
	for k := range h {
		if in(k) {
			delete(h, k) // deleting during range is allowed
		}
	}
}

// isHopHeader reports whether k is one of hopHeaders.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// upgradeType returns the protocol a request asks to switch to, or "".
func upgradeType(h http.Header) string {
	if !hasToken(h["Connection"], "upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// hasToken reports whether a comma-separated header holds token, ignoring case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for len(v) > 0 {
			var f string
			f, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// setForwarded appends this hop to X-Forwarded-For and Forwarded and sets
// X-Forwarded-Proto and -Host when absent. The gateway has already removed
// incoming forwarding headers unless the peer is a trusted proxy, so what is
// here is either trusted or ours.
func setForwarded(h http.Header, r *http.Request, vals *[3]string) {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	proto, protoVals := "http", protoHTTP
	if r.TLS != nil {
		proto, protoVals = "https", protoHTTPS
	}
	// vals backs the new values (the caller's, allocated with the rest of
	// the forwarded request): this runs on every request.
	if prior, ok := h["X-Forwarded-For"]; ok && len(prior) > 0 {
		vals[0] = strings.Join(prior, ", ") + ", " + peer
	} else {
		vals[0] = peer
	}
	h["X-Forwarded-For"] = vals[0:1:1]
	if _, ok := h["X-Forwarded-Proto"]; !ok {
		h["X-Forwarded-Proto"] = protoVals
	}
	if _, ok := h["X-Forwarded-Host"]; !ok && r.Host != "" {
		vals[1] = r.Host
		h["X-Forwarded-Host"] = vals[1:2:2]
	}
	// RFC 7239: IPv6 nodes are quoted and bracketed.
	var b strings.Builder
	b.Grow(len(peer) + len(r.Host) + 32)
	for _, v := range h["Forwarded"] {
		b.WriteString(v)
		b.WriteString(", ")
	}
	b.WriteString("for=")
	if strings.Contains(peer, ":") {
		b.WriteString(`"[`)
		b.WriteString(peer)
		b.WriteString(`]"`)
	} else {
		b.WriteString(peer)
	}
	b.WriteString(";proto=")
	b.WriteString(proto)
	if r.Host != "" {
		b.WriteString(";host=")
		writeQuotedIfNeeded(&b, r.Host)
	}
	vals[2] = b.String()
	h["Forwarded"] = vals[2:3:3]
}

// writeQuotedIfNeeded writes a Forwarded value, quoted when it is not a
// plain token (a host with a port is not), straight into b.
func writeQuotedIfNeeded(b *strings.Builder, s string) {
	if isToken(s) {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
