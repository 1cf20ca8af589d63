package sse

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAppendEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   Event
		want string
		err  error
	}{
		{name: "data only", ev: Event{Data: []byte(`{"a":1}`)}, want: "data: {\"a\":1}\n\n"},
		{name: "empty data", ev: Event{}, want: "data: \n\n"},
		{name: "typed", ev: Event{Type: "message_stop", Data: []byte(`{"type":"message_stop"}`)}, want: "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
		{name: "all fields", ev: Event{Type: "t", ID: "9", HasID: true, Retry: 3000, HasRetry: true, Data: []byte("x")}, want: "event: t\nid: 9\nretry: 3000\ndata: x\n\n"},
		{name: "empty id resets", ev: Event{HasID: true, Data: []byte("x")}, want: "id: \ndata: x\n\n"},
		{name: "line breaks split data", ev: Event{Data: []byte("a\nb\r\nc\rd\n")}, want: "data: a\ndata: b\ndata: c\ndata: d\ndata: \n\n"},
		{name: "comment", ev: Event{Comment: true, Data: []byte(" ping")}, want: ": ping\n\n"},
		{name: "type with LF", ev: Event{Type: "a\nb"}, err: ErrInvalidField},
		{name: "id with CR", ev: Event{ID: "a\rb"}, err: ErrInvalidField},
		{name: "id with NULL", ev: Event{ID: "a\x00b"}, err: ErrInvalidField},
		{name: "comment with LF", ev: Event{Comment: true, Data: []byte("a\nb")}, err: ErrInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := AppendEvent(nil, tt.ev)
			if !errors.Is(err, tt.err) {
				t.Fatalf("AppendEvent() error = %v; want %v", err, tt.err)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("AppendEvent() = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestWriterRoundTrip checks that what the Writer writes, the Reader reads
// back as the same event.
func TestWriterRoundTrip(t *testing.T) {
	t.Parallel()
	events := []Event{
		{Data: []byte("plain")},
		{Type: "content_block_delta", Data: []byte(`{"type":"content_block_delta","index":0}`)},
		{Data: []byte("multi\nline\n\ndata")},
		{Data: []byte("")},
		{ID: "42", HasID: true, Retry: 5, HasRetry: true, Data: []byte(" leading space")},
		{Comment: true, Data: []byte(" keep-alive")},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range events {
		if err := w.WriteEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	rd := NewReader(&buf, &Options{Comments: true})
	for _, want := range events {
		got, err := rd.Next()
		if err != nil {
			t.Fatalf("Next() error = %v", err)
		}
		if toEv(got) != toEv(want) {
			t.Errorf("read back %+v; want %+v", toEv(got), toEv(want))
		}
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Errorf("final error = %v; want EOF", err)
	}
}

// TestWriterFlushesEachEvent checks that every event reaches the client by
// itself, through a real server, before the handler writes the next one.
func TestWriterFlushesEachEvent(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/event-stream")
		w := NewWriter(rw)
		for i := range 3 {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			if err := w.WriteEvent(Event{Data: []byte{'0' + byte(i)}}); err != nil {
				t.Error(err)
				return
			}
		}
	}))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := NewReader(res.Body, nil)
	for i := range 3 {
		// The handler writes event i+1 only after this read returned event
		// i, so a buffered writer would deadlock here.
		e, err := rd.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if string(e.Data) != string(rune('0'+i)) {
			t.Errorf("event %d data = %q", i, e.Data)
		}
		if i < 2 {
			next <- struct{}{}
		}
	}
}

// noFlush is a ResponseWriter that cannot flush.
type noFlush struct{ h http.Header }

func (n *noFlush) Header() http.Header         { return n.h }
func (n *noFlush) Write(b []byte) (int, error) { return len(b), nil }
func (n *noFlush) WriteHeader(int)             {}

func TestWriterUnflushableResponseWriter(t *testing.T) {
	t.Parallel()
	w := NewWriter(&noFlush{h: http.Header{}})
	err := w.WriteEvent(Event{Data: []byte("x")})
	if !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("WriteEvent() error = %v; want one wrapping http.ErrNotSupported", err)
	}
}

// unwrapper hides the Flusher but offers Unwrap, as Sluice's wrappers do.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func TestWriterFlushesThroughUnwrap(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := NewWriter(unwrapper{rec})
	if err := w.WriteComment("ping"); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || rec.Body.String() != ":ping\n\n" {
		t.Errorf("flushed %v, body %q; want flushed \":ping\\n\\n\"", rec.Flushed, rec.Body.String())
	}
	if err := w.WriteComment("a\nb"); !errors.Is(err, ErrInvalidField) {
		t.Errorf("WriteComment with LF error = %v; want ErrInvalidField", err)
	}
}

func TestWriterWriteError(t *testing.T) {
	t.Parallel()
	w := NewWriter(errWriter{})
	if err := w.WriteEvent(Event{Data: []byte("x")}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("WriteEvent() error = %v; want the destination's error", err)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }
