package route

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// inproc is a RoundTripper that serves requests with an in-process
// http.Handler (a stdio bridge, the built-in server), so that those servers
// go through the same forwarding path as remote ones: session sealing,
// ACLs, keep-alives and metrics apply to all alike. The response body is a
// pipe: each Write of the handler blocks until the route has read it, so
// events pass one by one with nothing buffered in between.
type inproc struct{ h http.Handler }

func (t inproc) RoundTrip(r *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	rw := &pipeWriter{header: make(http.Header), pw: pw, ready: make(chan struct{})}
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	go func() {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					pw.CloseWithError(io.ErrUnexpectedEOF)
				} else {
					pw.CloseWithError(fmt.Errorf("in-process MCP server panicked: %v", p))
				}
				rw.start(http.StatusBadGateway)
				return
			}
			rw.start(http.StatusOK)
			pw.Close()
		}()
		t.h.ServeHTTP(rw, in)
	}()
	select {
	case <-rw.ready:
	case <-r.Context().Done():
		pr.CloseWithError(r.Context().Err())
		return nil, r.Context().Err()
	}
	return &http.Response{
		Status:        http.StatusText(rw.status),
		StatusCode:    rw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rw.sent,
		Body:          pr,
		ContentLength: -1,
		Request:       r,
	}, nil
}

// pipeWriter is the in-process handler's ResponseWriter.
type pipeWriter struct {
	header http.Header
	sent   http.Header // snapshot at WriteHeader, read by RoundTrip
	pw     *io.PipeWriter
	once   sync.Once
	status int
	ready  chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) start(status int) {
	w.once.Do(func() {
		w.status = status
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) WriteHeader(status int) {
	if status >= 100 && status < 200 {
		return // informational: nothing to relay in-process
	}
	w.start(status)
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.start(http.StatusOK)
	n, err := w.pw.Write(p)
	if errors.Is(err, io.ErrClosedPipe) {
		err = http.ErrAbortHandler
	}
	return n, err
}

// Flush is a no-op: a pipe has no buffer. Handlers that flush (SSE)
// require the method to exist.
func (w *pipeWriter) Flush() { w.start(http.StatusOK) }
