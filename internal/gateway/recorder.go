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

	// wd and idle set the write progress deadline (body_idle_timeout)
	// before every write; wd is nil when it is off, or when the server
	// keeps it itself (h1server's WriteIdleTimeout). The deadline is never
	// cleared: the next response on the connection sets its own before its
	// first write, and the server's final flush stays covered.
	wd   writeDeadliner
	idle time.Duration
	dl   progressDeadline

	ctl *http.ResponseController // for Flush and Hijack; made on first use
}

// progressDeadline is the progress deadline last set on one side of a
// connection. A read or write that would move it by less than 1/64 of the
// timeout leaves it as it is: the header and the body of a small response
// come microseconds apart, as do the reads of an upload, and every change
// is a timer update in the runtime. So the deadline falls between 63/64 of
// the timeout and the whole timeout after the last read or write.
type progressDeadline struct{ at time.Time }

// next returns the deadline to set for idle from now, or false when the
// one already set is close enough.
func (d *progressDeadline) next(idle time.Duration) (time.Time, bool) {
	t := time.Now().Add(idle)
	if t.Sub(d.at) < idle>>6 {
		return time.Time{}, false
	}
	d.at = t
	return t, true
}

type writeDeadliner interface{ SetWriteDeadline(time.Time) error }
type readDeadliner interface{ SetReadDeadline(time.Time) error }

// deadlinesOf finds what sets w's connection deadlines, walking Unwrap as
// http.ResponseController does, but once per request and without
// allocating a controller. Either may be nil (not supported: the
// controller's error, which the edge ignores).
func deadlinesOf(w http.ResponseWriter) (wd writeDeadliner, rd readDeadliner) {
	for w != nil && (wd == nil || rd == nil) {
		if wd == nil {
			wd, _ = w.(writeDeadliner)
		}
		if rd == nil {
			rd, _ = w.(readDeadliner)
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	return wd, rd
}

// controller returns the recorder's ResponseController, made on the first
// flush or hijack, which most responses never do.
func (w *recorder) controller() *http.ResponseController {
	if w.ctl == nil {
		w.ctl = http.NewResponseController(w.ResponseWriter)
	}
	return w.ctl
}

func (w *recorder) progress() {
	if w.wd == nil {
		return
	}
	if t, ok := w.dl.next(w.idle); ok {
		_ = w.wd.SetWriteDeadline(t)
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

// AdoptHeader hands a header map to the server's writer when it can take
// one over whole (h1server's); false means the caller copies the fields.
func (w *recorder) AdoptHeader(h http.Header) bool {
	if ha, ok := w.ResponseWriter.(interface{ AdoptHeader(http.Header) bool }); ok {
		return ha.AdoptHeader(h)
	}
	return false
}

// countingBody counts request body bytes and enforces the listener's limit,
// failing the read with *http.MaxBytesError (mapped to 413) past it.
type countingBody struct {
	rc    io.ReadCloser
	n     int64
	limit int64
	rd    readDeadliner // read progress deadline; nil when off
	idle  time.Duration
	dl    progressDeadline
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.rd != nil {
		if t, ok := b.dl.next(b.idle); ok {
			_ = b.rd.SetReadDeadline(t)
		}
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
