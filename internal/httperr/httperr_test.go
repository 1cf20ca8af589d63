package httperr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/plugin"
)

// mapped is the part of a *plugin.Error a mapping decides.
type mapped struct {
	Status int
	Code   string
	Public string
}

func mappedOf(e *plugin.Error) mapped { return mapped{e.Status, e.Code, e.Public} }

// timeoutErr is a net.Error that timed out, like a transport deadline.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

// transportErr wraps err the way http.Transport.RoundTrip callers see it.
func transportErr(err error) error {
	return &url.Error{Op: "Get", URL: "http://10.0.0.1:8080/x", Err: err}
}

var (
	refused = &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	denied = &plugin.Error{Status: http.StatusForbidden, Code: "forbidden", Public: "denied",
		Header: http.Header{"X-Why": {"policy"}}}
)

var (
	unavailable = mapped{http.StatusBadGateway, "upstream_unavailable", "the upstream could not be reached"}
	timedOut    = mapped{http.StatusGatewayTimeout, "upstream_timeout", "the upstream did not answer in time"}
	clientGone  = mapped{StatusClientClosed, "client_closed", "the client closed the request"}
	tooLarge    = mapped{http.StatusRequestEntityTooLarge, "body_too_large", "request body is larger than 1024 bytes"}
	badGateway  = mapped{http.StatusBadGateway, "bad_gateway", "the upstream failed to answer"}
	internal    = mapped{http.StatusInternalServerError, "internal_error", "internal error"}
)

func TestFromUpstream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want mapped
	}{
		{"dial refused", refused, unavailable},
		{"dial refused in url.Error", transportErr(refused), unavailable},
		{"bare ECONNREFUSED", fmt.Errorf("connect: %w", syscall.ECONNREFUSED), unavailable},
		{"dial timeout is a timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, timedOut},
		{"read timeout", transportErr(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), timedOut},
		{"net.Error timeout", timeoutErr{}, timedOut},
		{"context deadline", context.DeadlineExceeded, timedOut},
		{"wrapped context deadline", transportErr(fmt.Errorf("awaiting headers: %w", context.DeadlineExceeded)), timedOut},
		{"context canceled", context.Canceled, clientGone},
		{"wrapped context canceled", transportErr(context.Canceled), clientGone},
		{"max bytes", &http.MaxBytesError{Limit: 1024}, tooLarge},
		{"wrapped max bytes", fmt.Errorf("reading body: %w", &http.MaxBytesError{Limit: 1024}), tooLarge},
		{"unknown", errors.New("malformed HTTP response"), badGateway},
		{"connection reset", transportErr(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), badGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := FromUpstream(tt.err)
			if got == nil {
				t.Fatalf("FromUpstream(%v) = nil; want %+v", tt.err, tt.want)
			}
			if diff := cmp.Diff(tt.want, mappedOf(got)); diff != "" {
				t.Errorf("FromUpstream(%v) mismatch (-want +got):\n%s", tt.err, diff)
			}
			if !errors.Is(got.Err, tt.err) {
				t.Errorf("FromUpstream(%v).Err = %v; want the cause kept for the log", tt.err, got.Err)
			}
		})
	}
}

func TestFromUpstreamNil(t *testing.T) {
	t.Parallel()
	if got := FromUpstream(nil); got != nil {
		t.Errorf("FromUpstream(nil) = %v; want nil", got)
	}
}

func TestPluginErrorPassesThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
	}{
		{"bare", denied},
		{"wrapped", fmt.Errorf("auth: %w", denied)},
		// A plugin error wins even when it wraps something mappable.
		{"wrapping a timeout", fmt.Errorf("x: %w", &plugin.Error{Status: 429, Code: "rate_limited", Public: "slow down", Err: context.DeadlineExceeded})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want *plugin.Error
			if !errors.As(tt.err, &want) {
				t.Fatal("test error holds no *plugin.Error")
			}
			if got := FromUpstream(tt.err); got != want {
				t.Errorf("FromUpstream(%v) = %v; want the same *plugin.Error %v", tt.err, got, want)
			}
			if got := As(tt.err); got != want {
				t.Errorf("As(%v) = %v; want the same *plugin.Error %v", tt.err, got, want)
			}
		})
	}
}

func TestAs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want mapped
	}{
		{"max bytes", &http.MaxBytesError{Limit: 1024}, tooLarge},
		{"wrapped max bytes", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1024}), tooLarge},
		{"context canceled", context.Canceled, clientGone},
		{"wrapped context canceled", fmt.Errorf("x: %w", context.Canceled), clientGone},
		{"deadline", fmt.Errorf("calling the idp: %w", context.DeadlineExceeded), timedOut},
		{"dial", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, unavailable},
		{"unknown", errors.New("dial db 10.1.2.3: password rejected"), internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := As(tt.err)
			if diff := cmp.Diff(tt.want, mappedOf(got)); diff != "" {
				t.Errorf("As(%v) mismatch (-want +got):\n%s", tt.err, diff)
			}
			if !errors.Is(got.Err, tt.err) {
				t.Errorf("As(%v).Err = %v; want the cause kept for the log", tt.err, got.Err)
			}
		})
	}
}

// An unknown error's text is for the log only: the client sees "internal error".
func TestAsDoesNotLeakCause(t *testing.T) {
	t.Parallel()
	const secret = "password rejected for user admin"
	w := httptest.NewRecorder()
	Write(w, As(errors.New(secret)), "rid-1")
	if w.Code != http.StatusInternalServerError {
		t.Errorf("Write(As(unknown)) status = %d; want 500", w.Code)
	}
	if body := w.Body.String(); strings.Contains(body, "password") {
		t.Errorf("Write(As(%q)) body = %s; want the cause not leaked", secret, body)
	}
}

type errorBody struct {
	Error struct {
		Type      string `json:"type"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// decodeStrict decodes an error body, rejecting unknown fields and trailing data.
func decodeStrict(body []byte) (errorBody, error) {
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, err
	}
	if dec.More() {
		return e, errors.New("trailing data after the JSON object")
	}
	return e, nil
}

func TestWrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		code      string
		public    string
		requestID string
	}{
		{"plain", "forbidden", "denied by policy", "0123abcd"},
		{"empty strings", "", "", ""},
		{"quotes and backslashes", `q"uote`, `say "hi" \ back\slash`, `id"\`},
		{"control characters", "c", "line\nbreak\ttab\r\x00nul\x1fus\x7fdel", "r\x01"},
		{"html", "h", "<script>alert('x')</script> & more", "<id>"},
		{"non-ascii", "u", "café ✓ 日本 😀", "ü"},
		{"line separators", "u", "a\u2028b\u2029c", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			Write(w, &plugin.Error{Status: http.StatusTeapot, Code: tt.code, Public: tt.public}, tt.requestID)
			resp := w.Result()
			body := w.Body.Bytes()

			if resp.StatusCode != http.StatusTeapot {
				t.Errorf("status = %d; want %d", resp.StatusCode, http.StatusTeapot)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q; want application/json", got)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q; want nosniff", got)
			}
			if got, want := resp.Header.Get("Content-Length"), strconv.Itoa(len(body)); got != want {
				t.Errorf("Content-Length = %q; want %s (the body's length)", got, want)
			}
			if !json.Valid(body) {
				t.Fatalf("Write body = %q; want valid JSON", body)
			}
			if bytes.ContainsAny(body, "<>&") {
				t.Errorf("Write body = %s; want <, > and & escaped", body)
			}
			got, err := decodeStrict(body)
			if err != nil {
				t.Fatalf("decoding %q: %v", body, err)
			}
			var want errorBody
			want.Error.Type, want.Error.Message, want.Error.RequestID = tt.code, tt.public, tt.requestID
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Write body round trip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteCopiesHeaders(t *testing.T) {
	t.Parallel()
	e := &plugin.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Public: "slow down",
		Header: http.Header{
			"Retry-After":      {"7"},
			"Www-Authenticate": {`Bearer realm="a"`, `Basic realm="b"`},
			// The error body is JSON whatever a plugin asked for.
			"Content-Type": {"text/plain"},
		}}
	w := httptest.NewRecorder()
	Write(w, e, "rid")
	h := w.Result().Header
	if got := h.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After = %q; want 7", got)
	}
	if diff := cmp.Diff([]string{`Bearer realm="a"`, `Basic realm="b"`}, h.Values("Www-Authenticate")); diff != "" {
		t.Errorf("WWW-Authenticate mismatch (-want +got):\n%s", diff)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	// Shared errors (ErrNoRoute and the like) must not be changed by rendering.
	if got := e.Header.Get("Content-Type"); got != "text/plain" {
		t.Errorf("after Write, e.Header Content-Type = %q; want text/plain (unchanged)", got)
	}
}

// spyWriter records whether anything was written at all.
type spyWriter struct {
	h       http.Header
	status  int
	written int
}

func (w *spyWriter) Header() http.Header { return w.h }
func (w *spyWriter) WriteHeader(code int) {
	w.status = code
}
func (w *spyWriter) Write(p []byte) (int, error) {
	w.written += len(p)
	return len(p), nil
}

func TestWriteClientClosedWritesNothing(t *testing.T) {
	t.Parallel()
	w := &spyWriter{h: http.Header{}}
	Write(w, FromUpstream(context.Canceled), "rid")
	if w.status != 0 || w.written != 0 || len(w.h) != 0 {
		t.Errorf("Write(499) wrote status %d, %d body bytes, headers %v; want nothing", w.status, w.written, w.h)
	}
}

// JSON sent to other systems must be UTF-8 (RFC 8259 section 8.1); invalid
// bytes should become U+FFFD as encoding/json does.
func TestWriteInvalidUTF8(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Write(w, &plugin.Error{Status: http.StatusBadRequest, Code: "bad", Public: "path /a\xff\xfeb is bad"}, "r")
	if body := w.Body.Bytes(); !utf8.Valid(body) {
		t.Errorf("Write body = %q; want valid UTF-8", body)
	}
}

func FuzzWriteJSON(f *testing.F) {
	f.Add("forbidden", "denied by policy", "0123abcd")
	f.Add(`"`, `\`, "\x00")
	f.Fuzz(func(t *testing.T, code, public, requestID string) {
		w := httptest.NewRecorder()
		Write(w, &plugin.Error{Status: http.StatusBadGateway, Code: code, Public: public}, requestID)
		body := w.Body.Bytes()
		if !json.Valid(body) {
			t.Fatalf("Write(%q, %q, %q) body = %q; want valid JSON", code, public, requestID, body)
		}
		if got, want := w.Header().Get("Content-Length"), strconv.Itoa(len(body)); got != want {
			t.Errorf("Content-Length = %s; want %s", got, want)
		}
		if bytes.ContainsAny(body, "<>&") {
			t.Errorf("Write(%q, %q, %q) body = %q; want <, > and & escaped", code, public, requestID, body)
		}
		got, err := decodeStrict(body)
		if err != nil {
			t.Fatalf("decoding %q: %v", body, err)
		}
		if !utf8.ValidString(code) || !utf8.ValidString(public) || !utf8.ValidString(requestID) {
			// Invalid UTF-8 cannot round-trip; see TestWriteInvalidUTF8.
			return
		}
		var want errorBody
		want.Error.Type, want.Error.Message, want.Error.RequestID = code, public, requestID
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Write body round trip mismatch (-want +got):\n%s", diff)
		}
	})
}
