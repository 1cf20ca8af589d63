package h1

import (
	"bufio"
	"fmt"
	"github.com/sluicegw/sluice/internal/httpwire"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// requestError is a request that cannot be sent as given.
type requestError struct{ msg string }

func (e *requestError) Error() string { return "h1: " + e.msg }

// bodyReadError is an error from reading the request body (the caller's
// side), as opposed to writing it to the upstream.
type bodyReadError struct{ err error }

func (e bodyReadError) Error() string { return e.err.Error() }
func (e bodyReadError) Unwrap() error { return e.err }

// validateRequest rejects what would put a smuggling vector on the wire: a
// method, request URI, Host or header that is not a valid token or holds
// CR, LF, NUL or another control byte.
func validateRequest(req *http.Request) error {
	if m := req.Method; m != "" && !httpwire.ValidToken(m) {
		return &requestError{fmt.Sprintf("invalid method %q", m)}
	}
	if req.Body == nil || req.Body == http.NoBody {
		if req.ContentLength != 0 {
			return &requestError{fmt.Sprintf("Request.ContentLength=%d with nil Body", req.ContentLength)}
		}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validHost(host) {
		return &requestError{fmt.Sprintf("invalid Host header %q", host)}
	}
	u := req.URL
	// Path and RawPath are written escaped (url.URL.EscapedPath); the query
	// and an opaque URI go out as they are.
	if !validURIPart(u.Opaque) || !validURIPart(u.RawQuery) {
		return &requestError{"invalid control character or space in URL"}
	}
	for k, vs := range req.Header {
		if !httpwire.ValidToken(k) {
			return &requestError{fmt.Sprintf("invalid header field name %q", k)}
		}
		for _, v := range vs {
			if !httpwire.ValidFieldValue(v) {
				// The value is not quoted: it may be a secret.
				return &requestError{fmt.Sprintf("invalid header field value for %q", k)}
			}
		}
	}
	return nil
}

// writeRequest writes req's head and body to bw and flushes it. Headers and
// the start of the body share one flush; a chunked body is flushed chunk by
// chunk, each chunk being what one Read of req.Body returned, so a streaming
// body is not held back.
func writeRequest(bw *bufio.Writer, req *http.Request, ex *exchange) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	var cl int64
	chunked := false
	if hasBody {
		if req.ContentLength > 0 {
			cl = req.ContentLength
		} else {
			// Unknown (-1), or 0 with a body: net/http treats both as
			// unknown. (It probes GET-like methods for an empty body; we
			// send an empty chunked body instead of blocking on a probe.)
			chunked = true
		}
	}

	bw.WriteString(method)
	bw.WriteByte(' ')
	writeRequestURI(bw, req.URL)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if req.Host != "" {
		bw.WriteString(req.Host)
	} else {
		bw.WriteString(req.URL.Host)
	}
	bw.WriteString("\r\n")
	// No default User-Agent: an absent one stays absent, and "" means none.
	if ua := req.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		writeField(bw, "User-Agent", ua[0])
	}
	if req.Close && !hasToken(req.Header["Connection"], "close") {
		bw.WriteString("Connection: close\r\n")
	}
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case cl > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		// net/http sends "Content-Length: 0" for bodiless POST, PUT and
		// PATCH: many servers want it.
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), cl, 10))
		bw.WriteString("\r\n")
	}
	for k, vs := range req.Header {
		if excludedHeader(k) {
			continue
		}
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	bw.WriteString("\r\n")

	switch {
	case chunked:
		return writeChunked(bw, req.Body, ex)
	case cl > 0:
		return writeFixed(bw, req.Body, cl, ex)
	}
	return bw.Flush()
}

func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(httpwire.TrimOWS(v))
	bw.WriteString("\r\n")
}

// excludedHeader reports the fields written from Request fields rather than
// from the header map, compared without case so that a non-canonical key
// cannot add a second framing header.
func excludedHeader(k string) bool {
	switch len(k) {
	case 4:
		return httpwire.EqualFoldASCII(k, "Host")
	case 7:
		return httpwire.EqualFoldASCII(k, "Trailer")
	case 10:
		return httpwire.EqualFoldASCII(k, "User-Agent")
	case 14:
		return httpwire.EqualFoldASCII(k, "Content-Length")
	case 17:
		return httpwire.EqualFoldASCII(k, "Transfer-Encoding")
	}
	return false
}

// writeRequestURI writes u.RequestURI() without building the string.
func writeRequestURI(bw *bufio.Writer, u *url.URL) {
	if u.Opaque != "" {
		bw.WriteString(u.RequestURI())
		return
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	bw.WriteString(p)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
}

// writeFixed streams exactly n bytes of body, reading straight into bw's
// free space.
func writeFixed(bw *bufio.Writer, body io.Reader, n int64, ex *exchange) error {
	remaining := n
	for remaining > 0 {
		if bw.Available() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		buf := bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), remaining)]
		nr, err := body.Read(buf)
		if nr > 0 {
			ex.bodyRead += int64(nr)
			remaining -= int64(nr)
			if _, werr := bw.Write(buf[:nr]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			if remaining > 0 {
				return bodyReadError{fmt.Errorf("h1: ContentLength=%d with Body length %d", n, n-remaining)}
			}
			break
		}
		if err != nil {
			return bodyReadError{err}
		}
	}
	return bw.Flush()
}

// chunkHeadRoom is the space kept before the data in bw's buffer for the
// chunk-size line: up to 6 hex digits and CRLF.
const chunkHeadRoom = 8

// writeChunked sends body with the chunked coding, one chunk per Read, and
// flushes after each so a streamed body reaches the upstream as it comes.
func writeChunked(bw *bufio.Writer, body io.Reader, ex *exchange) error {
	for {
		if bw.Available() < 512 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		// Read into bw's free space after room for the size line, then
		// slide the data up against the line: no copy buffer needed.
		buf := bw.AvailableBuffer()
		buf = buf[:cap(buf)]
		n, rerr := body.Read(buf[chunkHeadRoom : len(buf)-2])
		if n > 0 {
			ex.bodyRead += int64(n)
			var hb [chunkHeadRoom]byte
			head := append(strconv.AppendUint(hb[:0], uint64(n), 16), '\r', '\n')
			copy(buf[len(head):], buf[chunkHeadRoom:chunkHeadRoom+n])
			copy(buf, head)
			end := len(head) + n
			buf[end], buf[end+1] = '\r', '\n'
			if _, err := bw.Write(buf[:end+2]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			bw.WriteString("0\r\n\r\n")
			return bw.Flush()
		}
		if rerr != nil {
			return bodyReadError{rerr}
		}
		if n > 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}
