package h1server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	readBufSize  = 4 << 10
	writeBufSize = 4 << 10
	// pendSize is how much body a response holds back before it commits to
	// chunking (net/http's bufferBeforeChunkingSize): a handler that writes
	// less and returns gets a Content-Length instead.
	pendSize = 2 << 10
	// maxPostHandlerReadBytes bounds the unread request body the server
	// reads and discards to keep a connection (net/http's value).
	maxPostHandlerReadBytes = 256 << 10
	// lingerTimeout bounds the wait for the client to close after we shut
	// our side down with request bytes unread (net/http's rstAvoidanceDelay).
	lingerTimeout = 500 * time.Millisecond
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked and future
// I/O on the connection fail at once (net/http uses the same trick).
var aLongTimeAgo = time.Unix(1, 0)

type connState uint8

const (
	stateNew connState = iota
	stateActive
	stateIdle
)

// connShared is what every connection of one Serve call shares.
type connShared struct {
	srv    *Server
	base   context.Context
	values context.Context // WithoutCancel(base)
}

// conn is one client connection. Its goroutine reads a request head,
// runs the handler, writes the response and waits for the next request.
//
// The read buffer rbuf[r:w] has one owner at a time: the connection's
// goroutine while it reads heads, whoever reads the request body (under
// body.mu) until the body's EOF, then the background reader until the
// connection's goroutine collects its result.
type conn struct {
	*connShared
	nc         net.Conn
	remoteAddr string
	localAddr  net.Addr
	// raw is nc's socket when nc is a plain TCP or Unix connection, for
	// awaitReadable; nil otherwise (a wrapper may hold bytes of its own).
	raw syscall.RawConn

	rbuf []byte
	r, w int

	bw   *bufio.Writer // writes to connWriter{c}
	werr error         // first write error; the connection is not reused
	pend []byte        // response body held back (see response)
	hdr  []byte        // the response header block, rendered at WriteHeader

	// rd is the read deadline set on nc: 0 for none, rdOther for one the
	// idle wait did not set (a handler's, a header timeout, an abort), or
	// the UnixNano of the idle deadline awaitRequest set last (see
	// setIdleDeadline). Atomic because handlers set deadlines
	// (ResponseController) from whichever goroutine reads the body.
	rd atomic.Int64
	// wd is the write deadline set on nc: 0 for none, wdHandler for the
	// handler's, or the UnixNano of the WriteIdleTimeout deadline set
	// last (see pushWriteDeadline).
	wd         atomic.Int64
	lastMethod string
	hijacked   atomic.Bool

	// The background read: while a handler runs with its request body
	// consumed, one read is kept pending on nc so that the client closing
	// the connection cancels the request's context. The read goes into
	// rbuf[w:], so when the client instead sends its next request the
	// pending read has already received it: no second read, no goroutine
	// per request (net/http starts one per request and aborts its read
	// with a deadline when the handler returns).
	//
	// It is armed only once the handler has run for bgDelay with its body
	// consumed (see scheduleBG): most requests are answered sooner, and
	// for them the hand-off to the reader goroutine and back (two
	// goroutine switches and a read-deadline change) was about a tenth of
	// the CPU of a proxied request. bgMu guards bgPending and bgTimer, and
	// orders an arming by the timer against the connection's goroutine,
	// which settles (settleBG) before it looks at bgArmed again.
	bgMu       sync.Mutex
	bgPending  *reqCtx     // the request whose read is scheduled, not armed yet
	bgTimer    *time.Timer // runs armLate; made on first use
	rdHandler  bool        // under bgMu: the handler set a read deadline since scheduleBG
	bgStarted  bool
	bgArmed    bool // a read was handed to the goroutine and not collected
	bgStart    chan struct{}
	bgDone     chan struct{}
	bgN        int
	bgErr      error
	bgCtx      *reqCtx
	bgAborting atomic.Bool

	curMu    sync.Mutex // guards cur against the base context's AfterFunc
	cur      *exchange  // the request in its handler, if any
	stopBase func() bool

	state atomic.Uint64 // unix seconds << 8 | connState
}

var (
	rbufPool = sync.Pool{New: func() any { return new([readBufSize]byte) }}
	pendPool = sync.Pool{New: func() any { return new([pendSize]byte) }}
	bwPool   sync.Pool
)

func newConn(sh *connShared, nc net.Conn) *conn {
	c := &conn{connShared: sh, nc: nc}
	if ra := nc.RemoteAddr(); ra != nil {
		c.remoteAddr = ra.String()
	}
	c.localAddr = nc.LocalAddr()
	switch sc := nc.(type) {
	case *net.TCPConn:
		c.raw, _ = sc.SyscallConn()
	case *net.UnixConn:
		c.raw, _ = sc.SyscallConn()
	}
	c.setState(stateNew)
	return c
}

// unpark gives the connection its write buffers (see park). Every path
// that writes calls it first.
func (c *conn) unpark() {
	if c.bw == nil {
		if v := bwPool.Get(); v != nil {
			c.bw = v.(*bufio.Writer)
			c.bw.Reset(connWriter{c})
		} else {
			c.bw = bufio.NewWriterSize(connWriter{c}, writeBufSize)
		}
	}
	if c.pend == nil {
		c.pend = pendPool.Get().(*[pendSize]byte)[:0]
	}
}

// park returns the write buffers to their pools while they hold nothing.
// A streamed response (SSE) is flushed after each event and may then idle
// for minutes: without this every idle stream would keep 6 KiB of empty
// buffers for its whole life.
func (c *conn) park() {
	if c.bw != nil && c.bw.Buffered() == 0 {
		c.bw.Reset(nil)
		bwPool.Put(c.bw)
		c.bw = nil
	}
	if len(c.pend) == 0 && cap(c.pend) == pendSize {
		pendPool.Put((*[pendSize]byte)(c.pend[:pendSize]))
		c.pend = nil
	}
}

func (c *conn) setState(st connState) {
	var now uint64
	if st == stateNew {
		now = uint64(time.Now().Unix()) // only the new state's age matters (closeIdleConns)
	}
	c.state.Store(now<<8 | uint64(st))
}

func (c *conn) getState() (connState, int64) {
	v := c.state.Load()
	return connState(v & 0xff), int64(v >> 8)
}

func (c *conn) serve() {
	c.rbuf = rbufPool.Get().(*[readBufSize]byte)[:]
	c.unpark()
	defer c.close()
	defer func() {
		// A bug of this package must not take the process down; net/http's
		// conn.serve recovers too. The connection is closed.
		if v := recover(); v != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf(slog.LevelError, "internal panic serving connection", "remote", c.remoteAddr,
				"panic", fmt.Sprint(v), "stack", string(buf))
		}
	}()
	if c.base.Done() != nil {
		c.stopBase = context.AfterFunc(c.base, c.baseDone)
	}
	if d := c.srv.ReadHeaderTimeout; d > 0 {
		c.setReadDeadline(time.Now().Add(d))
	}
	headDeadline := true // the first head is bounded from the accept
	for {
		ex, err := c.readRequest(headDeadline)
		if ex != nil {
			c.setState(stateActive) // as net/http: once the head is read
		}
		if c.srv.shuttingDown() {
			return
		}
		if err != nil {
			c.replyError(err)
			return
		}
		if !c.serveExchange(ex) {
			return
		}
		c.setState(stateIdle)
		if c.srv.shuttingDown() {
			return
		}
		if !c.awaitRequest() {
			return
		}
		headDeadline = false
	}
}

// baseDone cancels the request in flight when the base context ends.
func (c *conn) baseDone() {
	c.curMu.Lock()
	ex := c.cur
	c.curMu.Unlock()
	if ex != nil {
		ex.ctx.cancel(c.base.Err())
	}
}

func (c *conn) setCur(ex *exchange) {
	if c.stopBase == nil {
		c.cur = ex
		return
	}
	c.curMu.Lock()
	c.cur = ex
	c.curMu.Unlock()
	if ex != nil && c.base.Err() != nil {
		ex.ctx.cancel(c.base.Err())
	}
}

// rdOther is conn.rd for a read deadline other than the idle one.
const rdOther = -1

// wdHandler is conn.wd for a write deadline the handler set.
const wdHandler = -1

// pushWriteDeadline sets the write deadline to d from now before a write
// (WriteIdleTimeout), unless the handler set one of its own, or the one
// set before is less than d/64 earlier: one set per d/64 of writing
// rather than one per write, each being a timer update in the runtime. So
// a write fails after between 63/64 of d and d without progress. Not being
// cleared after a response, it costs nothing on the next one either.
func (c *conn) pushWriteDeadline(d time.Duration) {
	at := c.wd.Load()
	if at == wdHandler {
		return
	}
	t := time.Now().Add(d)
	if at > 0 && t.UnixNano()-at < int64(d>>6) {
		return
	}
	_ = c.nc.SetWriteDeadline(t)
	c.wd.Store(t.UnixNano())
}

func (c *conn) setReadDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	if t.IsZero() {
		c.rd.Store(0)
	} else {
		c.rd.Store(rdOther)
	}
}

func (c *conn) clearReadDeadline() {
	if c.rd.Load() != 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
		c.rd.Store(0)
	}
}

// setIdleDeadline sets the read deadline for the wait for the next request
// to idle from now, unless the idle deadline set for the previous wait is
// still in place and less than idle/64 earlier: under keep-alive load
// that is almost every request, and each change is a timer update in the
// runtime. (A bodiless request leaves it in place; its handler reads
// nothing, and a background read clears it.) So an idle connection is
// closed between 63/64 of IdleTimeout and IdleTimeout after its last
// response.
func (c *conn) setIdleDeadline(idle time.Duration) {
	t := time.Now().Add(idle)
	if at := c.rd.Load(); at > 0 && t.UnixNano()-at < int64(idle>>6) {
		return
	}
	_ = c.nc.SetReadDeadline(t)
	c.rd.Store(t.UnixNano())
}

var errTooLarge = errors.New("h1server: request head too large")

// readHead returns the next request head (the request line and header
// fields, without the final empty line) and consumes it from the buffer.
// headDeadline says ReadHeaderTimeout already bounds this head.
func (c *conn) readHead(headDeadline bool) (string, error) {
	limit := c.srv.maxHeaderBytes() + 4096 // net/http's slack for its bufio.Reader
	skipCRLF := 0
	if c.lastMethod == http.MethodPost {
		skipCRLF = 4 // RFC 9112 2.2 tolerance for clients that add CRLF after a body, as net/http
	}
	scan := c.r
	for {
		for skipCRLF > 0 && scan == c.r && c.r < c.w && (c.rbuf[c.r] == '\r' || c.rbuf[c.r] == '\n') {
			c.r++
			scan++
			skipCRLF--
		}
		for {
			i := bytes.IndexByte(c.rbuf[scan:c.w], '\n')
			if i < 0 {
				break
			}
			end := scan + i + 1
			if scan > c.r && (end-scan == 1 || end-scan == 2 && c.rbuf[scan] == '\r') {
				if end-c.r > limit {
					return "", errTooLarge
				}
				head := string(c.rbuf[c.r:scan])
				c.r = end
				return head, nil
			}
			scan = end
		}
		if c.w-c.r >= limit {
			return "", errTooLarge
		}
		if c.w == len(c.rbuf) {
			if c.r > 0 {
				n := copy(c.rbuf, c.rbuf[c.r:c.w])
				scan -= c.r
				c.r, c.w = 0, n
			} else {
				nb := make([]byte, min(2*len(c.rbuf), limit+1))
				copy(nb, c.rbuf[:c.w])
				c.releaseRbuf()
				c.rbuf = nb
			}
		}
		if !headDeadline {
			// More than one read: the head is now bounded from its first
			// byte, or not at all, as with net/http.
			if d := c.srv.ReadHeaderTimeout; d > 0 {
				c.setReadDeadline(time.Now().Add(d))
			} else {
				c.clearReadDeadline()
			}
			headDeadline = true
		}
		n, err := c.nc.Read(c.rbuf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			if err == io.EOF && c.w > c.r {
				return "", io.ErrUnexpectedEOF // net/http answers a truncated head with 400
			}
			return "", err
		}
	}
}

// releaseRbuf returns a standard-size read buffer to the pool.
func (c *conn) releaseRbuf() {
	if len(c.rbuf) == readBufSize {
		rbufPool.Put((*[readBufSize]byte)(c.rbuf))
	}
	c.rbuf = nil
}

// shrinkRbuf goes back to a standard buffer after a large head, once what
// is left fits.
func (c *conn) shrinkRbuf() {
	if len(c.rbuf) == readBufSize || c.w-c.r > readBufSize {
		return
	}
	nb := rbufPool.Get().(*[readBufSize]byte)[:]
	c.w = copy(nb, c.rbuf[c.r:c.w])
	c.r = 0
	c.rbuf = nb
}

func (c *conn) readRequest(headDeadline bool) (*exchange, error) {
	head, err := c.readHead(headDeadline)
	if err != nil {
		return nil, err
	}
	c.shrinkRbuf()
	ex := &exchange{c: c}
	if err := ex.parse(head); err != nil {
		return nil, err
	}
	c.lastMethod = ex.req.Method
	return ex, nil
}

// awaitRequest waits up to IdleTimeout for the first bytes of the next
// request and reports whether they came.
func (c *conn) awaitRequest() bool {
	idle := c.srv.IdleTimeout
	if c.bgArmed {
		if idle > 0 {
			c.setIdleDeadline(idle) // the pending read picks it up
		}
		if err := c.collectBG(); err != nil && c.w == c.r {
			return false
		}
		return c.w > c.r
	}
	if c.r < c.w {
		return true // pipelined
	}
	c.r, c.w = 0, 0
	if idle > 0 {
		c.setIdleDeadline(idle)
	} else {
		c.clearReadDeadline()
	}
	for {
		n, err := c.nc.Read(c.rbuf)
		c.w = n
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// bgDelay is how long a handler runs, with its request body consumed,
// before the background read starts watching for the client going away.
// A client that leaves sooner is noticed when the response is written, as
// with any short request.
const bgDelay = 10 * time.Millisecond

// scheduleBG arranges for the background read of ctx's request to be
// armed in bgDelay, unless the connection's goroutine settles first. The
// caller owns the read buffer, as for armBG.
func (c *conn) scheduleBG(ctx *reqCtx) {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.bgArmed || c.hijacked.Load() {
		return
	}
	c.bgPending = ctx
	c.rdHandler = false
	if c.bgTimer == nil {
		c.bgTimer = time.AfterFunc(bgDelay, c.armLate)
	} else {
		c.bgTimer.Reset(bgDelay)
	}
}

// armLate arms the scheduled background read (on the timer's goroutine).
func (c *conn) armLate() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	ctx := c.bgPending
	if ctx == nil {
		return // settled first: the handler returned or hijacked
	}
	c.bgPending = nil
	c.armBG(ctx, !c.rdHandler)
}

// settleBG cancels a scheduled background read that is not armed yet.
// After it, and until the next scheduleBG, bgArmed is the connection
// goroutine's to read.
func (c *conn) settleBG() {
	c.bgMu.Lock()
	c.bgPending = nil
	if c.bgTimer != nil {
		c.bgTimer.Stop()
	}
	c.bgMu.Unlock()
}

// armBG hands the read buffer to the background reader, which then reads
// until the client sends more or goes away. The caller owns the buffer
// and holds bgMu. When request bytes are already buffered (pipelining)
// nothing is armed, as with net/http, which cancels no context for a
// pipelined request. clearDeadline is false when the handler set a read
// deadline of its own since the read was scheduled: that one stays.
func (c *conn) armBG(ctx *reqCtx, clearDeadline bool) {
	if c.bgArmed || c.hijacked.Load() || c.r < c.w {
		return
	}
	c.r, c.w = 0, 0
	if clearDeadline {
		c.clearReadDeadline() // an idle or header deadline must not cut a long handler
	}
	c.bgCtx = ctx
	c.bgArmed = true
	if !c.bgStarted {
		c.bgStarted = true
		c.bgStart = make(chan struct{}, 1)
		c.bgDone = make(chan struct{}, 1)
		go c.backgroundRead()
	}
	c.bgStart <- struct{}{}
}

func (c *conn) backgroundRead() {
	for range c.bgStart {
		c.awaitReadable()
		n, err := c.nc.Read(c.rbuf[c.w:])
		if err != nil && !c.bgAborting.Load() {
			// EOF, reset, a deadline the handler set, or Close: the
			// client is gone or the connection is done (net/http cancels
			// on any error too).
			c.bgCtx.cancel(context.Canceled)
		}
		c.bgN, c.bgErr = n, err
		c.bgDone <- struct{}{}
	}
}

// collectBG waits for the pending background read and takes the buffer
// back with what it read.
func (c *conn) collectBG() error {
	<-c.bgDone
	c.bgArmed = false
	c.bgCtx = nil
	c.w += c.bgN
	err := c.bgErr
	c.bgN, c.bgErr = 0, nil
	return err
}

// abortBG ends a pending background read early, keeping anything it read.
func (c *conn) abortBG() {
	if !c.bgArmed {
		return
	}
	c.bgAborting.Store(true)
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	_ = c.collectBG()
	c.bgAborting.Store(false)
	_ = c.nc.SetReadDeadline(time.Time{})
	c.rd.Store(0)
}

// serveExchange runs the handler for ex and finishes its response. It
// reports whether the connection may carry another request.
func (c *conn) serveExchange(ex *exchange) bool {
	req := ex.req
	w := &ex.resp
	if expect := first(req.Header["Expect"]); hasToken(expect, "100-continue") {
		if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 && req.Body == &ex.body {
			ex.body.expect = true
			w.canWriteContinue.Store(true)
		}
	} else if expect != "" {
		// RFC 9110 10.1.1: an expectation we cannot meet.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusExpectationFailed)
		w.finish()
		return false
	}

	c.setCur(ex)
	if req.Body == http.NoBody {
		c.scheduleBG(&ex.ctx)
	} else {
		// The idle or header deadline must not bound the body (net/http
		// sets its ReadTimeout here, which sluice leaves at zero).
		c.clearReadDeadline()
	}
	h := c.srv.handler()
	if req.RequestURI == "*" && req.Method == http.MethodOptions {
		h = globalOptionsHandler{}
	}
	panicked := c.callHandler(h, w, req)
	ex.ctx.cancel(context.Canceled)
	c.setCur(nil)
	if c.hijacked.Load() {
		return false
	}
	if panicked {
		// Close without finishing the response; take the body back first
		// so no reader is left in the buffer when it is recycled.
		w.disableWriteContinue()
		c.unpark()
		_ = c.bw.Flush() // what the handler wrote, truncated, as net/http does
		_ = c.nc.Close()
		ex.body.done(false)
		return false
	}
	bodyOK := w.finish() // ends the body: no background read is scheduled after this
	c.settleBG()
	if c.wd.Load() == wdHandler {
		// A write deadline the handler set must not outlive its response
		// (a later 100 Continue or error reply would fail), as net/http.
		_ = c.nc.SetWriteDeadline(time.Time{})
		c.wd.Store(0)
	}
	reuse := bodyOK && w.shouldReuse()
	if !reuse && (w.bodyTooLarge || ex.body.earlyClose) {
		c.closeWriteAndWait()
	}
	return reuse
}

// callHandler runs h and reports whether it panicked. A panic other than
// http.ErrAbortHandler is logged; either way the connection is closed, so
// the client sees a truncated response rather than a complete wrong one.
func (c *conn) callHandler(h http.Handler, w *response, r *http.Request) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logf(slog.LevelError, "panic serving request", "remote", c.remoteAddr,
					"method", r.Method, "uri", r.RequestURI, "panic", fmt.Sprint(v), "stack", string(buf))
			}
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

// close ends the connection unless a handler hijacked it.
func (c *conn) close() {
	c.settleBG()
	if !c.hijacked.Load() {
		c.unpark()
		_ = c.bw.Flush() // what a panicking handler wrote before its panic (net/http's finalFlush)
		_ = c.nc.Close()
		if c.bgArmed {
			_ = c.collectBG()
		}
		c.srv.trackConn(c, false)
		c.bw.Reset(nil)
		bwPool.Put(c.bw)
	}
	c.bw = nil
	if c.bgStarted {
		close(c.bgStart)
	}
	if c.stopBase != nil {
		c.stopBase()
	}
	c.releaseRbuf()
	if cap(c.pend) == pendSize {
		pendPool.Put((*[pendSize]byte)(c.pend[:pendSize]))
	}
	c.pend = nil
	c.hdr = nil
}

// closeWriteAndWait flushes, shuts down our sending side and reads until
// the client closes or lingerTimeout passes: closing with request bytes
// unread would make the kernel send RST, which can destroy the response
// before the client reads it (net/http sleeps for the same reason).
func (c *conn) closeWriteAndWait() {
	c.unpark()
	_ = c.bw.Flush()
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	c.rd.Store(rdOther)
	if c.bgArmed {
		if c.collectBG() != nil {
			return
		}
	}
	for {
		if _, err := c.nc.Read(c.rbuf); err != nil {
			return
		}
	}
}

// statusError is a request error answered with its status and text, as
// net/http's statusError.
type statusError struct {
	code int
	text string
}

func (e statusError) Error() string { return http.StatusText(e.code) + ": " + e.text }

// unsupportedTEError is answered with 501 (RFC 9112 6.1).
type unsupportedTEError struct{ msg string }

func (e *unsupportedTEError) Error() string { return e.msg }

// replyError answers a request that could not be read, with net/http's
// exact status lines and texts, and then the connection closes.
func (c *conn) replyError(err error) {
	const errorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	var se statusError
	var te *unsupportedTEError
	var msg string
	switch {
	case errors.Is(err, errTooLarge):
		const publicErr = "431 Request Header Fields Too Large"
		_, _ = io.WriteString(connWriter{c}, "HTTP/1.1 "+publicErr+errorHeaders+publicErr)
		c.closeWriteAndWait()
		return
	case errors.As(err, &te):
		msg = "HTTP/1.1 501 Not Implemented" + errorHeaders + "Unsupported transfer encoding"
	case isCommonNetReadError(err):
		return
	case errors.As(err, &se):
		text := fmt.Sprintf("%d %s: %s", se.code, http.StatusText(se.code), se.text)
		msg = "HTTP/1.1 " + text + errorHeaders + text
	default:
		const publicErr = "400 Bad Request"
		msg = "HTTP/1.1 " + publicErr + errorHeaders + publicErr
	}
	// Through connWriter: it renews the WriteIdleTimeout deadline, which a
	// long idle wait may have left in the past.
	_, _ = io.WriteString(connWriter{c}, msg)
}

// isCommonNetReadError reports the read errors of a client that went away
// or timed out, which get no reply (net/http's rule).
func isCommonNetReadError(err error) bool {
	if err == io.EOF {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// connWriter writes to the connection and remembers the first error; a
// failed write also cancels the request's context, as with net/http.
type connWriter struct{ c *conn }

func (w connWriter) Write(p []byte) (int, error) {
	if d := w.c.srv.WriteIdleTimeout; d > 0 {
		w.c.pushWriteDeadline(d)
	}
	n, err := w.c.nc.Write(p)
	if err != nil && w.c.werr == nil {
		w.c.werr = err
		if ex := w.c.cur; ex != nil {
			ex.ctx.cancel(context.Canceled)
		}
	}
	return n, err
}

// globalOptionsHandler answers "OPTIONS *" as net/http does: an empty 200,
// reading at most 4 KiB of body and closing the connection if there is more.
type globalOptionsHandler struct{}

func (globalOptionsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		const limit = 4 << 10
		n, _ := io.CopyN(io.Discard, r.Body, limit+1)
		if rw, ok := w.(*response); ok && n > limit {
			rw.requestTooLarge()
		}
	}
}
