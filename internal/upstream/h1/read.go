package h1

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/sluicegw/sluice/internal/httpwire"
	"io"
	"net/http"
	"strings"
)

// ErrMalformedResponse is wrapped by the errors for responses that break
// HTTP/1.1 framing or syntax. The connection is closed; the request is not
// retried by Transport.
var ErrMalformedResponse = errors.New("h1: malformed response")

var errHeaderTooLarge = fmt.Errorf("%w: header block larger than %d bytes", ErrMalformedResponse, MaxHeaderBytes)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedResponse}, args...)...)
}

// noResponseError is a failure before the first byte of the response.
type noResponseError struct{ err error }

func (e noResponseError) Error() string { return e.err.Error() }
func (e noResponseError) Unwrap() error { return e.err }

// respBox puts a response and its body in one allocation.
type respBox struct {
	resp http.Response
	body body
}

// readResponse reads the status line and headers of the final response to
// req, skipping informational (1xx) ones, and sets resp.Body to the *body
// that frames what follows; its mode is modeNone when there is no body.
func (c *conn) readResponse(req *http.Request) (*http.Response, error) {
	if _, err := c.br.Peek(1); err != nil {
		return nil, noResponseError{err}
	}
	limit := MaxHeaderBytes
	box := new(respBox)
	resp := &box.resp
	for n1xx := 0; ; n1xx++ {
		block, err := c.readBlock(limit)
		if err != nil {
			return nil, err
		}
		limit -= len(block) // 1xx heads count against the same limit
		line, fields, _ := strings.Cut(block, "\n")
		line = strings.TrimSuffix(line, "\r")
		if err := parseStatusLine(resp, line); err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 1 {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				return nil, malformed("unexpected 101 Switching Protocols")
			}
			if n1xx >= max1xx {
				return nil, malformed("too many 1xx responses")
			}
			continue // 100 Continue, 103 Early Hints: the final response follows
		}
		h, err := parseFields(fields)
		if err != nil {
			return nil, err
		}
		resp.Header = h
		resp.Request = req
		if err := frame(resp, &box.body, req.Method); err != nil {
			return nil, err
		}
		box.body.resp = resp
		box.body.br = c.br
		resp.Body = &box.body
		return resp, nil
	}
}

// readBlock reads lines up to and including an empty line and returns them
// without the empty line, as one string that header values are sliced from.
func (c *conn) readBlock(limit int) (string, error) {
	buf := c.hdr[:0]
	lineStart := 0
	for {
		frag, err := c.br.ReadSlice('\n')
		if len(buf)+len(frag) > limit {
			return "", errHeaderTooLarge
		}
		buf = append(buf, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		line := buf[lineStart:]
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			break
		}
		lineStart = len(buf)
	}
	s := string(buf[:lineStart])
	if cap(buf) <= 64<<10 { // keep a usual scratch, not a giant one
		c.hdr = buf[:0]
	} else {
		c.hdr = nil
	}
	return s, nil
}

func parseStatusLine(resp *http.Response, line string) error {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok {
		return malformed("status line %q", trunc(line))
	}
	switch proto {
	case "HTTP/1.1":
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		return malformed("HTTP version %q", trunc(proto))
	}
	status := strings.TrimLeft(rest, " ")
	if len(status) < 3 || (len(status) > 3 && status[3] != ' ') {
		return malformed("status code in %q", trunc(line))
	}
	code := 0
	for i := range 3 {
		d := status[i]
		if d < '0' || d > '9' {
			return malformed("status code in %q", trunc(line))
		}
		code = code*10 + int(d-'0')
	}
	if code < 100 {
		return malformed("status code %d", code)
	}
	for i := 3; i < len(status); i++ {
		if c := status[i]; c < ' ' && c != '\t' || c == 0x7f {
			return malformed("control character in status line")
		}
	}
	resp.Status, resp.StatusCode = status, code
	return nil
}

// parseFields parses header lines (each ending in LF or CRLF). Values are
// substrings of s, and keys too when they arrive canonical, so the block's
// string is the only string allocated in the common case.
func parseFields(s string) (http.Header, error) {
	n := strings.Count(s, "\n")
	if n > maxHeaderCount {
		return nil, malformed("more than %d header fields", maxHeaderCount)
	}
	h := make(http.Header, n)
	vals := make([]string, n) // one backing array for the single-valued fields
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return nil, malformed("unterminated header line")
		}
		line := s[:i]
		s = s[i+1:]
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return nil, malformed("empty header line")
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold (RFC 9112 5.2): rejected rather than unfolded.
			return nil, malformed("folded header line %q", trunc(line))
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return nil, malformed("header line %q", trunc(line))
		}
		key, ok := httpwire.CanonicalKey(line[:colon], commonKeys)
		if !ok {
			return nil, malformed("header field name %q", trunc(line[:colon]))
		}
		v := line[colon+1:]
		if !httpwire.ValidFieldValue(v) {
			return nil, malformed("header field value for %q", key)
		}
		v = httpwire.TrimOWS(v)
		if vv, ok := h[key]; ok {
			h[key] = append(vv, v)
		} else {
			vals[0] = v
			h[key] = vals[:1:1]
			vals = vals[1:]
		}
	}
	return h, nil
}

// frame reads the framing headers of resp (RFC 9112 6) and sets resp's
// ContentLength, TransferEncoding, Close and Trailer and b's mode, the way
// net/http's readTransfer does, except that Content-Length together with
// Transfer-Encoding is an error rather than a Content-Length to drop.
func frame(resp *http.Response, b *body, method string) error {
	h := resp.Header
	code := resp.StatusCode
	if _, ok := h["Cache-Control"]; !ok {
		if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
			h["Cache-Control"] = []string{"no-cache"} // net/http's fixPragmaCacheControl
		}
	}

	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		if resp.ProtoMinor >= 1 { // HTTP/1.0 has no transfer codings (net/http ignores it too)
			// Like nginx and net/http: one field, exactly "chunked".
			if len(te) != 1 || !httpwire.EqualFoldASCII(te[0], "chunked") {
				return malformed("unsupported Transfer-Encoding %q", te)
			}
			chunked = true
		}
	}

	conv := h["Connection"]
	if resp.ProtoMinor == 0 {
		resp.Close = hasToken(conv, "close") || !hasToken(conv, "keep-alive")
	} else if hasToken(conv, "close") {
		resp.Close = true
		delete(h, "Connection")
	}

	cl := int64(-1)
	if cls := h["Content-Length"]; len(cls) > 0 {
		for _, v := range cls[1:] {
			if v != cls[0] {
				return malformed("conflicting Content-Length values %q", cls)
			}
		}
		if len(cls) > 1 {
			h["Content-Length"] = cls[:1:1]
		}
		n, ok := parseContentLength(cls[0])
		if !ok {
			return malformed("Content-Length %q", trunc(cls[0]))
		}
		cl = n
	}

	if chunked {
		resp.TransferEncoding = []string{"chunked"}
		if tv, ok := h["Trailer"]; ok {
			delete(h, "Trailer")
			t, err := announcedTrailer(tv)
			if err != nil {
				return err
			}
			resp.Trailer = t
		}
	}

	switch {
	case method == http.MethodHead:
		b.mode = modeNone
		resp.ContentLength = cl
	case code == http.StatusNoContent || code == http.StatusNotModified:
		b.mode = modeNone
		resp.ContentLength = 0
	case chunked:
		if cl >= 0 {
			// RFC 9112 6.1: "ought to be handled as an error"; a proxy
			// must not guess which framing the upstream meant.
			return malformed("both Transfer-Encoding and Content-Length")
		}
		delete(h, "Content-Length")
		b.mode = modeChunked
		resp.ContentLength = -1
	case cl == 0:
		b.mode = modeNone
		resp.ContentLength = 0
	case cl > 0:
		b.mode = modeFixed
		b.n = cl
		resp.ContentLength = cl
	default:
		b.mode = modeUntilEOF
		resp.ContentLength = -1
		resp.Close = true
	}
	return nil
}

func announcedTrailer(vv []string) (http.Header, error) {
	var t http.Header
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			f = httpwire.TrimOWS(f)
			if f == "" {
				continue
			}
			k, ok := httpwire.CanonicalKey(f, commonKeys)
			if !ok {
				return nil, malformed("Trailer field %q", trunc(f))
			}
			switch k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, malformed("bad trailer key %q", k)
			}
			if t == nil {
				t = make(http.Header)
			}
			t[k] = nil
		}
	}
	return t, nil
}

// parseContentLength accepts 1*DIGIT up to 2^63-1, as net/http does.
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

// trunc shortens s for an error message.
func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
