// Package httperr is the one place where failures become responses: it maps
// upstream and body errors to a *plugin.Error (Traefik's status table, plus
// 413 for an oversized body) and renders that error as the JSON body every
// Sluice error uses:
//
//	{"error":{"type":"upstream_timeout","message":"...","request_id":"..."}}
package httperr

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"unicode/utf8"

	"github.com/sluicegw/sluice/plugin"
)

// StatusClientClosed is logged (never sent) when the client went away
// before the response was complete, as nginx's 499.
const StatusClientClosed = 499

// Common errors the gateway and proxy return.
var (
	ErrNoRoute    = &plugin.Error{Status: http.StatusNotFound, Code: "route_not_found", Public: "no route matches this request"}
	ErrNoUpstream = &plugin.Error{Status: http.StatusServiceUnavailable, Code: "no_healthy_upstream", Public: "no healthy upstream target is available"}
)

// FromUpstream maps an error from an upstream attempt to a *plugin.Error.
// A nil error maps to nil.
func FromUpstream(err error) *plugin.Error {
	if err == nil {
		return nil
	}
	var pe *plugin.Error
	if errors.As(err, &pe) {
		return pe
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &plugin.Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Public: "request body is larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes", Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &plugin.Error{Status: StatusClientClosed, Code: "client_closed", Public: "the client closed the request", Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return &plugin.Error{Status: http.StatusGatewayTimeout, Code: "upstream_timeout", Public: "the upstream did not answer in time", Err: err}
	}
	if isDial(err) {
		return &plugin.Error{Status: http.StatusBadGateway, Code: "upstream_unavailable", Public: "the upstream could not be reached", Err: err}
	}
	return &plugin.Error{Status: http.StatusBadGateway, Code: "bad_gateway", Public: "the upstream failed to answer", Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDial(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// As converts any error into a *plugin.Error: plugin errors pass through,
// known upstream and body errors are mapped, anything else is a 500 whose
// details are kept for the log only.
func As(err error) *plugin.Error {
	var pe *plugin.Error
	if errors.As(err, &pe) {
		return pe
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		isTimeout(err) || isDial(err) {
		return FromUpstream(err)
	}
	return &plugin.Error{Status: http.StatusInternalServerError, Code: "internal_error", Public: "internal error", Err: err}
}

// Write renders e as Sluice's JSON error body with requestID. Status 499 is
// never written: the client is gone.
func Write(w http.ResponseWriter, e *plugin.Error, requestID string) {
	if e.Status == StatusClientClosed {
		return
	}
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	buf := make([]byte, 0, 96+len(e.Public)+len(requestID))
	buf = append(buf, `{"error":{"type":`...)
	buf = appendJSONString(buf, e.Code)
	buf = append(buf, `,"message":`...)
	buf = appendJSONString(buf, e.Public)
	buf = append(buf, `,"request_id":`...)
	buf = appendJSONString(buf, requestID)
	buf = append(buf, "}}\n"...)
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(buf)
}

// appendJSONString appends s as a JSON string. strconv.AppendQuote is not
// JSON (it emits \x escapes), so control characters are escaped here and
// invalid UTF-8 becomes U+FFFD, as encoding/json does (RFC 8259 8.1).
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, `\ufffd`...)
			} else {
				buf = append(buf, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			buf = append(buf, c)
		}
		i++
	}
	return append(buf, '"')
}
