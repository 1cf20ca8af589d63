// Package proxy is the terminal handler of an HTTP route: it forwards the
// request to a target picked from an upstream pool, retries where that is
// safe, and streams the response back.
//
// It is a purpose-built forwarding loop rather than httputil.ReverseProxy
// because each attempt must pick its own target, retries must see statuses
// before anything reaches the client, and errors must return to the gateway
// (which renders them once) instead of being written here. The semantics are
// ReverseProxy's: hop-by-hop headers removed (RFC 9110 7.6.1), trailers
// passed, protocol upgrades tunnelled, and text/event-stream or
// unknown-length bodies flushed after every write.
package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicegw/sluice/internal/httperr"
	"github.com/sluicegw/sluice/internal/tracing"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// Options configure a Proxy. The zero value is usable.
type Options struct {
	// PassHost: "pass" sends the client's Host (default), "node" the
	// target's host:port, "rewrite" UpstreamHost.
	PassHost     string
	UpstreamHost string
	// Tracer, if not nil, records a client span per attempt and propagates
	// W3C trace context upstream.
	Tracer *tracing.Tracer
}

// Proxy forwards requests to one upstream pool. It is safe for concurrent use.
type Proxy struct {
	pool *upstream.Pool
	opts Options
}

// New returns a proxy over pool.
func New(pool *upstream.Pool, opts Options) *Proxy {
	return &Proxy{pool: pool, opts: opts}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// ServeHTTP forwards r. It returns an error only when nothing has been
// written to w yet, so the gateway can render it; failures after the
// response started are ended by aborting the connection, because a half
// body with a success status would look complete.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	x := plugin.ExchangeOf(r)
	pool := p.pool
	pool.Retry().Deposit()

	c := new(call)
	out := p.outRequest(c, r)
	body := &c.body
	body.rc, body.present = r.Body, r.Body != nil && r.Body != http.NoBody
	if body.present {
		out.Body = body
	} else {
		out.Body = nil
	}
	defer body.closeReal()

	var ip string
	if pool.NeedsClientIP() {
		ip = x.ClientIP.String()
	}
	key := pool.HashKey(r, ip, x.Consumer)
	tried := c.tried[:0]
	attempts := pool.Attempts()
	start := time.Now()
	var lastErr error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 && !pool.Retry().Withdraw() {
			break
		}
		t := pool.Pick(key, tried)
		if t == nil {
			break
		}
		tried = append(tried, t)
		x.Target, x.Attempts = t.Host(), attempt+1

		out.URL.Scheme = t.URL().Scheme
		out.URL.Host = t.URL().Host
		if p.opts.PassHost == "node" {
			out.Host = t.URL().Host
		}

		resp, span, err := p.roundTrip(out, t)
		if err != nil && body.readErr() != nil {
			// The client's body failed (stalled past body_idle_timeout, too
			// large, cut off): not the upstream's fault, so no passive-health
			// failure and no retry.
			t.End()
			endSpan(span, 0, err)
			x.UpstreamDuration = time.Since(start)
			return clientBodyError(body.readErr())
		}
		if err != nil {
			oc := upstream.Classify(err)
			pool.Report(t, oc)
			t.End()
			endSpan(span, 0, err)
			lastErr = err
			if r.Context().Err() != nil {
				return httperr.FromUpstream(context.Canceled)
			}
			if attempt+1 < attempts && pool.RetryOn(oc) && retrySafe(r, body, oc) {
				continue
			}
			break
		}
		oc := upstream.Outcome{Status: resp.StatusCode}
		pool.Report(t, oc)
		if attempt+1 < attempts && pool.RetryOn(oc) && retrySafe(r, body, oc) {
			// Drain a little so the connection can be reused, then retry.
			_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
			t.End()
			endSpan(span, resp.StatusCode, nil)
			continue
		}
		x.UpstreamDuration = time.Since(start)
		err = p.writeResponse(w, r, resp)
		t.End()
		endSpan(span, resp.StatusCode, err)
		return err
	}
	x.UpstreamDuration = time.Since(start)
	if lastErr == nil {
		return httperr.ErrNoUpstream
	}
	return httperr.FromUpstream(lastErr)
}

func (p *Proxy) roundTrip(out *http.Request, t *upstream.Target) (*http.Response, trace.Span, error) {
	t.Begin()
	if p.opts.Tracer == nil {
		resp, err := p.pool.Transport().RoundTrip(out)
		return resp, nil, err
	}
	ctx, span := p.opts.Tracer.Start(out.Context(), "HTTP "+out.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", out.Method),
			attribute.String("server.address", t.URL().Hostname()),
			attribute.String("url.full", t.URL().Scheme+"://"+t.URL().Host+out.URL.Path),
			attribute.String("sluice.upstream", p.pool.Name()),
		))
	p.opts.Tracer.Inject(ctx, out.Header)
	resp, err := p.pool.Transport().RoundTrip(out.WithContext(ctx))
	return resp, span, err
}

func endSpan(span trace.Span, status int, err error) {
	if span == nil {
		return
	}
	if status > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// retrySafe reports whether the request may be sent again. After a connect
// failure the upstream never saw the request, so any method may go again as
// long as no body byte was consumed. Otherwise only bodiless idempotent
// requests are repeated (nginx's proxy_next_upstream without
// non_idempotent): a body that went out cannot be replayed, and the
// transport may still be reading it.
func retrySafe(r *http.Request, body *trackedBody, oc upstream.Outcome) bool {
	if oc.ConnectFailure {
		return !body.started.Load()
	}
	if body.present {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// call holds what one forwarded request needs, allocated together.
type call struct {
	out  http.Request
	url  url.URL
	body trackedBody
	// tried backs the targets already tried (the balancer's interface
	// call would move a local array to the heap on its own).
	tried [4]*upstream.Target
	fwd   [3]string // X-Forwarded-For, X-Forwarded-Host, Forwarded
}

// Shared header values; the transport only reads them.
var (
	noUserAgent = []string{""}
	teTrailers  = []string{"trailers"}
	connUpgrade = []string{"Upgrade"}
	protoHTTP   = []string{"http"}
	protoHTTPS  = []string{"https"}
)

// outRequest prepares the upstream request. It shares r's header map: the
// inbound request is ours and is not used again after forwarding.
func (p *Proxy) outRequest(c *call, r *http.Request) *http.Request {
	out := &c.out
	*out = *r // shallow: keeps r's context, so a client disconnect cancels the attempt
	out.RequestURI = ""
	c.url = url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.URL = &c.url
	out.Close = false
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	if p.opts.PassHost == "rewrite" {
		out.Host = p.opts.UpstreamHost // "node" is set per attempt, "pass" keeps r.Host
	}

	h := r.Header
	upgrade := upgradeType(h)
	te := hasToken(h["Te"], "trailers")
	removeHopHeaders(h)
	if upgrade != "" {
		h["Connection"] = connUpgrade
		h["Upgrade"] = []string{upgrade}
	}
	// TE: trailers is the one TE value a proxy forwards (we pass trailers).
	if r.ProtoMajor >= 2 || te {
		h["Te"] = teTrailers
	}
	if _, ok := h["User-Agent"]; !ok {
		// An absent User-Agent must stay absent, not become Go's default.
		h["User-Agent"] = noUserAgent
	}
	setForwarded(h, r, &c.fwd)
	if len(r.Trailer) > 0 {
		out.Trailer = r.Trailer
	}
	return out
}

// writeResponse copies resp to w, streaming.
func (p *Proxy) writeResponse(w http.ResponseWriter, r *http.Request, resp *http.Response) error {
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return p.upgrade(w, r, resp)
	}
	rh := resp.Header
	removeHopHeaders(rh)
	flushEach := resp.ContentLength == -1 || isEventStream(rh)
	wh := adoptHeader(w, rh)
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		wh["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(resp.StatusCode)

	if err := p.copyBody(w, resp.Body, flushEach); err != nil {
		if r.Context().Err() != nil {
			return nil // the client left; nothing to tell it
		}
		// Headers are out: abort so the client sees a broken response, not a short one.
		panic(http.ErrAbortHandler)
	}
	for k, vs := range resp.Trailer {
		if _, announced := wh["Trailer"]; announced {
			wh[k] = vs
		} else {
			wh[http.TrailerPrefix+k] = vs
		}
	}
	return nil
}

// headerAdopter is a ResponseWriter that can take a header map over
// whole: Sluice's HTTP/1.1 server, through the gateway's recorder.
type headerAdopter interface {
	AdoptHeader(http.Header) bool
}

// adoptHeader puts the upstream's response header rh into w's and returns
// w's header map. Fields a plugin set on w before the upstream answered
// (request-id) win over the upstream's when they have a value, so an
// echoing upstream cannot duplicate or override them.
//
// When w can adopt rh, w's few fields are merged into rh and rh becomes
// w's header: no new map, no field-by-field copy.
func adoptHeader(w http.ResponseWriter, rh http.Header) http.Header {
	wh := w.Header()
	if ha, ok := w.(headerAdopter); ok {
		for k, vs := range wh {
			if _, dup := rh[k]; len(vs) > 0 || !dup {
				rh[k] = vs
			}
		}
		if ha.AdoptHeader(rh) {
			return rh
		}
	}
	if len(wh) == 0 {
		for k, vs := range rh { // nothing to keep: no lookup per field
			wh[k] = vs
		}
		return wh
	}
	for k, vs := range rh {
		if prev, ok := wh[k]; ok && len(prev) > 0 {
			continue
		}
		wh[k] = vs
	}
	return wh
}

// copyBody streams src to w. Progress deadlines on the client connection
// are the edge's job (body_idle_timeout), so a stream that keeps moving is
// never cut here.
func (p *Proxy) copyBody(w http.ResponseWriter, src io.Reader, flushEach bool) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var rc *http.ResponseController
	if flushEach {
		rc = http.NewResponseController(w)
	}
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flushEach {
				if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// isEventStream reports whether the media type is text/event-stream
// (parameters allowed), which is flushed event by event.
func isEventStream(h http.Header) bool {
	ct := h["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	mt, _, _ := strings.Cut(ct[0], ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
}

// trackedBody wraps the inbound body: it remembers whether any byte was
// read (then a retry would send a truncated body) and ignores Close from the
// transport, which closes bodies on error, so an unread body survives for a
// retry.
type trackedBody struct {
	rc      io.ReadCloser
	present bool
	started atomic.Bool // written by the transport's writer goroutine
	err     atomic.Pointer[error]
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && !b.started.Load() {
		b.started.Store(true)
	}
	if err != nil && err != io.EOF {
		b.err.Store(&err)
	}
	return n, err
}

// readErr is the error reading the client's body failed with, if any.
func (b *trackedBody) readErr() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

// clientBodyError maps a failure reading the client's request body.
func clientBodyError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return httperr.FromUpstream(err) // 413
	case errors.Is(err, context.Canceled):
		return httperr.FromUpstream(context.Canceled) // 499, logged only
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &plugin.Error{Status: http.StatusRequestTimeout, Code: "request_timeout",
			Public: "the request body stopped arriving", Err: err}
	}
	return &plugin.Error{Status: http.StatusBadRequest, Code: "bad_request_body",
		Public: "the request body could not be read", Err: err}
}

func (b *trackedBody) Close() error { return nil }

func (b *trackedBody) closeReal() {
	if b.rc != nil {
		b.rc.Close()
	}
}
