package hookwriter

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func hook(h http.Header, n *int) {
	*n++
	h.Set("X-Hook", "1")
}

func TestCommitPoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		do   func(w *Writer[int])
	}{
		{"write", func(w *Writer[int]) { w.Write([]byte("x")) }},
		{"write header", func(w *Writer[int]) { w.WriteHeader(404) }},
		{"flush", func(w *Writer[int]) { w.Flush() }},
		{"controller flush", func(w *Writer[int]) { _ = http.NewResponseController(w).Flush() }},
		{"finish only", func(w *Writer[int]) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			w := New(rec, 0, hook)
			tt.do(w)
			w.Write([]byte("more"))
			w.Finish()
			if w.State != 1 {
				t.Errorf("hook ran %d times; want 1", w.State)
			}
			if got := rec.Result().Header.Get("X-Hook"); got != "1" {
				t.Errorf("X-Hook = %q; want 1", got)
			}
		})
	}
}

func TestInformationalLeavesHookPending(t *testing.T) {
	t.Parallel()
	w := New(httptest.NewRecorder(), 0, hook)
	w.WriteHeader(103)
	if w.Committed() {
		t.Error("103 committed the hook; want it pending until the final status")
	}
}

func TestUnwrapAndFlush(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := New(rec, 0, hook)
	if w.Unwrap() != rec {
		t.Error("Unwrap did not return the underlying writer")
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed {
		t.Error("Flush did not reach the underlying writer")
	}
}
