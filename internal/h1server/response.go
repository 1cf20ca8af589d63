package h1server

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/sluicegw/sluice/internal/httpwire"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// response is the http.ResponseWriter. It follows net/http's write path:
// the header is fixed (snapshotted) at WriteHeader; body bytes are held
// back in conn.pend, up to pendSize, until the handler flushes, writes more
// or returns, and only then is the header block written, with a
// Content-Length when the whole body is known (handler returned) and
// chunking otherwise.
type response struct {
	c             *conn
	ex            *exchange
	req           *http.Request // the request as parsed, not the handler's copy
	handlerHeader http.Header

	status           int
	wroteHeader      bool // a final (non-1xx) status is set
	headerSent       bool // the header block is in conn.bw
	chunking         bool
	contentLength    int64 // declared (or computed at the end); -1 unknown
	written          int64
	closeAfterReply  bool
	wants10KeepAlive bool
	wantsClose       bool
	fullDuplex       bool
	bodyTooLarge     bool // the unread body was over the drain limit
	handlerDone      atomic.Bool

	snap     snapshot
	trailers []string // declared in the Trailer header

	// writeContinueMu and canWriteContinue order the body's automatic 100
	// Continue against the handler's first write (net/http's pair).
	writeContinueMu  sync.Mutex
	canWriteContinue atomic.Bool
}

// snapshot is the header as it was at WriteHeader. The fields are rendered
// into conn.hdr in four runs, so that the ones the framing may drop can be
// left out when the header is sent: hdr[:genEnd] general fields, then
// Content-Type, Connection and Content-Length.
type snapshot struct {
	genEnd, ctEnd, connEnd, clEnd int

	hasCT, hasCL, hasConn bool // the key is present (even with no value)
	hasDate, hasCE        bool
	hasTrailers           bool // a Trailer header or a TrailerPrefix key
	upgrade               bool // Upgrade has a value
	connUpgrade           bool // Connection lists "upgrade"
	te, conn0, cl0        string
}

func (w *response) Header() http.Header { return w.handlerHeader }

// AdoptHeader makes h the header map that Header returns and WriteHeader
// sends, and reports whether it did: not once the header is written or the
// connection hijacked, nor for a nil h. Fields set in the old map are
// dropped; a caller merges them into h first. A proxy hands over its
// upstream's response header this way instead of copying it field by
// field into a second map.
func (w *response) AdoptHeader(h http.Header) bool {
	if h == nil || w.wroteHeader || w.c.hijacked.Load() {
		return false
	}
	w.handlerHeader = h
	return true
}

func (w *response) WriteHeader(code int) {
	if w.c.hijacked.Load() {
		w.misuse("WriteHeader on hijacked connection")
		return
	}
	if w.wroteHeader {
		w.misuse("superfluous WriteHeader call")
		return
	}
	// Like net/http: any three digits; a bad code is a handler bug.
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 101 || code > 199 {
		w.disableWriteContinue()
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	w.snapshot()
	if w.snap.hasCL && w.snap.cl0 != "" {
		if n, ok := parseContentLength(w.snap.cl0); ok {
			w.contentLength = n
		} else {
			// net/http logs and deletes it from the handler's map but may
			// still send it; it is never sent here.
			w.misuse("invalid Content-Length " + strconv.Quote(w.snap.cl0))
			w.snap.hasCL, w.snap.cl0 = false, ""
			w.snap.clEnd = w.snap.connEnd
		}
	}
}

// writeInformational sends a 1xx response at once, with the current header
// minus the framing fields (RFC 8297: the map is not cleared). Not to
// HTTP/1.0 clients, which RFC 9110 15.2 forbids (net/http sends it).
func (w *response) writeInformational(code int) {
	if !w.req.ProtoAtLeast(1, 1) {
		return
	}
	bw := w.c.bw
	writeStatusLine(bw, true, code)
	for k, vv := range w.handlerHeader {
		if isFramingKey(k) {
			continue
		}
		writeFields(bw, k, vv)
	}
	_, _ = bw.WriteString("\r\n")
	_ = bw.Flush()
}

// isFramingKey reports Content-Length and Transfer-Encoding in any case:
// the server writes those itself, and a second, non-canonical copy from
// the handler would give the response two framings.
func isFramingKey(k string) bool {
	switch len(k) {
	case 14:
		return strings.EqualFold(k, "Content-Length")
	case 17:
		return strings.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

func (w *response) snapshot() {
	s := &w.snap
	*s = snapshot{}
	h := w.handlerHeader
	buf := w.c.hdr[:0]
	for k, vv := range h {
		switch k {
		case "Content-Type", "Connection":
			continue // rendered below, in their own runs
		case "Date":
			s.hasDate = true
		case "Upgrade":
			s.upgrade = first(vv) != ""
		case "Content-Encoding":
			s.hasCE = first(vv) != ""
		case "Trailer":
			for _, v := range vv {
				s.hasTrailers = true
				for f := range strings.SplitSeq(v, ",") {
					if f = textprotoTrim(f); f != "" {
						w.declareTrailer(f)
					}
				}
			}
		default:
			if isFramingKey(k) {
				continue
			}
			if strings.HasPrefix(k, http.TrailerPrefix) {
				s.hasTrailers = true
				continue
			}
		}
		buf = appendFields(buf, k, vv)
	}
	s.genEnd = len(buf)
	ct, hasCT := h["Content-Type"]
	s.hasCT = hasCT
	buf = appendFields(buf, "Content-Type", ct)
	s.ctEnd = len(buf)
	conn, hasConn := h["Connection"]
	s.hasConn, s.conn0 = hasConn, first(conn)
	s.connUpgrade = httpguts.HeaderValuesContainsToken(conn, "Upgrade")
	buf = appendFields(buf, "Connection", conn)
	s.connEnd = len(buf)
	cl, hasCL := h["Content-Length"]
	s.hasCL, s.cl0 = hasCL, first(cl)
	buf = appendFields(buf, "Content-Length", cl)
	s.clEnd = len(buf)
	s.te = first(h["Transfer-Encoding"])
	w.c.hdr = buf
}

func (w *response) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if !httpguts.ValidTrailerHeader(k) {
		return // RFC 9110 6.5.1: not a field a trailer may carry
	}
	w.trailers = append(w.trailers, k)
}

// textprotoTrim is textproto.TrimString.
func textprotoTrim(s string) string {
	for len(s) > 0 && isASCIISpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isASCIISpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// appendFields renders k's values as net/http's Header.Write does: a key
// that is not a token is dropped, values are sanitized.
func appendFields(buf []byte, k string, vv []string) []byte {
	if len(vv) == 0 || !httpwire.ValidToken(k) {
		return buf
	}
	for _, v := range vv {
		buf = append(buf, k...)
		buf = append(buf, ": "...)
		buf = append(buf, sanitizeValue(v)...)
		buf = append(buf, "\r\n"...)
	}
	return buf
}

func writeFields(bw *bufio.Writer, k string, vv []string) {
	if len(vv) == 0 || !httpwire.ValidToken(k) {
		return
	}
	for _, v := range vv {
		_, _ = bw.WriteString(k)
		_, _ = bw.WriteString(": ")
		_, _ = bw.WriteString(sanitizeValue(v))
		_, _ = bw.WriteString("\r\n")
	}
}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199, status == 204, status == 304:
		return false
	}
	return true
}

// sendHeader writes the status line and header block to conn.bw. p is the
// start of the body (what is held back), used to sniff a Content-Type and,
// once the handler has returned, as the whole body's length. The decisions
// are net/http's chunkWriter.writeHeader, in its order.
func (w *response) sendHeader(p []byte) {
	w.headerSent = true
	c := w.c
	s := &w.snap
	keepAlives := !c.srv.shuttingDown()
	isHEAD := w.req.Method == http.MethodHead
	bodyOK := bodyAllowedForStatus(w.status)
	hasTE := s.te != ""
	is11 := w.req.ProtoAtLeast(1, 1)

	// A handler that returned without declaring a length gets one, even 0,
	// so HTTP/1.0 keep-alive works; not with trailers or a Transfer-Encoding,
	// and not for a HEAD that wrote nothing (it may have skipped the body).
	autoCL := false
	if w.handlerDone.Load() && !s.hasTrailers && !hasTE && bodyOK && !s.hasCL && (!isHEAD || len(p) > 0) {
		w.contentLength = int64(len(p))
		autoCL = true
	}
	if w.wants10KeepAlive && keepAlives && s.cl0 != "" && s.conn0 == "keep-alive" {
		w.closeAfterReply = false
	}
	hasCL := w.contentLength != -1
	setConn := ""
	if w.wants10KeepAlive && (isHEAD || hasCL || !bodyOK) {
		if !s.hasConn {
			setConn = "keep-alive"
		}
	} else if !is11 || w.wantsClose {
		w.closeAfterReply = true
	}
	if s.conn0 == "close" || !keepAlives {
		w.closeAfterReply = true
	}
	b := &w.ex.body
	if b.expect {
		// The client offered a body after 100-continue and we did not read
		// it all: close rather than read or misparse it.
		if !b.mu.TryLock() {
			w.closeAfterReply = true // being read elsewhere: not finished
		} else {
			if !b.sawEOF {
				w.closeAfterReply = true
			}
			b.mu.Unlock()
		}
	}
	delConn := false
	if w.req.ContentLength != 0 && !w.closeAfterReply && !w.fullDuplex {
		// Consume the unread body before answering: clients that send the
		// whole request before reading the response would deadlock
		// (net/http issue 15527).
		if w.discardBody() {
			w.requestTooLarge()
			delConn, setConn = true, "close"
		}
	}

	delCT, delCL := false, false
	setCT := ""
	if bodyOK {
		if !s.hasCT && !s.hasCE && !hasTE && len(p) > 0 {
			setCT = http.DetectContentType(p)
		}
	} else {
		delCT = w.status == http.StatusNotModified // RFC 9110 15.4.5
		delCL = true
	}
	if hasCL && hasTE && s.te != "identity" {
		w.misuse("WriteHeader called with both Transfer-Encoding " + strconv.Quote(s.te) + " and a Content-Length")
		delCL, hasCL = true, false
	}
	switch {
	case isHEAD || !bodyOK:
		// no body
	case hasCL:
	case is11:
		if hasTE && s.te == "identity" {
			// Close-delimited, which SSE servers once asked for.
			w.closeAfterReply = true
		} else {
			w.chunking = true
			delCL = true
		}
	default:
		w.closeAfterReply = true // HTTP/1.0: the body ends at close
	}
	if w.closeAfterReply && (!keepAlives || !hasToken(s.conn0, "close")) &&
		!(w.status == http.StatusSwitchingProtocols && s.upgrade && s.connUpgrade) {
		delConn = true
		if is11 {
			setConn = "close"
		}
	}

	bw := c.bw
	writeStatusLine(bw, is11, w.status)
	hdr := c.hdr
	_, _ = bw.Write(hdr[:s.genEnd])
	if !delCT {
		_, _ = bw.Write(hdr[s.genEnd:s.ctEnd])
	}
	if !delConn {
		_, _ = bw.Write(hdr[s.ctEnd:s.connEnd])
	}
	if !delCL {
		_, _ = bw.Write(hdr[s.connEnd:s.clEnd])
	}
	if !s.hasDate {
		writeDate(bw)
	}
	if autoCL {
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.contentLength, 10))
		_, _ = bw.WriteString("\r\n")
	}
	if setCT != "" {
		_, _ = bw.WriteString("Content-Type: ")
		_, _ = bw.WriteString(setCT)
		_, _ = bw.WriteString("\r\n")
	}
	if setConn != "" {
		_, _ = bw.WriteString("Connection: ")
		_, _ = bw.WriteString(setConn)
		_, _ = bw.WriteString("\r\n")
	}
	if w.chunking {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if cap(c.hdr) > 64<<10 {
		c.hdr = nil // do not keep a huge header buffer for the connection's life
	}
}

// discardBody reads and discards up to maxPostHandlerReadBytes of the
// request body and reports whether more remained (too big to drain).
func (w *response) discardBody() (tooBig bool) {
	b := &w.ex.body
	if b.c == nil {
		return false // no body (the HTTP/2 preface's -1 length)
	}
	if !b.mu.TryLock() {
		// Another goroutine (an upstream transport's writer, say) is
		// blocked reading the body: answer now and close, rather than
		// wait for it as net/http does.
		w.closeAfterReply = true
		return false
	}
	defer b.mu.Unlock()
	switch {
	case b.expect:
		// Reached only after the body's EOF (see sendHeader).
	case b.closed:
		if !b.sawEOF {
			w.closeAfterReply = true // closed by the handler early, with an error
		}
	case !b.chunked && b.n >= maxPostHandlerReadBytes:
		return true
	default:
		_, err := io.CopyN(io.Discard, lockedBody{b}, maxPostHandlerReadBytes+1)
		switch err {
		case nil:
			return true
		case io.EOF:
			_ = b.closeLocked()
		default:
			// A read timeout, or corrupt chunked coding: what remains on
			// the wire must not be read as another request.
			w.closeAfterReply = true
		}
	}
	return false
}

// requestTooLarge marks the connection for closing after this response,
// with a lingering close since request bytes stay unread.
func (w *response) requestTooLarge() {
	w.closeAfterReply = true
	w.bodyTooLarge = true
	if !w.wroteHeader {
		w.handlerHeader.Set("Connection", "close")
	}
}

func (w *response) Write(p []byte) (int, error) { return w.write(len(p), p, "") }

func (w *response) WriteString(s string) (int, error) { return w.write(len(s), nil, s) }

func (w *response) write(n int, p []byte, s string) (int, error) {
	c := w.c
	if c.hijacked.Load() {
		if n > 0 {
			w.misuse("Write on hijacked connection")
		}
		return 0, http.ErrHijacked
	}
	c.unpark()
	if w.canWriteContinue.Load() {
		w.disableWriteContinue()
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if n == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(n)
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if c.werr != nil {
		return 0, c.werr
	}
	if w.headerSent && !w.chunking {
		// Length known or close-delimited: straight into the connection's
		// buffer, which coalesces small writes itself.
		if w.req.Method == http.MethodHead {
			return n, nil
		}
		var err error
		if p != nil {
			_, err = c.bw.Write(p)
		} else {
			_, err = c.bw.WriteString(s)
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	if len(c.pend)+n <= pendSize {
		if p != nil {
			c.pend = append(c.pend, p...)
		} else {
			c.pend = append(c.pend, s...)
		}
		return n, nil
	}
	// The held-back body overflows: commit the header (chunked, unless a
	// length was declared) and send what is held back.
	if !w.headerSent {
		w.sendHeader(sniffPrefix(c.pend, p, s))
	}
	if len(c.pend) > 0 {
		w.writeBody(c.pend, "")
		c.pend = c.pend[:0]
	}
	if w.chunking && n < pendSize {
		if p != nil {
			c.pend = append(c.pend, p...)
		} else {
			c.pend = append(c.pend, s...)
		}
	} else {
		w.writeBody(p, s)
	}
	if c.werr != nil {
		return 0, c.werr
	}
	return n, nil
}

// sniffPrefix returns up to 512 bytes (what http.DetectContentType reads)
// of the held-back body followed by the write that overflowed it. The
// extra bytes go into pend's spare capacity without extending it.
func sniffPrefix(pend, p []byte, s string) []byte {
	const sniffLen = 512
	if len(pend) >= sniffLen {
		return pend
	}
	if len(pend) == 0 && p != nil {
		return p
	}
	k := sniffLen - len(pend)
	if p != nil {
		return append(pend, p[:min(len(p), k)]...)
	}
	return append(pend, s[:min(len(s), k)]...)
}

// writeBody writes body bytes after the header, as one chunk when chunking.
func (w *response) writeBody(p []byte, s string) {
	n := len(p) + len(s)
	if n == 0 || w.req.Method == http.MethodHead {
		return
	}
	bw := w.c.bw
	if w.chunking {
		_, _ = bw.Write(strconv.AppendUint(bw.AvailableBuffer(), uint64(n), 16))
		_, _ = bw.WriteString("\r\n")
	}
	if p != nil {
		_, _ = bw.Write(p)
	} else {
		_, _ = bw.WriteString(s)
	}
	if w.chunking {
		_, _ = bw.WriteString("\r\n")
	}
}

// ReadFrom copies src into the response with a pooled buffer (io.Copy
// would allocate 32 KiB per call otherwise).
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	bp := copyBufPool.Get().(*[32 << 10]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(writerOnly{w}, src, bp[:])
}

var copyBufPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// writerOnly hides response's ReadFrom from io.CopyBuffer.
type writerOnly struct{ io.Writer }

// Flush sends the header and everything written so far.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush returning the write error; http.ResponseController
// uses it.
func (w *response) FlushError() error {
	if w.c.hijacked.Load() {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.c.unpark()
	w.flushPend()
	if err := w.c.bw.Flush(); err != nil {
		return err
	}
	w.c.park() // until the next write: a stream may idle now
	return w.c.werr
}

func (w *response) flushPend() {
	c := w.c
	if !w.headerSent {
		w.sendHeader(c.pend)
	}
	if len(c.pend) > 0 {
		w.writeBody(c.pend, "")
		c.pend = c.pend[:0]
	}
}

// finish completes the response after the handler returned (net/http's
// finishRequest): header, held-back body, last chunk and trailers, a
// flush, then the request body is taken back and drained. It reports
// whether the request body ended cleanly.
func (w *response) finish() bool {
	w.handlerDone.Store(true)
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.c.unpark()
	w.flushPend()
	c := w.c
	bw := c.bw
	if w.chunking {
		_, _ = bw.WriteString("0\r\n")
		if t := w.finalTrailers(); t != nil {
			_ = t.Write(bw)
		}
		_, _ = bw.WriteString("\r\n")
	}
	_ = bw.Flush()
	return w.ex.body.done(true)
}

// finalTrailers collects the trailers: TrailerPrefix keys and the declared
// ones, from the header map as the handler left it.
func (w *response) finalTrailers() http.Header {
	var t http.Header
	for k, vv := range w.handlerHeader {
		if kk, found := strings.CutPrefix(k, http.TrailerPrefix); found {
			if t == nil {
				t = make(http.Header)
			}
			t[kk] = vv
		}
	}
	for _, k := range w.trailers {
		if t == nil {
			t = make(http.Header)
		}
		for _, v := range w.handlerHeader[k] {
			t.Add(k, v)
		}
	}
	return t
}

// shouldReuse is net/http's shouldReuseConnection.
func (w *response) shouldReuse() bool {
	if w.closeAfterReply {
		return false
	}
	if w.req.Method != http.MethodHead && w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false // wrote less than declared: the client is out of step
	}
	return w.c.werr == nil
}

// writeContinue sends 100 Continue, once, unless the handler has started
// its response.
func (w *response) writeContinue() {
	if !w.canWriteContinue.Load() {
		return
	}
	w.writeContinueMu.Lock()
	if w.canWriteContinue.Load() {
		_, _ = w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		_ = w.c.bw.Flush()
		w.canWriteContinue.Store(false)
	}
	w.writeContinueMu.Unlock()
}

func (w *response) disableWriteContinue() {
	w.writeContinueMu.Lock()
	w.canWriteContinue.Store(false)
	w.writeContinueMu.Unlock()
}

// SetReadDeadline sets the connection's read deadline (for
// http.ResponseController). A deadline that passes while the request body
// is consumed cancels the request context, as with net/http.
func (w *response) SetReadDeadline(t time.Time) error {
	c := w.c
	c.bgMu.Lock() // against armLate clearing the deadline
	defer c.bgMu.Unlock()
	c.rdHandler = true
	c.rd.Store(rdOther)
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets the connection's write deadline (for
// http.ResponseController). It is cleared after the response, as net/http
// does.
func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.wd.Store(wdHandler)
	return w.c.nc.SetWriteDeadline(t)
}

// EnableFullDuplex lets the handler read the request body after it
// starts writing the response (for http.ResponseController).
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

// Hijack hands the connection to the handler (http.Hijacker). The returned
// reader holds any bytes the client already sent past the request head;
// the server forgets the connection, and the request context is canceled
// when the handler returns.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if w.handlerDone.Load() {
		return nil, nil, errors.New("h1server: Hijack called after the handler returned")
	}
	if c.hijacked.Load() {
		return nil, nil, http.ErrHijacked
	}
	w.disableWriteContinue()
	c.unpark()
	if w.wroteHeader {
		w.flushPend()
	}
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	c.settleBG()
	c.abortBG()
	c.hijacked.Store(true)
	_ = c.nc.SetDeadline(time.Time{})
	c.rd.Store(0)
	c.wd.Store(0)
	rest := append([]byte(nil), c.rbuf[c.r:c.w]...)
	c.r, c.w = 0, 0
	br := bufio.NewReaderSize(&prefixReader{prefix: rest, r: c.nc}, max(readBufSize, len(rest)))
	if len(rest) > 0 {
		_, _ = br.Peek(len(rest)) // buffer them now, so br.Buffered reports them
	}
	bw := c.bw
	bw.Reset(c.nc)
	c.srv.trackConn(c, false)
	return c.nc, bufio.NewReadWriter(br, bw), nil
}

// prefixReader reads prefix, then r.
type prefixReader struct {
	prefix []byte
	r      io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// misuse logs a handler bug at debug level, with the caller.
func (w *response) misuse(what string) {
	srv := w.c.srv
	if srv.ErrorLog == nil {
		return
	}
	caller := "unknown"
	if _, file, line, ok := runtime.Caller(2); ok {
		caller = fmt.Sprintf("%s:%d", file, line)
	}
	srv.logf(slog.LevelDebug, what, "caller", caller)
}

// Status lines for codes with a standard text, by HTTP/1.0 or 1.1.
var statusLines = func() (t [2][600]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[0][code] = "HTTP/1.0 " + strconv.Itoa(code) + " " + text + "\r\n"
			t[1][code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return t
}()

func writeStatusLine(bw *bufio.Writer, is11 bool, code int) {
	v := 0
	if is11 {
		v = 1
	}
	if code < 600 && statusLines[v][code] != "" {
		_, _ = bw.WriteString(statusLines[v][code])
		return
	}
	proto := "HTTP/1.0 "
	if is11 {
		proto = "HTTP/1.1 "
	}
	_, _ = fmt.Fprintf(bw, "%s%03d status code %d\r\n", proto, code, code)
}

// dateEntry is the Date header value for one second; it is formatted once
// per second, not once per response.
type dateEntry struct {
	sec int64
	b   [len(http.TimeFormat)]byte
}

var dateCache atomic.Pointer[dateEntry]

func writeDate(bw *bufio.Writer) {
	now := time.Now()
	e := dateCache.Load()
	if sec := now.Unix(); e == nil || e.sec != sec {
		e = &dateEntry{sec: sec}
		now.UTC().AppendFormat(e.b[:0], http.TimeFormat)
		dateCache.Store(e)
	}
	_, _ = bw.WriteString("Date: ")
	_, _ = bw.Write(e.b[:])
	_, _ = bw.WriteString("\r\n")
}

// Interface guards: what handlers and http.ResponseController look for.
var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
	_ io.StringWriter     = (*response)(nil)
	_ io.ReaderFrom       = (*response)(nil)
	_ interface {
		FlushError() error
		SetReadDeadline(time.Time) error
		SetWriteDeadline(time.Time) error
		EnableFullDuplex() error
	} = (*response)(nil)
)
