// Package h1 is a plain-HTTP/1.1 client transport for upstream requests.
//
// It exists because net/http.Transport hands every request to a connection's
// writeLoop goroutine and gets the response back from its readLoop goroutine
// over channels; under keep-alive load with small responses that scheduler
// work (select, park, futex) is a large share of the proxy's CPU. Transport
// writes the request and reads the response on the calling goroutine, keeps a
// read buffer with each pooled connection and allocates little per request.
//
// It carries http:// requests only: no TLS, no HTTP/2, no protocol upgrades,
// no Expect: 100-continue and no request trailers. Callers check Supports and
// fall back to net/http's Transport for everything else.
package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/sluicegw/sluice/internal/httpwire"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for the zero fields of Transport.
const (
	DefaultDialTimeout    = 2 * time.Second
	DefaultIdleTimeout    = 90 * time.Second
	DefaultMaxIdlePerHost = 256
)

const (
	// MaxHeaderBytes bounds a response's status line plus header block, and
	// separately a chunked body's trailer block (net/http's
	// MaxResponseHeaderBytes default, which sluice also sets).
	MaxHeaderBytes = 1 << 20
	// maxHeaderCount bounds the number of header fields of one block.
	maxHeaderCount = 1000
	// max1xx bounds the informational responses skipped before the final one.
	max1xx = 10

	readBufferSize  = 4 << 10
	writeBufferSize = 16 << 10
	// drainLimit is how much of an unread body Close discards, from what is
	// already buffered, to keep the connection.
	drainLimit = 4 << 10
	// probeIdleAfter: a pooled connection idle at least this long is checked
	// with a non-blocking peek before reuse, so a connection the upstream
	// closed (idle timeout, restart) is dropped instead of failing a request
	// whose body cannot be resent. Busy connections skip the syscall.
	probeIdleAfter = 50 * time.Millisecond
	// writeErrReadTimeout bounds the attempt to read a response the upstream
	// may have sent before it stopped reading the request body (413 and the like).
	writeErrReadTimeout = 500 * time.Millisecond
)

// Transport is an http.RoundTripper for plain-HTTP/1.1 upstreams (http://
// targets; not TLS, not h2c). The request is written and the response headers
// are read on the goroutine that calls RoundTrip; the response body is read by
// whoever reads resp.Body. Connections are kept per host:port in a LIFO pool
// and carry one request at a time (no pipelining).
//
// Because the request is written before the response is read, an upstream
// that answers before it has read the whole request body (413, say) is heard
// only once it stops reading and closes the connection; and a full-duplex
// exchange, the upstream streaming its response while the request body is
// still being sent, is not supported.
//
// The zero value is ready to use. A Transport is safe for concurrent use; its
// fields must not be changed after the first RoundTrip.
type Transport struct {
	// DialTimeout bounds connecting (default 2s).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait from the request being fully
	// written to the response headers being read. 0 means no limit. When it
	// fires, RoundTrip's error is a net.Error whose Timeout is true.
	ResponseHeaderTimeout time.Duration
	// IdleTimeout closes pooled connections idle longer than this (default 90s).
	IdleTimeout time.Duration
	// MaxIdlePerHost caps the idle connections kept per host:port (default 256).
	MaxIdlePerHost int
	// Dialer, if not nil, replaces net.Dialer (for tests). It must honour ctx,
	// which carries DialTimeout.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

	// probeAfter overrides probeIdleAfter in tests; negative disables the probe.
	probeAfter time.Duration

	mu       sync.Mutex
	idle     map[string]*hostPool
	sweeping bool // a sweeper goroutine is running
}

type hostPool struct {
	conns []*conn // LIFO: the most recently used is last
}

var bufWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}

// readers holds the read buffers of connections whose body waits (Wait).
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

func newReader(nc net.Conn) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(nc)
	return br
}

// Supports reports whether RoundTrip can carry req; the caller falls back to
// net/http's Transport otherwise. It is false for: a URL scheme other than
// "http", CONNECT, upgrade requests (a Connection: upgrade token or an Upgrade
// header), Expect: 100-continue, request trailers, and a TransferEncoding other
// than none or ["chunked"].
func Supports(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "http" || req.Method == http.MethodConnect {
		return false
	}
	h := req.Header
	if hasToken(h["Connection"], "upgrade") || len(h["Upgrade"]) > 0 {
		return false
	}
	for _, v := range h["Expect"] {
		if httpwire.EqualFoldASCII(httpwire.TrimOWS(v), "100-continue") {
			return false
		}
	}
	if len(req.Trailer) > 0 {
		return false
	}
	if te := req.TransferEncoding; len(te) > 0 && (len(te) != 1 || te[0] != "chunked") {
		return false
	}
	return true
}

// RoundTrip sends req and reads the response headers. It follows the
// http.RoundTripper contract: req.Body is always closed, also on error, and a
// non-nil error means a nil response. A request that failed on a reused
// connection before its body was read (the upstream had closed it) is retried
// once on a new connection. Errors from dialing are the dialer's *net.OpError;
// after req's context is done, the error is the context's error.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err != nil {
		closeBody(req)
	}
	return resp, err
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	if !Supports(req) {
		return nil, fmt.Errorf("h1: unsupported request %s %s", req.Method, safeURL(req))
	}
	if req.URL.Host == "" {
		return nil, errors.New("h1: no Host in request URL")
	}
	if err := validateRequest(req); err != nil {
		return nil, err
	}
	// The pool key is the URL's host as given; ":80" is added only to dial.
	addr := req.URL.Host
	ctx := req.Context()
	ex := exchange{req: req}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var c *conn
		var err error
		if attempt == 0 {
			c, err = t.getConn(ctx, addr)
		} else {
			c, err = t.dial(ctx, addr) // the retry: a fresh connection, not another idle one
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		resp, err := t.send(ctx, c, &ex)
		if err == nil {
			if !ex.bodyDone {
				closeBody(req)
			}
			return resp, nil
		}
		var se staleError
		if errors.As(err, &se) {
			if attempt == 0 && ex.bodyRead == 0 && ctx.Err() == nil {
				continue
			}
			err = se.err
		}
		return nil, err
	}
}

// afterFuncer is the method a context may have to run a function when it
// is canceled (the context package's interface of the same name). Sluice's
// request contexts have it.
type afterFuncer interface {
	AfterFunc(func()) (stop func() bool)
}

// exchange is the per-request state that survives a retry.
type exchange struct {
	req      *http.Request
	bodyRead int64 // bytes read from req.Body
	bodyDone bool  // req.Body closed
}

// staleError marks a failure on a reused connection before any response byte
// arrived, which is what a connection the upstream closed while idle looks like.
type staleError struct{ err error }

func (e staleError) Error() string { return e.err.Error() }
func (e staleError) Unwrap() error { return e.err }

// send does one attempt on c. It owns c: on success c belongs to the
// response body (or is back in the pool); on error c is closed.
func (t *Transport) send(ctx context.Context, c *conn, ex *exchange) (*http.Response, error) {
	req := ex.req
	var stop func() bool
	if af, ok := ctx.(afterFuncer); ok {
		// The context's own registration: context.AfterFunc would also
		// allocate a context and make the parent's Done channel, per request.
		stop = af.AfterFunc(c.abort)
	} else if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.abort)
	}
	fail := func(err error) (*http.Response, error) {
		if stop != nil {
			stop()
		}
		c.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}

	bw := bufWriters.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	werr := writeRequest(bw, req, ex)
	bw.Reset(nil)
	bufWriters.Put(bw)
	if werr != nil {
		var be bodyReadError
		switch {
		case errors.As(werr, &be):
			return fail(be.err)
		case c.reused && ex.bodyRead == 0 && isConnReset(werr):
			return fail(staleError{werr})
		case ctx.Err() == nil:
			// The upstream may have answered and stopped reading (413):
			// prefer its response to the write error, as net/http does.
			_ = c.nc.SetReadDeadline(time.Now().Add(writeErrReadTimeout))
			resp, err := c.readResponse(req)
			_ = c.nc.SetReadDeadline(time.Time{})
			if err == nil {
				resp.Close = true
				return t.finish(ctx, c, resp, stop, false)
			}
		}
		return fail(werr)
	}
	if !ex.bodyDone {
		ex.bodyDone = true
		closeBody(req)
	}

	if t.ResponseHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(t.ResponseHeaderTimeout))
	}
	resp, err := c.readResponse(req)
	if t.ResponseHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		if ctx.Err() == nil && t.ResponseHeaderTimeout > 0 && isTimeout(err) {
			err = errResponseHeaderTimeout
		} else if c.reused && isNoResponse(err) {
			err = staleError{err}
		}
		return fail(err)
	}
	if ctx.Err() != nil {
		// The deadline cleared above may have been the cancellation's.
		return fail(ctx.Err())
	}
	return t.finish(ctx, c, resp, stop, !req.Close)
}

// finish attaches c to resp's body, or releases c at once when there is none.
func (t *Transport) finish(ctx context.Context, c *conn, resp *http.Response, stop func() bool, reuse bool) (*http.Response, error) {
	b := resp.Body.(*body)
	if b.mode == modeNone {
		resp.Body = http.NoBody
		if stop != nil && !stop() {
			reuse = false
		}
		if reuse && !resp.Close {
			t.putIdle(c)
		} else {
			c.close()
		}
		return resp, nil
	}
	b.t, b.c, b.ctx, b.stop = t, c, ctx, stop
	b.reuse = reuse && !resp.Close && b.mode != modeUntilEOF
	return resp, nil
}

// getConn returns an idle connection to addr or dials a new one.
func (t *Transport) getConn(ctx context.Context, addr string) (*conn, error) {
	if c := t.getIdle(addr); c != nil {
		return c, nil
	}
	return t.dial(ctx, addr)
}

func (t *Transport) dial(ctx context.Context, addr string) (*conn, error) {
	timeout := t.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	var nc net.Conn
	var err error
	if t.Dialer != nil {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		nc, err = t.Dialer(dctx, "tcp", canonicalAddr(addr))
		cancel()
	} else {
		d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		nc, err = d.DialContext(ctx, "tcp", canonicalAddr(addr))
	}
	if err != nil {
		return nil, err
	}
	return newConn(nc, addr), nil
}

func (t *Transport) getIdle(addr string) *conn {
	idleTimeout := t.idleTimeout()
	probeAfter := t.probeAfter
	if probeAfter == 0 {
		probeAfter = probeIdleAfter
	}
	now := time.Now()
	for {
		t.mu.Lock()
		hp := t.idle[addr]
		if hp == nil || len(hp.conns) == 0 {
			t.mu.Unlock()
			return nil
		}
		n := len(hp.conns) - 1
		c := hp.conns[n]
		hp.conns[n] = nil
		hp.conns = hp.conns[:n]
		t.mu.Unlock()

		idleFor := now.Sub(c.idleAt)
		if idleFor > idleTimeout || (probeAfter > 0 && idleFor >= probeAfter && !c.alive()) {
			c.close()
			continue
		}
		c.reused = true
		return c
	}
}

func (t *Transport) putIdle(c *conn) {
	if c.br.Buffered() > 0 {
		// Bytes after the response: the upstream is out of step with us.
		c.close()
		return
	}
	maxIdle := t.MaxIdlePerHost
	if maxIdle <= 0 {
		maxIdle = DefaultMaxIdlePerHost
	}
	c.idleAt = time.Now()
	t.mu.Lock()
	if t.idle == nil {
		t.idle = make(map[string]*hostPool)
	}
	hp := t.idle[c.addr]
	if hp == nil {
		hp = &hostPool{}
		t.idle[c.addr] = hp
	}
	if len(hp.conns) >= maxIdle {
		t.mu.Unlock()
		c.close()
		return
	}
	hp.conns = append(hp.conns, c)
	startSweep := !t.sweeping
	t.sweeping = true
	t.mu.Unlock()
	if startSweep {
		go t.sweep()
	}
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return DefaultIdleTimeout
}

// sweep closes connections idle longer than IdleTimeout. It runs while the
// pool holds connections and exits when the pool is empty, so an unused
// Transport holds no goroutine.
func (t *Transport) sweep() {
	idleTimeout := t.idleTimeout()
	every := max(idleTimeout/4, 10*time.Millisecond)
	timer := time.NewTimer(every)
	defer timer.Stop()
	var expired []*conn
	for range timer.C {
		now := time.Now()
		t.mu.Lock()
		total := 0
		for addr, hp := range t.idle {
			// Oldest first: the LIFO keeps them at the front.
			i := 0
			for i < len(hp.conns) && now.Sub(hp.conns[i].idleAt) > idleTimeout {
				expired = append(expired, hp.conns[i])
				i++
			}
			if i > 0 {
				n := copy(hp.conns, hp.conns[i:])
				clear(hp.conns[n:])
				hp.conns = hp.conns[:n]
			}
			if len(hp.conns) == 0 {
				delete(t.idle, addr)
			}
			total += len(hp.conns)
		}
		if total == 0 {
			t.sweeping = false
		}
		t.mu.Unlock()
		for i, c := range expired {
			c.close()
			expired[i] = nil
		}
		expired = expired[:0]
		if total == 0 {
			return
		}
		timer.Reset(every)
	}
}

// CloseIdleConnections closes the pooled connections. Connections carrying a
// request are not affected and may be pooled again afterwards.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, hp := range idle {
		for _, c := range hp.conns {
			c.close()
		}
	}
}

// conn is one upstream connection and the read buffer that stays with it.
type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	addr   string
	idleAt time.Time
	reused bool
	raw    syscall.RawConn // nil when nc is not a socket (tests)
	hdr    []byte          // scratch for a header block, reused
	abort  func()          // for context.AfterFunc; built once per connection
}

// aLongTimeAgo is a deadline in the past: setting it makes blocked and future
// I/O on the connection fail at once (net/http uses the same trick).
var aLongTimeAgo = time.Unix(1, 0)

func newConn(nc net.Conn, addr string) *conn {
	c := &conn{nc: nc, br: newReader(nc), addr: addr}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.abort = func() { _ = nc.SetDeadline(aLongTimeAgo) }
	return c
}

func (c *conn) close() { _ = c.nc.Close() }

// timeoutError is a net.Error with Timeout true.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

var errResponseHeaderTimeout error = &timeoutError{"h1: timeout awaiting response headers"}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConnReset reports errors that mean the peer had closed the connection.
func isConnReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

func isNoResponse(err error) bool {
	var ne noResponseError
	return errors.As(err, &ne) && isConnReset(ne.err)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// canonicalAddr returns host with ":80" added when it has no port.
func canonicalAddr(host string) string {
	i := strings.LastIndexByte(host, ':')
	if i >= 0 && i > strings.LastIndexByte(host, ']') {
		return host
	}
	return host + ":80"
}

func safeURL(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	return req.URL.Redacted()
}

var _ http.RoundTripper = (*Transport)(nil)
