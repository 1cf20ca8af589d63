package route

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// framer splits a text/event-stream into events without changing a byte:
// the route forwards each event exactly as the server wrote it (id, retry,
// comments and all: MCP's priming event is an id with empty data, and a
// retry-only event tells the client when to reconnect) and can still look
// at an event's data to filter tools/list or note a tool call's outcome.
// Keep-alive comments are only ever written between two events.
type framer struct {
	br      *bufio.Reader
	max     int
	raw     []byte
	data    []byte
	hasData bool
}

// errEventTooLarge ends a stream whose event exceeds the limit.
var errEventTooLarge = errors.New("SSE event exceeds the size limit")

func newFramer(r io.Reader, max int) *framer {
	// bufio's default 4 KiB: an idle stream holds this buffer for its
	// whole life, and lines longer than it are read across refills.
	return &framer{br: bufio.NewReader(r), max: max}
}

// next returns the next event's raw bytes (through its blank line) and its
// data (data lines joined by "\n"; nil for events without data and for
// comment-only blocks). Both are valid until the next call. At the end of
// the stream it returns io.EOF, or io.ErrUnexpectedEOF when the stream was
// cut inside an event; the partial raw bytes are returned with it.
func (f *framer) next() (raw, data []byte, err error) {
	f.raw, f.data, f.hasData = f.raw[:0], f.data[:0], false
	for {
		line, err := f.line()
		if err != nil {
			if err == io.EOF && len(f.raw) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return f.raw, nil, err
		}
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			if f.hasData {
				return f.raw, f.data, nil
			}
			return f.raw, nil, nil
		}
		if name, value, ok := bytes.Cut(content, []byte(":")); ok && string(name) == "data" {
			value = bytes.TrimPrefix(value, []byte(" "))
			if f.hasData {
				f.data = append(f.data, '\n')
			}
			f.data, f.hasData = append(f.data, value...), true
		} else if string(content) == "data" {
			if f.hasData {
				f.data = append(f.data, '\n')
			}
			f.hasData = true
		}
	}
}

// line appends the next line, terminator included, to f.raw and returns it.
// A lone CR also ends a line, as the SSE grammar allows.
func (f *framer) line() ([]byte, error) {
	start := len(f.raw)
	for {
		b, err := f.br.ReadByte()
		if err != nil {
			return f.raw[start:], err
		}
		f.raw = append(f.raw, b)
		if len(f.raw) > f.max {
			return nil, errEventTooLarge
		}
		switch b {
		case '\n':
			return f.raw[start:], nil
		case '\r':
			if nb, err := f.br.Peek(1); err == nil && nb[0] == '\n' {
				f.br.ReadByte()
				f.raw = append(f.raw, '\n')
			}
			return f.raw[start:], nil
		}
	}
}
