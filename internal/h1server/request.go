package h1server

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluicegw/sluice/internal/httpwire"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// exchange is one request and its response: everything the server keeps
// per request except the *http.Request itself (whose context can only be
// set by copying it) is in this one allocation.
type exchange struct {
	c    *conn
	req  *http.Request
	url  url.URL
	ctx  reqCtx
	resp response
	body body
	vals [12]string // backing array for single-valued header fields
}

// Requests net/http accepts and this server refuses on purpose (see the
// package doc); wrapped by the parse errors so tests can tell them apart.
var (
	errObsFold     = errors.New("obs-fold")
	errTEAndCL     = errors.New("both Transfer-Encoding and Content-Length")
	errTEInHTTP10  = errors.New("Transfer-Encoding in an HTTP/1.0 request")
	errStrictChunk = errors.New("chunked coding refused") // control byte in an extension, bare LF in a trailer
)

// requestError is a malformed request, answered with 400 Bad Request and
// no detail (net/http's generic answer); the text is for tests and logs.
type requestError struct {
	msg  string
	kind error // one of the deliberate refusals, or nil
}

func (e *requestError) Error() string { return "h1server: " + e.msg }
func (e *requestError) Unwrap() error { return e.kind }

func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

func refused(kind error, format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// parse fills ex from a request head (request line and header fields, each
// line ending in LF or CRLF, without the empty line). It applies the checks
// of net/http's readRequest, readTransfer and conn.readRequest in their
// order, so that a request with several faults gets the same status, and
// is stricter where noted.
func (ex *exchange) parse(head string) error {
	c := ex.c
	line, fields, _ := strings.Cut(head, "\n")
	line = strings.TrimSuffix(line, "\r")
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return badRequest("malformed request line %q", trunc(line))
	}
	if !httpwire.ValidToken(method) {
		return badRequest("invalid method %q", trunc(method))
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return badRequest("malformed HTTP version %q", trunc(proto))
	}
	var r http.Request
	r.Method, r.RequestURI = method, target
	r.Proto, r.ProtoMajor, r.ProtoMinor = proto, major, minor
	u, err := ex.parseTarget(method, target)
	if err != nil {
		return badRequest("request target: %v", err)
	}
	r.URL = u

	h, err := parseFields(fields, ex.vals[:0])
	if err != nil {
		return err
	}
	hosts, haveHost := h["Host"]
	if len(hosts) > 1 {
		return badRequest("too many Host headers")
	}
	r.Host = u.Host
	if r.Host == "" {
		r.Host = first(hosts)
	}
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	conv := h["Connection"]
	if major == 1 && minor == 0 {
		r.Close = httpguts.HeaderValuesContainsToken(conv, "close") || !httpguts.HeaderValuesContainsToken(conv, "keep-alive")
	} else {
		r.Close = httpguts.HeaderValuesContainsToken(conv, "close")
	}

	// Framing (RFC 9112 6), net/http's readTransfer plus two refusals.
	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		if !r.ProtoAtLeast(1, 1) {
			// net/http ignores Transfer-Encoding in HTTP/1.0 and frames
			// by Content-Length. RFC 9112 6.1 says to treat the framing
			// as faulty: a peer that honoured the field would read a
			// different body, so refuse.
			return refused(errTEInHTTP10, "Transfer-Encoding in an HTTP/1.0 request")
		}
		// Like nginx and net/http: exactly one field, exactly "chunked".
		if len(te) != 1 {
			return &unsupportedTEError{fmt.Sprintf("too many transfer encodings: %q", te)}
		}
		if !httpwire.EqualFoldASCII(te[0], "chunked") {
			return &unsupportedTEError{fmt.Sprintf("unsupported transfer encoding: %q", te[0])}
		}
		chunked = true
	}
	cl := int64(0)
	if cls := h["Content-Length"]; len(cls) > 0 {
		v := textproto.TrimString(cls[0])
		for _, o := range cls[1:] {
			if textproto.TrimString(o) != v {
				return badRequest("conflicting Content-Length headers %q", cls)
			}
		}
		if len(cls) > 1 {
			cls[0] = v
			h["Content-Length"] = cls[:1:1]
		}
		n, ok := parseContentLength(v)
		if !ok {
			return badRequest("bad Content-Length %q", trunc(v))
		}
		if chunked {
			// net/http drops the Content-Length and reads chunked; RFC
			// 9112 6.1 allows that or rejecting. A front end that framed
			// by the length instead would see a different request, so
			// reject: no legitimate client sends both.
			return refused(errTEAndCL, "both Transfer-Encoding and Content-Length")
		}
		cl = n
	}
	if chunked {
		cl = -1
		if vv, ok := h["Trailer"]; ok {
			delete(h, "Trailer")
			t, err := declaredTrailer(vv)
			if err != nil {
				return err
			}
			r.Trailer = t
		}
	}
	r.ContentLength = cl
	switch {
	case chunked:
		r.TransferEncoding = []string{"chunked"}
		ex.body = body{ex: ex, c: c, chunked: true}
		r.Body = &ex.body
	case cl > 0:
		ex.body = body{ex: ex, c: c, n: cl, closing: r.Close}
		r.Body = &ex.body
	default:
		r.Body = http.NoBody
	}
	h2Preface := method == "PRI" && len(h) == 0 && u.Path == "*" && proto == "HTTP/2.0"
	if h2Preface {
		// The HTTP/2 preface, which net/http hands to the handler as is
		// when h2c is off: no length, and the connection closes after.
		r.ContentLength = -1
		r.Close = true
	}

	// net/http's conn.readRequest checks.
	if major != 1 && !(major == 2 && minor == 0 && method == "PRI" && target == "*") {
		return statusError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	if r.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && !h2Preface && method != http.MethodConnect {
		return statusError{http.StatusBadRequest, "missing required Host header"}
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return statusError{http.StatusBadRequest, "malformed Host header"}
	}
	delete(h, "Host")
	r.Header = h
	r.RemoteAddr = c.remoteAddr

	ex.ctx = reqCtx{conn: c}
	var ctx context.Context = &ex.ctx
	if rc := c.srv.RequestContext; rc != nil {
		ctx = rc(ctx)
	}
	ex.req = r.WithContext(ctx)
	ex.resp = response{
		c:             c,
		ex:            ex,
		req:           ex.req,
		handlerHeader: make(http.Header),
		contentLength: -1,
		// Read before the handler can change the request header (net/http
		// issue 14940).
		wants10KeepAlive: major == 1 && minor == 0 && hasToken(first(conv), "keep-alive"),
		wantsClose:       r.Close || hasToken(first(conv), "close"),
	}
	if h2Preface {
		ex.resp.closeAfterReply = true
	}
	return nil
}

// parseVersion is http.ParseHTTPVersion.
func parseVersion(v string) (major, minor int, ok bool) {
	switch v {
	case "HTTP/1.1":
		return 1, 1, true
	case "HTTP/1.0":
		return 1, 0, true
	}
	if len(v) != len("HTTP/X.Y") || !strings.HasPrefix(v, "HTTP/") || v[6] != '.' {
		return 0, 0, false
	}
	ma, mi := v[5], v[7]
	if ma < '0' || ma > '9' || mi < '0' || mi > '9' {
		return 0, 0, false
	}
	return int(ma - '0'), int(mi - '0'), true
}

// parseTarget parses the request target as net/http does, with
// url.ParseRequestURI (a CONNECT authority gets a scheme added for the parse
// and removed after). The usual origin-form target, a path whose bytes need
// no escaping plus an optional query, is filled into ex.url directly: the
// result is the same (FuzzParseTarget checks it) without the allocation.
func (ex *exchange) parseTarget(method, target string) (*url.URL, error) {
	if len(target) > 0 && target[0] == '/' {
		i := 1
		for i < len(target) && pathSafe[target[i]] {
			i++
		}
		u := &ex.url
		switch {
		case i == len(target):
			u.Path = target
			return u, nil
		case target[i] == '?' && !containsCTL(target[i+1:]):
			u.Path = target[:i]
			if q := target[i+1:]; q == "" {
				u.ForceQuery = true
			} else {
				u.RawQuery = q
			}
			return u, nil
		}
	}
	raw := target
	justAuthority := method == http.MethodConnect && !strings.HasPrefix(target, "/")
	if justAuthority {
		raw = "http://" + target
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return nil, err
	}
	if justAuthority {
		u.Scheme = "" // strip the scheme added for the parse
	}
	return u, nil
}

// parseFields parses header field lines, each ending in LF or CRLF, the
// way textproto.ReadMIMEHeader does (canonical keys, values trimmed of SP
// and HTAB), except that obs-fold (a line starting with SP or HTAB) is
// rejected instead of unfolded: RFC 9112 5.2 allows either, and rejecting
// leaves no room for two parsers to disagree. Values are substrings of s;
// vals is spare room for the single-valued fields.
func parseFields(s string, vals []string) (http.Header, error) {
	n := strings.Count(s, "\n")
	hint := min(n, 1000)
	h := make(http.Header, hint)
	if cap(vals) < hint {
		vals = make([]string, hint)
	} else {
		vals = vals[:cap(vals)]
	}
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return nil, errors.New("h1server: unterminated header line") // cannot happen: heads end in LF
		}
		line := s[:i]
		s = s[i+1:]
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return nil, badRequest("empty header line")
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, refused(errObsFold, "folded or indented header line %q", trunc(line))
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return nil, badRequest("header line without colon %q", trunc(line))
		}
		key, ok := httpwire.CanonicalKey(line[:colon], commonKeys)
		if !ok {
			if onlyTokenOrSpace(line[:colon]) {
				// textproto lets "Name : v" through and net/http's server
				// then refuses it with this text.
				return nil, statusError{http.StatusBadRequest, "invalid header name"}
			}
			return nil, badRequest("invalid header field name %q", trunc(line[:colon]))
		}
		v := line[colon+1:]
		if !httpwire.ValidFieldValue(v) {
			return nil, badRequest("invalid header field value for %q", key)
		}
		v = httpwire.TrimOWS(v)
		if vv, ok := h[key]; ok {
			h[key] = append(vv, v)
		} else if len(vals) > 0 {
			vals[0] = v
			h[key] = vals[:1:1]
			vals = vals[1:]
		} else {
			h[key] = []string{v}
		}
	}
	return h, nil
}

func onlyTokenOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if !httpwire.IsTokenChar(s[i]) && s[i] != ' ' {
			return false
		}
	}
	return s != ""
}

// parseContentLength accepts 1*DIGIT up to 2^63-1 (strconv.ParseUint(v,
// 10, 63), as net/http).
func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// declaredTrailer is net/http's fixTrailer for a chunked request.
func declaredTrailer(vv []string) (http.Header, error) {
	var t http.Header
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			f = textproto.TrimString(f)
			if f == "" {
				continue
			}
			k := http.CanonicalHeaderKey(f)
			switch k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, badRequest("bad trailer key %q", k)
			}
			if t == nil {
				t = make(http.Header)
			}
			t[k] = nil
		}
	}
	return t, nil
}
