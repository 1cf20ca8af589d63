package h1

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

type bodyMode uint8

const (
	modeNone     bodyMode = iota // no body: http.NoBody
	modeFixed                    // Content-Length
	modeChunked                  // Transfer-Encoding: chunked
	modeUntilEOF                 // neither: the body ends when the upstream closes
)

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = readBufferSize

// body is a response body read from the connection's buffer. At EOF it
// returns the connection to the pool (or closes it); Close before EOF
// discards what is already buffered, up to drainLimit, to keep the
// connection, and otherwise closes it.
type body struct {
	mu   sync.Mutex // serializes Read and Close
	t    *Transport
	c    *conn // set before the response is returned, never changed
	br   *bufio.Reader
	resp *http.Response
	ctx  context.Context
	stop func() bool // stops the request's context.AfterFunc; nil if none
	mode bodyMode
	n    int64 // modeFixed: bytes left; modeChunked: bytes left in the chunk

	reuse  bool  // the connection may be pooled after EOF
	err    error // sticky; io.EOF after the end
	closed bool

	// released and aborting order a Close that races a blocked Read
	// against that Read handing the connection back (see Close).
	released atomic.Bool
	aborting atomic.Bool
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := b.read(p)
	if err != nil {
		if err == io.EOF {
			b.release(b.reuse)
		} else {
			err = b.mapErr(err)
			b.release(false)
		}
		b.err = err
	}
	return n, err
}

// Ready reports whether Read would return without waiting for the
// upstream: bytes are buffered, or the body has ended or failed. A relay
// uses it to hold back a flush while more of a stream is at hand.
func (b *body) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed || b.err != nil || (b.mode == modeFixed && b.n == 0) || b.br.Buffered() > 0
}

// Wait blocks until Ready, holding no read buffer meanwhile: the
// connection's buffer goes back to a pool while nothing is in it. A relay
// calls it before a Read that may wait long (an SSE stream between
// events), so that an idle stream keeps no buffer for its whole life; the
// caller can let go of its own buffer too. It returns at once when the
// connection is not a plain socket, and early when the body is closed or
// the request's context ends (the next Read reports those).
func (b *body) Wait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.err != nil || (b.mode == modeFixed && b.n == 0) || b.br.Buffered() > 0 || !b.c.canPark() {
		return
	}
	c := b.c
	c.br.Reset(nil)
	readers.Put(c.br)
	c.br, b.br = nil, nil
	c.awaitReadable()
	c.br = newReader(c.nc)
	b.br = c.br
}

func (b *body) read(p []byte) (int, error) {
	switch b.mode {
	case modeFixed:
		if int64(len(p)) > b.n {
			p = p[:b.n]
		}
		n, err := b.br.Read(p)
		b.n -= int64(n)
		if b.n == 0 {
			return n, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	case modeChunked:
		return b.readChunked(p)
	default:
		return b.br.Read(p)
	}
}

// readChunked fills p from chunk data. It goes on to the next chunk only
// while bytes are buffered, so a streamed chunk is returned at once, and it
// parses a buffered last chunk and trailer with the data, so the connection
// is released with the final Read.
func (b *body) readChunked(p []byte) (int, error) {
	total := 0
	for {
		if b.n == 0 {
			if err := b.nextChunk(); err != nil {
				return total, err
			}
		}
		q := p[total:]
		if int64(len(q)) > b.n {
			q = q[:b.n]
		}
		n, err := b.br.Read(q)
		total += n
		b.n -= int64(n)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return total, err
		}
		if b.n == 0 {
			if err := b.readCRLF(); err != nil {
				return total, err
			}
		}
		if total == len(p) || b.br.Buffered() == 0 {
			return total, nil
		}
	}
}

// nextChunk reads a chunk-size line (RFC 9112 7.1). For the last chunk it
// reads the trailer section into resp.Trailer and returns io.EOF.
func (b *body) nextChunk() error {
	line, err := b.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > maxChunkLine:
		return malformed("chunk-size line too long")
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	case err != nil:
		return err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return malformed("chunk-size line without CRLF")
	}
	line = line[:len(line)-2]
	var size uint64
	i := 0
	for ; i < len(line); i++ {
		d, ok := unhex(line[i])
		if !ok {
			break
		}
		if i == 15 { // 16 hex digits would pass 2^63
			return malformed("chunk size too large")
		}
		size = size<<4 | uint64(d)
	}
	if i == 0 {
		return malformed("chunk size %q", trunc(string(line)))
	}
	ext := line[i:]
	for len(ext) > 0 && (ext[0] == ' ' || ext[0] == '\t') {
		ext = ext[1:]
	}
	if len(ext) > 0 {
		if ext[0] != ';' {
			return malformed("chunk size %q", trunc(string(line)))
		}
		for _, c := range ext {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return malformed("control character in chunk extension")
			}
		}
	}
	if size > 0 {
		b.n = int64(size)
		return nil
	}
	block, err := b.c.readBlock(MaxHeaderBytes)
	if err != nil {
		return err
	}
	if block != "" {
		th, err := parseFields(block)
		if err != nil {
			return err
		}
		if b.resp.Trailer == nil {
			b.resp.Trailer = th
		} else {
			for k, vv := range th {
				b.resp.Trailer[k] = vv
			}
		}
	}
	return io.EOF
}

func (b *body) readCRLF() error {
	c1, err := b.br.ReadByte()
	if err != nil {
		return err
	}
	c2, err := b.br.ReadByte()
	if err != nil {
		return err
	}
	if c1 != '\r' || c2 != '\n' {
		return malformed("missing CRLF after chunk data")
	}
	return nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (b *body) mapErr(err error) error {
	if b.aborting.Load() {
		return http.ErrBodyReadAfterClose
	}
	if b.ctx != nil && b.ctx.Err() != nil {
		return b.ctx.Err()
	}
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Close ends the body. It is idempotent, safe after EOF, and may be called
// while another goroutine is blocked in Read, which then returns
// http.ErrBodyReadAfterClose.
func (b *body) Close() error {
	if !b.mu.TryLock() {
		// A Read holds the lock, perhaps blocked on the upstream: wake it.
		// The poison must not reach a connection the Read has already
		// pooled, so aborting is set before released is checked, and
		// release checks aborting after setting released.
		b.aborting.Store(true)
		if !b.released.Load() {
			_ = b.c.nc.SetReadDeadline(aLongTimeAgo)
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.released.Load() {
		return nil
	}
	b.release(b.reuse && !b.aborting.Load() && b.drain())
	return nil
}

// drain reads the rest of the body if it is already buffered and at most
// drainLimit long, and reports whether the end was reached.
func (b *body) drain() bool {
	if b.mode == modeFixed && b.n > drainLimit {
		return false
	}
	// A past deadline makes any read that would block fail at once.
	_ = b.c.nc.SetReadDeadline(aLongTimeAgo)
	var buf [512]byte
	for left := drainLimit; left > 0; {
		n, err := b.read(buf[:min(len(buf), left)])
		left -= n
		if err == io.EOF {
			_ = b.c.nc.SetReadDeadline(time.Time{})
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// release hands the connection back to the pool, or closes it. It runs
// once, with b.mu held.
func (b *body) release(reuse bool) {
	b.released.Store(true)
	if b.stop != nil && !b.stop() {
		reuse = false // the cancellation has poisoned, or is poisoning, the deadline
	}
	if b.aborting.Load() {
		reuse = false
	}
	if reuse {
		b.t.putIdle(b.c)
	} else {
		b.c.close()
	}
}
