// Package hookwriter wraps an http.ResponseWriter so that a function edits the
// response header exactly once, just before the header is sent (or, if the
// handler never writes, when the plugin finishes). Plugins use it to override
// headers the upstream sent, which setting them before next cannot do:
// httputil.ReverseProxy adds upstream headers to whatever is already there.
//
// The body is never buffered: Write and Flush pass straight through.
package hookwriter

import (
	"net/http"
)

// Writer calls Hook(header, &State) once before the response header is
// committed. It implements Flush, FlushError and Unwrap, so
// http.NewResponseController reaches the underlying writer (Hijack,
// SetWriteDeadline, ...) while flushes still run the hook first.
//
// A Writer is owned by one request and must not be used after the handler
// that created it returns.
type Writer[S any] struct {
	http.ResponseWriter
	State S
	Hook  func(h http.Header, s *S)
	done  bool
}

// New returns a Writer around w. hook should be a plain function (not a
// closure) so that wrapping costs one allocation.
func New[S any](w http.ResponseWriter, state S, hook func(http.Header, *S)) *Writer[S] {
	return &Writer[S]{ResponseWriter: w, State: state, Hook: hook}
}

// Finish runs the hook if it has not run yet. Call it after next returns, so
// that a response the gateway renders from a returned error, or the empty 200
// net/http sends for a handler that wrote nothing, carries the headers too.
func (w *Writer[S]) Finish() { w.commit() }

// Committed reports whether the hook has run.
func (w *Writer[S]) Committed() bool { return w.done }

func (w *Writer[S]) commit() {
	if !w.done {
		w.done = true
		w.Hook(w.ResponseWriter.Header(), &w.State)
	}
}

// WriteHeader runs the hook before a final status. Informational statuses
// (1xx other than 101) are sent as they are and leave the hook pending, since
// the final header comes later.
func (w *Writer[S]) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols || code < 100 {
		w.commit()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write runs the hook (an implicit 200), then writes b.
func (w *Writer[S]) Write(b []byte) (int, error) {
	w.commit()
	return w.ResponseWriter.Write(b)
}

// Flush runs the hook (a flush commits the header), then flushes.
func (w *Writer[S]) Flush() {
	_ = w.FlushError()
}

// FlushError is Flush with the error http.ResponseController reports.
func (w *Writer[S]) FlushError() error {
	w.commit()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer for http.ResponseController.
func (w *Writer[S]) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	_ http.Flusher                    = (*Writer[int])(nil)
	_ interface{ FlushError() error } = (*Writer[int])(nil)
)
