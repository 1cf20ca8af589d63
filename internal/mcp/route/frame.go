package route

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// framer splits a text/event-stream into events without changing a byte:
// the route forwards each event exactly as the server wrote it (id, retry,
// comments and all: MCP's priming event is an id with empty data, and a
// retry-only event tells the client when to reconnect) and can still look
// at an event's data to filter tools/list or note a tool call's outcome.
// Keep-alive comments are only ever written between two events.
type framer struct {
	src     io.Reader
	br      *bufio.Reader
	max     int
	raw     []byte
	data    []byte
	hasData bool
}

// errEventTooLarge ends a stream whose event exceeds the limit.
var errEventTooLarge = errors.New("SSE event exceeds the size limit")

// framers are reused: a framer with its buffers was a tenth of the
// allocations of an SSE tool call. Their readers have a pool of their own,
// since a framer lets go of its reader while it waits (see wait).
var (
	framers      = sync.Pool{New: func() any { return &framer{} }}
	frameReaders = sync.Pool{New: func() any {
		// bufio's default 4 KiB; lines longer than it are read across
		// refills.
		return bufio.NewReader(nil)
	}}
)

func newFramer(r io.Reader, max int) *framer {
	f := framers.Get().(*framer)
	f.src = r
	f.br = frameReaders.Get().(*bufio.Reader)
	f.br.Reset(r)
	f.max = max
	return f
}

// release returns f to the pool; what next returned is invalid after it.
func (f *framer) release() {
	f.src = nil
	f.br.Reset(nil)
	frameReaders.Put(f.br)
	f.br = nil
	if cap(f.raw) > 64<<10 {
		f.raw = nil // one large event must not pin its buffer in the pool
	}
	if cap(f.data) > 64<<10 {
		f.data = nil
	}
	framers.Put(f)
}

// waiter is a stream source that can wait for its next bytes without a
// read buffer (upstream/h1's bodies).
type waiter interface {
	Ready() bool
	Wait()
}

// wait blocks, when nothing is buffered and the source can say, until the
// source has bytes at hand, with the framer's reader back in its pool
// meanwhile and the source holding none either: an idle stream then keeps
// no read buffer at all, 8 KiB less per stream.
func (f *framer) wait() {
	w, ok := f.src.(waiter)
	if !ok || w.Ready() {
		return
	}
	f.br.Reset(nil)
	frameReaders.Put(f.br)
	w.Wait()
	f.br = frameReaders.Get().(*bufio.Reader)
	f.br.Reset(f.src)
}

// ready reports whether next has bytes (or the stream's end) at hand, so
// that it will not wait for the server. Only a source that says so
// (upstream/h1's bodies) counts beyond the framer's own buffer.
func (f *framer) ready() bool {
	if f.br.Buffered() > 0 {
		return true
	}
	w, ok := f.src.(waiter)
	return ok && w.Ready()
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
// A lone CR also ends a line, as the SSE grammar allows. It copies what is
// buffered up to the line's end in one go (reading byte by byte was most
// of the framer's cost).
func (f *framer) line() ([]byte, error) {
	start := len(f.raw)
	for {
		if f.br.Buffered() == 0 {
			f.wait()
			if _, err := f.br.Peek(1); err != nil {
				return f.raw[start:], err
			}
		}
		buf, _ := f.br.Peek(f.br.Buffered())
		end := bytes.IndexByte(buf, '\n')
		seg := buf
		if end >= 0 {
			seg = buf[:end]
		}
		if cr := bytes.IndexByte(seg, '\r'); cr >= 0 {
			end = cr // a CR first ends the line: alone, or as CRLF's first half
		}
		if end < 0 {
			f.raw = append(f.raw, buf...)
			f.br.Discard(len(buf))
			if len(f.raw) > f.max {
				return nil, errEventTooLarge
			}
			continue
		}
		f.raw = append(f.raw, buf[:end+1]...)
		f.br.Discard(end + 1)
		if len(f.raw) > f.max {
			return nil, errEventTooLarge
		}
		if buf[end] == '\r' {
			// buf is invalid after Discard; peek again for CRLF's LF,
			// which may come with the next read.
			if nb, err := f.br.Peek(1); err == nil && nb[0] == '\n' {
				f.br.Discard(1)
				f.raw = append(f.raw, '\n')
			}
		}
		return f.raw[start:], nil
	}
}
