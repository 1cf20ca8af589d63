package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ErrInvalidField is returned by Writer.WriteEvent for an event type or ID
// that cannot be written: one containing CR or LF (or NULL, for an ID).
var ErrInvalidField = errors.New("sse: invalid field")

// Writer writes events to a stream, flushing after each one.
//
// Flushing uses http.ResponseController when the destination is an
// http.ResponseWriter, so wrappers that implement Unwrap are seen through; a
// ResponseWriter that cannot flush makes every write fail with an error
// wrapping http.ErrNotSupported rather than silently buffering the stream.
// Any other destination is flushed when it has a Flush() error or Flush()
// method. A Writer is not safe for concurrent use.
type Writer struct {
	dst   io.Writer
	flush func() error
	buf   []byte
}

// NewWriter returns a Writer writing to dst.
func NewWriter(dst io.Writer) *Writer {
	w := &Writer{dst: dst}
	switch d := dst.(type) {
	case http.ResponseWriter:
		w.flush = http.NewResponseController(d).Flush
	case interface{ Flush() error }:
		w.flush = d.Flush
	case interface{ Flush() }:
		w.flush = func() error { d.Flush(); return nil }
	}
	return w
}

// WriteEvent writes ev and flushes it. Data containing line breaks (LF, CR
// or CRLF) is written as several data lines, which a reader joins back with
// LF. An empty Data still writes one data line, so the event is dispatched.
// Comment events are written as comment lines: ":" followed by Data.
func (w *Writer) WriteEvent(ev Event) error {
	b, err := AppendEvent(w.buf[:0], ev)
	if err != nil {
		return err
	}
	w.buf = b
	return w.write()
}

// WriteComment writes the comment line ":" + text and flushes it; a
// comment is the usual keep-alive. text must not contain line breaks.
func (w *Writer) WriteComment(text string) error {
	if strings.ContainsAny(text, "\r\n") {
		return fmt.Errorf("%w: comment contains a line break", ErrInvalidField)
	}
	w.buf = append(append(append(w.buf[:0], ':'), text...), '\n', '\n')
	return w.write()
}

// Flush flushes the destination without writing.
func (w *Writer) Flush() error {
	if w.flush == nil {
		return nil
	}
	if err := w.flush(); err != nil {
		return fmt.Errorf("sse: flush: %w", err)
	}
	return nil
}

func (w *Writer) write() error {
	if _, err := w.dst.Write(w.buf); err != nil {
		return err
	}
	return w.Flush()
}

// AppendEvent appends the wire form of ev to b, ending with the blank line
// that dispatches it.
func AppendEvent(b []byte, ev Event) ([]byte, error) {
	if ev.Comment {
		if bytes.ContainsAny(ev.Data, "\r\n") {
			return b, fmt.Errorf("%w: comment contains a line break", ErrInvalidField)
		}
		return append(append(append(b, ':'), ev.Data...), '\n', '\n'), nil
	}
	if ev.Type != "" {
		if strings.ContainsAny(ev.Type, "\r\n") {
			return b, fmt.Errorf("%w: event type %q contains a line break", ErrInvalidField, ev.Type)
		}
		b = append(append(append(b, "event: "...), ev.Type...), '\n')
	}
	if ev.HasID || ev.ID != "" {
		if strings.ContainsAny(ev.ID, "\r\n\x00") {
			return b, fmt.Errorf("%w: id %q contains a line break or NULL", ErrInvalidField, ev.ID)
		}
		b = append(append(append(b, "id: "...), ev.ID...), '\n')
	}
	if ev.HasRetry {
		b = append(strconv.AppendInt(append(b, "retry: "...), max(ev.Retry, 0), 10), '\n')
	}
	data := ev.Data
	for {
		i := indexEOL(data)
		if i < 0 {
			b = append(append(append(b, "data: "...), data...), '\n')
			break
		}
		b = append(append(append(b, "data: "...), data[:i]...), '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n'), nil
}
