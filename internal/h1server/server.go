// Package h1server is an HTTP/1.1 server for plain (non-TLS) listeners that
// serves a standard http.Handler at a lower cost per request than
// net/http.Server.
//
// It exists because, under keep-alive load with small responses, the
// net/http server side was about 30% of sluice's CPU per request: a
// textproto header parse with a string per value, two context.WithCancel,
// a goroutine started per request for the background read that notices a
// client going away, a header map clone and sort per response, and several
// read-deadline updates. This server reads each request head into one
// string that header values and the URL are sliced from, arms the
// background read only for handlers still running after a few
// milliseconds (bgDelay), on one long-lived goroutine per connection whose
// pending read also becomes the read of the next request, and puts the
// per-request state (context, response writer, body, URL) in one
// allocation.
//
// The wire behaviour follows net/http.Server: the same framing rules, error
// statuses and texts, keep-alive and Connection handling, 100-continue,
// trailers, the 256 KiB drain of an unread body, Content-Type sniffing and
// Content-Length for small bodies, Hijack, ResponseController deadlines and
// graceful Shutdown. TestDifferential sends the same bytes to both servers
// and compares; FuzzReadRequest compares the request parse with
// http.ReadRequest. The deliberate differences:
//
//   - Refused with 400 where net/http accepts, because two parsers can
//     frame these differently (request smuggling): obs-fold (net/http
//     unfolds), Transfer-Encoding with Content-Length (net/http drops the
//     length), and Transfer-Encoding in HTTP/1.0 (net/http ignores it).
//   - Chunked bodies: control bytes in a chunk extension, and a trailer
//     section with bare-LF lines or a field name holding a space, fail the
//     body read (net/http ignores extensions and is lenient in trailers).
//   - A request body cut short by the client gets Connection: close (net/http
//     counts it as read).
//   - No 1xx response to an HTTP/1.0 client (RFC 9110 15.2).
//   - The handler's header is never sent with a second framing: an invalid
//     Content-Length, a Transfer-Encoding other than "chunked" or "identity",
//     and non-canonical content-length or transfer-encoding keys are dropped.
//     Header fields are not sorted.
//   - A handler that returns while another goroutine is blocked reading the
//     body gets its response sent at once, with Connection: close; net/http
//     waits for that read.
//   - Hijack sends body bytes written before it; it returns an error, not a
//     panic, after the handler returned. r.Context() has no
//     http.ServerContextKey value.
//   - MaxHeaderBytes (plus net/http's 4096 slack) bounds the head itself,
//     not the bytes read with it, so heads within a few KiB of the limit can
//     fare differently.
//   - A client that goes away while its handler runs cancels r.Context()
//     once the handler has run for bgDelay (10ms) with the body consumed,
//     not at once; a shorter request notices when its response is written.
//     A connection whose handlers ran that long has a second, small
//     goroutine: the background reader.
//
// Not supported: TLS, HTTP/2 (a "PRI * HTTP/2.0" preface reaches the handler
// as net/http delivers it with h2c off), ReadTimeout and WriteTimeout (use
// http.ResponseController deadlines), ConnState and ConnContext hooks,
// SetKeepAlivesEnabled, http.CloseNotifier, and http.MaxBytesReader's early
// connection close (the 256 KiB drain limit still closes the connection).
//
// bench_test.go measures the cost against net/http (TestCompareCPU).
package h1server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxHeaderBytes is the limit on a request head when
// Server.MaxHeaderBytes is zero (net/http's default).
const DefaultMaxHeaderBytes = http.DefaultMaxHeaderBytes

// Server serves HTTP/1.x on plain listeners. Its fields must not be changed
// after Serve is first called. The zero value serves http.DefaultServeMux
// with no timeouts.
type Server struct {
	// Handler answers requests; nil means http.DefaultServeMux. A request
	// "OPTIONS *" is answered by the server itself, as net/http does.
	Handler http.Handler

	// ReadHeaderTimeout bounds reading a request head, counted from the
	// connection's accept for the first request and from the first byte of
	// each later one. Zero means no limit.
	ReadHeaderTimeout time.Duration

	// IdleTimeout closes a keep-alive connection that sends no next request
	// for this long. Zero means no limit.
	IdleTimeout time.Duration

	// WriteIdleTimeout, if positive, bounds every write to a connection by
	// a progress deadline: a write that makes no progress for this long
	// fails, which ends the connection and cancels the request's context.
	// The deadline is pushed forward before each write (by the server, so
	// no handler needs to), so a response that keeps moving is never cut.
	// A write deadline the handler sets (http.ResponseController) replaces
	// it until the handler's response ends.
	WriteIdleTimeout time.Duration

	// MaxHeaderBytes bounds the request line plus header fields (with
	// net/http's 4096 bytes of slack); a larger head gets 431. Zero means
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	// ErrorLog, if not nil, receives handler panics (Error), accept errors
	// (Warn) and handler misuse such as a superfluous WriteHeader (Debug).
	ErrorLog *slog.Logger

	// BaseContext, if not nil, returns the context every request context on
	// ln derives from: its values are visible through r.Context(), and its
	// cancellation cancels the requests in flight. Nil means
	// context.Background(). It must not return nil.
	BaseContext func(ln net.Listener) context.Context

	// RequestContext, if not nil, is called with each request's context as
	// the server made it and returns the context r.Context() will be,
	// which must derive from it. A handler that adds a value to every
	// request's context saves the copy of the request that
	// Request.WithContext makes.
	RequestContext func(ctx context.Context) context.Context

	inShutdown atomic.Bool

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	lnGroup   sync.WaitGroup
}

// Serve accepts connections on ln and serves each on its own goroutine. It
// always returns a non-nil error and closes ln; after Shutdown or Close the
// error is http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	l := &onceCloseListener{Listener: ln}
	defer l.Close()
	var nl net.Listener = l
	if !s.trackListener(&nl, true) {
		return http.ErrServerClosed
	}
	defer s.trackListener(&nl, false)

	base := context.Background()
	if s.BaseContext != nil {
		base = s.BaseContext(ln)
		if base == nil {
			panic("h1server: BaseContext returned a nil context")
		}
	}
	values := base
	if base != context.Background() {
		// Background has no values and no cancelation to hide; skipping
		// the wrapper also skips an allocation per Value call (the context
		// package boxes its withoutCancelCtx on each lookup).
		values = context.WithoutCancel(base)
	}
	shared := &connShared{srv: s, base: base, values: values}

	var tempDelay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.shuttingDown() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				s.logf(slog.LevelWarn, "accept error; retrying", "error", err, "delay", tempDelay)
				time.Sleep(tempDelay)
				continue
			}
			return fmt.Errorf("h1server: accept on %s: %w", ln.Addr(), err)
		}
		tempDelay = 0
		c := newConn(shared, nc)
		s.trackConn(c, true)
		go c.serve()
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// Shutdown stops the server gracefully: it closes the listeners, then the
// idle connections, and then waits for the active ones to finish their
// response and close (they do not go idle again: their responses say
// Connection: close). If ctx ends first, Shutdown returns ctx's error and
// the remaining connections stay open; call Close to end them. Hijacked
// connections are not tracked. Once shut down, the server cannot be reused.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	lnerr := s.closeListenersLocked()
	s.mu.Unlock()
	s.lnGroup.Wait()

	// Polling, like net/http: a connection going idle does not signal, and
	// shutdown is rare enough that a short backoff costs nothing.
	interval := time.Millisecond
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		if s.closeIdleConns() {
			return lnerr
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			interval = min(2*interval, 500*time.Millisecond)
			timer.Reset(interval + rand.N(interval/10+1))
		}
	}
}

// Close closes the listeners and every tracked connection at once, active
// ones included (their request contexts are canceled). Hijacked connections
// are not affected.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	err := s.closeListenersLocked()
	s.mu.Unlock()
	s.lnGroup.Wait()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.nc.Close()
		delete(s.conns, c)
	}
	s.mu.Unlock()
	return err
}

func (s *Server) shuttingDown() bool { return s.inShutdown.Load() }

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

func (s *Server) handler() http.Handler {
	if s.Handler != nil {
		return s.Handler
	}
	return http.DefaultServeMux
}

func (s *Server) logf(level slog.Level, msg string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Log(context.Background(), level, "h1server: "+msg, args...)
	}
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shuttingDown() {
			return false
		}
		if s.listeners == nil {
			s.listeners = make(map[*net.Listener]struct{})
		}
		s.listeners[ln] = struct{}{}
		s.lnGroup.Add(1)
		return true
	}
	delete(s.listeners, ln)
	s.lnGroup.Done()
	return true
}

func (s *Server) closeListenersLocked() error {
	var err error
	for ln := range s.listeners {
		if cerr := (*ln).Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// trackConn adds or removes c. Serve adds its connections before it returns,
// and Close and Shutdown wait for Serve to return, so none escapes them.
func (s *Server) trackConn(c *conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.conns == nil {
			s.conns = make(map[*conn]struct{})
		}
		s.conns[c] = struct{}{}
		return
	}
	delete(s.conns, c)
}

// closeIdleConns closes the idle connections and reports whether none is
// left. A connection that has sent nothing for 5 seconds since its accept
// counts as idle (net/http's rule against slow starters holding Shutdown).
func (s *Server) closeIdleConns() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	quiescent := true
	now := time.Now().Unix()
	for c := range s.conns {
		st, since := c.getState()
		if st == stateNew && since < now-5 {
			st = stateIdle
		}
		if st != stateIdle {
			quiescent = false
			continue
		}
		_ = c.nc.Close()
		delete(s.conns, c)
	}
	return quiescent
}

// onceCloseListener makes Close idempotent: both Serve and Shutdown close it.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
