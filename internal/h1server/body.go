package h1server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

const (
	// maxChunkLine bounds a chunk-size line with its extensions; it must fit
	// the read buffer (net/http's maxLineLength is the same).
	maxChunkLine = readBufSize
	// maxChunkExcess bounds chunk overhead beyond what the data justifies
	// (net/http's rule against senders that pad 1-byte chunks with
	// extensions).
	maxChunkExcess = 16 << 10
)

var (
	errLineTooLong      = errors.New("h1server: chunk-size line too long")
	errTrailerTooLong   = errors.New("h1server: suspiciously long trailer after chunked body")
	errMalformedChunked = errors.New("h1server: malformed chunked encoding")
)

// body is a request body read from the connection's buffer: a fixed
// length (Content-Length) or the chunked coding with its trailer. Read and
// Close are serialized by mu, which is also how the server takes the
// connection back when the handler returns while another goroutine (an
// upstream transport, say) is still reading.
type body struct {
	mu      sync.Mutex
	ex      *exchange
	c       *conn
	chunked bool
	n       int64  // fixed: bytes left
	cn      uint64 // chunked: bytes left in the current chunk
	// checkEnd: a chunk's data ended and its CRLF is still to be read.
	checkEnd bool
	excess   int64
	closing  bool // the request says Connection: close; Close need not drain

	sawEOF      bool
	closed      bool
	earlyClose  bool  // Close gave up before EOF: the connection cannot be reused
	err         error // sticky
	expect      bool  // the first Read sends 100 Continue
	handlerDone bool  // reaching EOF no longer starts the background read
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.expect {
		b.ex.resp.writeContinue()
	}
	return b.readLocked(p)
}

func (b *body) readLocked(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.c.hijacked.Load() {
		return 0, http.ErrHijacked
	}
	var n int
	var err error
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = b.readFixed(p)
	}
	switch {
	case err == io.EOF:
		b.sawEOF = true
		if !b.handlerDone {
			b.c.scheduleBG(&b.ex.ctx)
		}
	case err != nil:
		b.err = err
	}
	return n, err
}

func (b *body) readFixed(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.c.readBody(p)
	b.n -= int64(n)
	if b.n == 0 {
		return n, io.EOF // with the data, as net/http: the handler needs no extra Read
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readChunked is net/http's chunkedReader.Read: it returns what it has
// rather than block on the next chunk's size line, and parses a buffered
// last chunk (and trailer) with the data so EOF comes with the final read.
func (b *body) readChunked(p []byte) (n int, err error) {
	c := b.c
	for {
		if b.checkEnd {
			if n > 0 && c.w-c.r < 2 {
				return n, nil
			}
			if err := c.ensure(2); err != nil {
				return n, err
			}
			if c.rbuf[c.r] != '\r' || c.rbuf[c.r+1] != '\n' {
				return n, errMalformedChunked
			}
			c.r += 2
			b.checkEnd = false
		}
		if b.cn == 0 {
			if n > 0 && bytes.IndexByte(c.rbuf[c.r:c.w], '\n') < 0 {
				return n, nil
			}
			if err := b.beginChunk(); err != nil {
				return n, err
			}
			continue
		}
		if len(p) == 0 {
			return n, nil
		}
		q := p
		if uint64(len(q)) > b.cn {
			q = q[:b.cn]
		}
		n0, err := c.readBody(q)
		n += n0
		p = p[n0:]
		b.cn -= uint64(n0)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		if b.cn == 0 {
			b.checkEnd = true
		}
	}
}

// beginChunk reads a chunk-size line (RFC 9112 7.1). At the last chunk it
// reads the trailer section into the request's Trailer and returns io.EOF.
func (b *body) beginChunk() error {
	line, err := b.c.readLine()
	if err != nil {
		return err
	}
	// Like net/http: the line ends in CRLF, with no other CR (RFC 9112
	// errata 7633 forbids a bare LF here, unlike in header lines).
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return errors.New("h1server: chunked line ends with bare LF")
	}
	line = line[:len(line)-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return errors.New("h1server: invalid CR in chunked line")
	}
	b.excess += int64(len(line)) + 2
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	size, ext, _ := bytes.Cut(line, []byte(";"))
	for _, ch := range ext {
		// Stricter than net/http, which ignores extensions unread:
		// no control bytes (RFC 9112 7.1.1 allows none but HTAB).
		if ch < ' ' && ch != '\t' || ch == 0x7f {
			return fmt.Errorf("h1server: %w: control character in chunk extension", errStrictChunk)
		}
	}
	if len(size) == 0 {
		return errors.New("h1server: empty hex number for chunk length")
	}
	var n uint64
	for i, ch := range size {
		d, ok := unhex(ch)
		if !ok {
			return errors.New("h1server: invalid byte in chunk length")
		}
		if i == 16 {
			return errors.New("h1server: http chunk length too large")
		}
		n = n<<4 | uint64(d)
	}
	// Allow 16 bytes of overhead per chunk plus twice the data (net/http).
	if n > 1<<40 {
		b.excess = 0
	} else {
		b.excess = max(b.excess-16-2*int64(n), 0)
	}
	if b.excess > maxChunkExcess {
		return errors.New("h1server: chunked encoding contains too much non-data")
	}
	if n > 0 {
		b.cn = n
		return nil
	}
	if err := b.readTrailer(); err != nil {
		return err
	}
	return io.EOF
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

// readTrailer reads the trailer section after the last chunk, which must
// fit the read buffer (net/http's limit is its bufio buffer, too) and end
// its lines in CRLF, and merges it into the request's Trailer, as net/http
// does.
func (b *body) readTrailer() error {
	c := b.c
	scan := c.r
	for {
		for {
			i := bytes.IndexByte(c.rbuf[scan:c.w], '\n')
			if i < 0 {
				break
			}
			end := scan + i + 1
			if i == 0 || c.rbuf[end-2] != '\r' {
				// Stricter than net/http, whose trailer parse accepts bare
				// LF only when a CRLFCRLF follows somewhere in its buffer:
				// CRLF throughout, as for chunk-size lines.
				return fmt.Errorf("h1server: %w: trailer line ends with bare LF", errStrictChunk)
			}
			if end-scan == 2 {
				block := c.rbuf[c.r:scan]
				c.r = end
				if len(block) == 0 {
					return nil
				}
				t, err := parseFields(string(block), nil)
				if err != nil {
					return err
				}
				req := b.ex.req
				if req.Trailer == nil {
					req.Trailer = t
				} else {
					for k, vv := range t {
						req.Trailer[k] = vv
					}
				}
				return nil
			}
			scan = end
		}
		if c.r > 0 {
			k := copy(c.rbuf, c.rbuf[c.r:c.w])
			scan -= c.r
			c.r, c.w = 0, k
		}
		if c.w == len(c.rbuf) {
			return errTrailerTooLong
		}
		n, err := c.nc.Read(c.rbuf[c.w:])
		c.w += n
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// Close ends the body. Like net/http's server bodies, a Close before EOF
// reads and discards up to 256 KiB looking for the end, so the connection
// can carry another request; a longer body makes the connection close.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closeLocked()
}

func (b *body) closeLocked() error {
	if b.closed {
		return nil
	}
	var err error
	switch {
	case b.sawEOF || b.err != nil:
	case !b.chunked && b.closing:
		// The connection closes next and there is no trailer: why read.
	case !b.chunked && b.n > maxPostHandlerReadBytes:
		b.earlyClose = true
	default:
		var n int64
		n, err = io.CopyN(io.Discard, lockedBody{b}, maxPostHandlerReadBytes)
		if err == io.EOF {
			err = nil
		}
		if n == maxPostHandlerReadBytes {
			b.earlyClose = true
		}
	}
	b.closed = true
	return err
}

// done takes the body back from the handler once it has returned: a Read
// still blocked in another goroutine is woken by a past read deadline,
// then the rest is drained (if drain) as Close does. It reports whether the
// body ended cleanly, so the connection can read the next request.
func (b *body) done(drain bool) bool {
	if b.c == nil {
		return true // no body (http.NoBody)
	}
	if !b.mu.TryLock() {
		// Read holds the lock, blocked on the client: wake it.
		_ = b.c.nc.SetReadDeadline(aLongTimeAgo)
		b.c.rd.Store(rdOther)
		b.mu.Lock()
		if !b.sawEOF && b.err == nil {
			b.err = http.ErrBodyReadAfterClose
		}
	}
	defer b.mu.Unlock()
	b.handlerDone = true
	if drain {
		_ = b.closeLocked()
	}
	b.closed = true
	return b.sawEOF && !b.earlyClose
}

// lockedBody reads a body whose lock is held.
type lockedBody struct{ b *body }

func (l lockedBody) Read(p []byte) (int, error) { return l.b.readLocked(p) }

// readBody reads request body bytes: from the buffer, or straight from the
// connection into p when p is at least a buffer long.
func (c *conn) readBody(p []byte) (int, error) {
	if c.r < c.w {
		n := copy(p, c.rbuf[c.r:c.w])
		c.r += n
		return n, nil
	}
	if len(p) >= len(c.rbuf) {
		return c.nc.Read(p)
	}
	c.r, c.w = 0, 0
	n, err := c.nc.Read(c.rbuf)
	c.w = n
	if n > 0 {
		k := copy(p, c.rbuf[:n])
		c.r = k
		return k, nil // an error comes back on the next read
	}
	return 0, err
}

// ensure makes at least k bytes available in the buffer.
func (c *conn) ensure(k int) error {
	for c.w-c.r < k {
		if c.r > 0 {
			c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
			c.r = 0
		}
		n, err := c.nc.Read(c.rbuf[c.w:])
		c.w += n
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readLine returns the next line with its line ending, as a slice of the
// buffer valid until the next read. A line must fit the buffer.
func (c *conn) readLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(c.rbuf[c.r:c.w], '\n'); i >= 0 {
			line := c.rbuf[c.r : c.r+i+1]
			c.r += i + 1
			if len(line) > maxChunkLine {
				return nil, errLineTooLong
			}
			return line, nil
		}
		if c.r > 0 {
			c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
			c.r = 0
		}
		if c.w == len(c.rbuf) {
			return nil, errLineTooLong
		}
		n, err := c.nc.Read(c.rbuf[c.w:])
		c.w += n
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}
