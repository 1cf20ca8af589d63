package gateway

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"time"
)

// recorder notes the status and body size a response gets. It hides no
// optional interface: Flush and Hijack are forwarded, and Unwrap lets
// http.ResponseController reach the connection for deadlines.
type recorder struct {
	http.ResponseWriter
	status   int
	wrote    bool
	bytes    int64
	reqBytes int64
	path     string // the path the client asked for, for the access log

	// ctl and idle set the write progress deadline (body_idle_timeout)
	// before every write; ctl is nil when it is off. The deadline is never
	// cleared: the next response on the connection sets its own before its
	// first write, and the server's final flush stays covered.
	ctl  *http.ResponseController
	idle time.Duration
}

// controller returns the edge's ResponseController, or a new one when
// progress deadlines are off (then it is only needed on flush and hijack).
func (w *recorder) controller() *http.ResponseController {
	if w.ctl != nil {
		return w.ctl
	}
	return http.NewResponseController(w.ResponseWriter)
}

func (w *recorder) progress() {
	if w.ctl != nil {
		_ = w.ctl.SetWriteDeadline(time.Now().Add(w.idle))
	}
}

func (w *recorder) WriteHeader(code int) {
	w.progress()
	if !w.wrote {
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			// 1xx informational responses (103 Early Hints) may precede the real one.
			w.ResponseWriter.WriteHeader(code)
			return
		}
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	w.progress()
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	w.progress()
	_ = w.controller().Flush()
}

// Hijack hands the connection to a protocol upgrade (WebSocket); the
// response counts as 101 Switching Protocols.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.controller().Hijack()
	if err == nil {
		w.status, w.wrote = http.StatusSwitchingProtocols, true
	}
	return c, rw, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts request body bytes and enforces the listener's limit,
// failing the read with *http.MaxBytesError (mapped to 413) past it.
type countingBody struct {
	rc    io.ReadCloser
	n     int64
	limit int64
	ctl   *http.ResponseController // read progress deadline; nil when off
	idle  time.Duration
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.ctl != nil {
		_ = b.ctl.SetReadDeadline(time.Now().Add(b.idle))
	}
	if b.limit > 0 {
		if b.n >= b.limit {
			// Probe one byte: a body of exactly limit bytes is fine.
			var one [1]byte
			n, err := b.rc.Read(one[:])
			if n > 0 {
				return 0, &http.MaxBytesError{Limit: b.limit}
			}
			return 0, err
		}
		if rest := b.limit - b.n; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// newID returns a random 128-bit request ID in hex, for requests that no
// request-id plugin named.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
