// Package sse reads and writes server-sent events (text/event-stream).
//
// The Reader follows the parsing rules of the WHATWG HTML standard, section
// 9.2.6 "Interpreting an event stream": lines end in CRLF, LF or CR; a
// leading byte order mark is skipped; a line starting with a colon is a
// comment; "field: value" loses one optional space after the colon; data
// lines are joined with LF; an event is dispatched on a blank line, and not
// at all when it had no data line. On top of that it can hand comments to
// the caller, so a proxy can pass keep-alives through, and it bounds line and
// event sizes so a misbehaving upstream cannot grow memory without limit.
//
// The Writer writes one event per call and flushes it, so nothing between
// Sluice and the client buffers a stream.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Default limits of a Reader. An LLM chunk is a few hundred bytes; a whole
// tool result or an inline image in one event can reach megabytes.
const (
	DefaultMaxLine  = 8 << 20
	DefaultMaxEvent = 16 << 20
)

// Errors returned by Reader.Next. Both are sticky: the Reader returns the
// same error from then on.
var (
	ErrLineTooLong   = errors.New("sse: line too long")
	ErrEventTooLarge = errors.New("sse: event too large")
)

// Event is one event read from or written to a stream.
type Event struct {
	// Type is the value of the "event" field. Empty means the default type
	// "message"; the Reader leaves it empty so a proxy writes back exactly
	// what it read.
	Type string
	// Data is the event's data lines joined with "\n". An event read by a
	// Reader owns nothing: Data aliases the Reader's buffer and is valid
	// only until the next call to Next.
	Data []byte
	// ID is the value of an "id" field in this event, if HasID. The last
	// event ID in the sense of the standard, which persists across events,
	// is Reader.LastEventID.
	ID    string
	HasID bool
	// Retry is the value of a valid "retry" field in this event, in
	// milliseconds, if HasRetry.
	Retry    int64
	HasRetry bool
	// Comment marks a comment line rather than an event; Data holds the
	// text after the colon, verbatim (an optional leading space is kept).
	// The Reader returns comments only when Options.Comments is set, and
	// returns each one as soon as its line is read, even inside an event.
	Comment bool
}

// Options configure a Reader. The zero value is valid.
type Options struct {
	// MaxLine bounds one line in bytes, terminator excluded. Zero means
	// DefaultMaxLine.
	MaxLine int
	// MaxEvent bounds the data of one event in bytes. Zero means
	// DefaultMaxEvent.
	MaxEvent int
	// Comments makes Next return comment lines as events with Comment set,
	// for proxies that forward keep-alives. By default they are skipped.
	Comments bool
}

// Reader reads events from a stream. It is not safe for concurrent use.
type Reader struct {
	src  io.Reader
	opts Options

	buf     []byte // buf[r:w] is unread input
	r, w    int
	scanned int   // buf[r:r+scanned] holds no line terminator
	err     error // sticky error returned by readLine
	srcErr  error // error from src, seen once buf[r:w] is consumed
	skipLF  bool  // the last line ended in CR: a following LF belongs to it
	started bool  // the byte order mark check is done

	data     []byte // data buffer, each line followed by LF
	hasData  bool
	typ      []byte
	lastType string // cached string(typ) of an earlier event
	pending  bool   // a field was read since the last dispatch
	id       string // the "id" field of the current event
	hasID    bool
	retry    int64
	hasRetry bool
	lastID   string
	out      Event
}

// NewReader returns a Reader reading from src. opts may be nil.
func NewReader(src io.Reader, opts *Options) *Reader {
	rd := &Reader{src: src}
	if opts != nil {
		rd.opts = *opts
	}
	if rd.opts.MaxLine <= 0 {
		rd.opts.MaxLine = DefaultMaxLine
	}
	if rd.opts.MaxEvent <= 0 {
		rd.opts.MaxEvent = DefaultMaxEvent
	}
	return rd
}

// LastEventID returns the last event ID: the value of the latest "id"
// field read so far, which per the standard applies to every later event.
func (rd *Reader) LastEventID() string { return rd.lastID }

// Next returns the next event. At the end of the stream it returns io.EOF,
// or io.ErrUnexpectedEOF when the stream ended inside an event (after a
// field but before the blank line that would dispatch it); that event is
// discarded, as the standard says, but a proxy will want to know the stream
// was cut. Errors from the underlying reader are returned as they are.
//
// The returned Event's Data is valid until the next call to Next.
func (rd *Reader) Next() (Event, error) {
	for {
		line, err := rd.readLine()
		if err != nil {
			if err == io.EOF && (rd.pending || len(line) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if rd.dispatch() {
				return rd.out, nil
			}
			continue
		}
		if line[0] == ':' {
			if rd.opts.Comments {
				return Event{Comment: true, Data: line[1:]}, nil
			}
			continue
		}
		if err := rd.field(line); err != nil {
			rd.err = err
			return Event{}, err
		}
	}
}

// field processes one "name: value" line.
func (rd *Reader) field(line []byte) error {
	name, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) { // no allocation: the compiler special-cases this
	case "data":
		if len(rd.data)+len(value)+1 > rd.opts.MaxEvent+1 {
			return fmt.Errorf("%w: data exceeds %d bytes", ErrEventTooLarge, rd.opts.MaxEvent)
		}
		rd.data = append(rd.data, value...)
		rd.data = append(rd.data, '\n')
		rd.hasData = true
	case "event":
		rd.typ = append(rd.typ[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) >= 0 {
			return nil // the standard ignores an id containing NULL
		}
		if string(value) != rd.lastID {
			rd.lastID = string(value)
		}
		rd.id, rd.hasID = rd.lastID, true
	case "retry":
		n, ok := parseDigits(value)
		if !ok {
			return nil
		}
		rd.retry, rd.hasRetry = n, true
	default:
		return nil // unknown fields are ignored
	}
	rd.pending = true
	return nil
}

// parseDigits parses a non-empty run of ASCII digits, as "retry" requires.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// dispatch finishes the current event on a blank line. It reports whether
// there is an event to return in rd.out; either way the per-event state is
// reset.
func (rd *Reader) dispatch() bool {
	ok := rd.hasData
	if ok {
		rd.out = Event{Data: rd.data[:len(rd.data)-1], ID: rd.id, HasID: rd.hasID, Retry: rd.retry, HasRetry: rd.hasRetry}
		if len(rd.typ) > 0 {
			if string(rd.typ) != rd.lastType {
				rd.lastType = string(rd.typ)
			}
			rd.out.Type = rd.lastType
		}
	}
	// rd.data keeps its backing array, which rd.out.Data aliases until the
	// next call to Next.
	rd.data, rd.hasData, rd.typ, rd.pending = rd.data[:0], false, rd.typ[:0], false
	rd.id, rd.hasID, rd.retry, rd.hasRetry = "", false, 0, false
	return ok
}

// minRead is the smallest free space readLine asks the source to fill.
const minRead = 4 << 10

// readLine returns the next line without its terminator. The line aliases
// rd.buf and is valid until the next call. At the end of input it returns
// any unterminated rest of a line together with io.EOF.
func (rd *Reader) readLine() ([]byte, error) {
	if rd.err != nil {
		return nil, rd.err
	}
	for {
		if rd.skipLF && rd.r < rd.w {
			if rd.buf[rd.r] == '\n' {
				rd.r++
			}
			rd.skipLF = false
		}
		if avail := rd.buf[rd.r:rd.w]; !rd.started && (len(avail) >= len(bom) || rd.srcErr != nil || !bytes.HasPrefix(bom, avail)) {
			rd.started = true
			if bytes.HasPrefix(rd.buf[rd.r:rd.w], bom) {
				rd.r += len(bom)
			}
		}
		if rd.started && !rd.skipLF {
			win := rd.buf[rd.r+rd.scanned : rd.w]
			if i := indexEOL(win); i >= 0 {
				end := rd.r + rd.scanned + i
				line := rd.buf[rd.r:end]
				if len(line) > rd.opts.MaxLine {
					return nil, rd.fail(fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, rd.opts.MaxLine))
				}
				rd.r, rd.scanned = end+1, 0
				rd.skipLF = rd.buf[end] == '\r'
				return line, nil
			}
			rd.scanned = rd.w - rd.r
			if rd.scanned > rd.opts.MaxLine {
				return nil, rd.fail(fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, rd.opts.MaxLine))
			}
		}
		if err := rd.srcErr; err != nil {
			line := rd.buf[rd.r:rd.w]
			rd.r, rd.scanned = rd.w, 0
			rd.err = err
			return line, err
		}
		rd.fill()
	}
}

var bom = []byte("\xEF\xBB\xBF")

func (rd *Reader) fail(err error) error {
	rd.err = err
	return err
}

// fill reads more input into rd.buf, compacting or growing it first.
func (rd *Reader) fill() {
	if rd.r > 0 && (rd.r == rd.w || len(rd.buf)-rd.w < minRead) {
		n := copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r, rd.w = 0, n
	}
	if len(rd.buf)-rd.w < minRead {
		size := max(2*len(rd.buf), minRead)
		// A line may be MaxLine bytes plus its terminator; never grow much
		// past what that needs.
		size = min(size, max(rd.opts.MaxLine+2, rd.w+minRead))
		if size > len(rd.buf) {
			nb := make([]byte, size)
			copy(nb, rd.buf[rd.r:rd.w])
			rd.buf, rd.w, rd.r = nb, rd.w-rd.r, 0
		}
	}
	for range 100 {
		n, err := rd.src.Read(rd.buf[rd.w:])
		if n < 0 || n > len(rd.buf)-rd.w {
			rd.srcErr = errors.New("sse: source returned an invalid count")
			return
		}
		rd.w += n
		if err != nil {
			rd.srcErr = err
			return
		}
		if n > 0 {
			return
		}
	}
	rd.srcErr = io.ErrNoProgress
}

// indexEOL returns the index of the first CR or LF in b, or -1.
func indexEOL(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
