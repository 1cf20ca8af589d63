package route

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/internal/httperr"
	"github.com/sluicegw/sluice/internal/jsonobj"
	"github.com/sluicegw/sluice/internal/mcp/message"
	"github.com/sluicegw/sluice/internal/mcp/sessionid"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// requestHeaders are the client headers an MCP server needs. Everything
// else stays at the gateway: above all Authorization, cookies and API key
// headers, since the agent's credentials are for the gateway (the MCP
// authorization spec forbids passing tokens through).
var requestHeaders = []string{
	"Accept", "Content-Type", "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name",
	"Last-Event-Id", "User-Agent", "Traceparent", "Tracestate", "Baggage", "X-Request-Id",
}

// responseHeaders are the server's headers the client gets.
var responseHeaders = []string{
	"Content-Type", "Mcp-Protocol-Version", "Cache-Control", "Retry-After", "Allow", "X-Accel-Buffering",
}

// inprocTarget names the target of an in-process server in sealed state.
const inprocTarget = "inproc"

// forward sends the request to the server and relays the answer. A new
// session (initialize, or the legacy transport's GET) may try another
// target when one fails before answering; a request inside a session goes
// only to the session's target and is never retried, since MCP requests
// are not idempotent.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	newSession := st.sess == nil && ((r.Method == http.MethodPost && st.msg.Method == "initialize") ||
		(h.cfg.Server.SSE && r.Method == http.MethodGet))
	if newSession {
		if !h.sessions.reserve(x.Consumer) {
			x.MCP.Outcome = plugin.MCPDenied
			return &plugin.Error{Status: http.StatusTooManyRequests, Code: codeQuota,
				Public: fmt.Sprintf("this consumer already has %d open sessions on this route, its limit; end one (DELETE) or wait for one to expire", h.cfg.MaxPerConsumer)}
		}
	}
	opened := false
	defer func() {
		if newSession && !opened {
			h.sessions.release(x.Consumer)
		}
	}()

	var leg *sessionid.Leg
	if st.sess != nil {
		leg = st.sess.Leg(h.cfg.Server.Name)
	}
	attempts := 1
	if newSession && h.cfg.Server.Pool != nil {
		attempts = min(h.cfg.Server.Pool.Len(), 3)
	}
	var tried []*upstream.Target
	var lastErr error
	for attempt := 0; attempt < attempts; attempt++ {
		target, base, err := h.target(leg, tried)
		if err != nil {
			return err
		}
		if target != nil {
			tried = append(tried, target)
			x.Target = target.Host()
			target.Begin()
		} else {
			x.Target = inprocTarget
		}
		out := h.outRequest(r, st, base, leg)
		resp, err := h.rt.RoundTrip(out)
		if err != nil {
			if target != nil {
				h.cfg.Server.Pool.Report(target, upstream.Classify(err))
				target.End()
			}
			if r.Context().Err() != nil {
				return httperr.FromUpstream(context.Canceled)
			}
			lastErr = err
			continue
		}
		if target != nil {
			h.cfg.Server.Pool.Report(target, upstream.Outcome{Status: resp.StatusCode})
		}
		if newSession && resp.StatusCode >= 500 && attempt+1 < attempts {
			_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
			target.End()
			lastErr = fmt.Errorf("status %d", resp.StatusCode)
			continue
		}
		targetName := inprocTarget
		if target != nil {
			targetName = target.String()
		}
		err = h.relay(w, r, st, x, resp, targetName, newSession, &opened)
		if target != nil {
			target.End()
		}
		return err
	}
	x.MCP.Outcome = plugin.MCPUpstreamError
	if st.sess != nil {
		// The session's server cannot be reached; only it holds the
		// session, so the client must start over. 404 says exactly that.
		h.sessions.remove(st.sess.ID)
		return &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession,
			Public: "session not found: its server is unreachable; start a new session with initialize", Err: lastErr}
	}
	return &plugin.Error{Status: http.StatusBadGateway, Code: codeUnavailable,
		Public: fmt.Sprintf("MCP server %q is unreachable", h.cfg.Server.Name), Err: lastErr}
}

// target returns the upstream target of an attempt and its base URL. For a
// session it is the sealed target, which must still be in the pool.
func (h *Handler) target(leg *sessionid.Leg, tried []*upstream.Target) (*upstream.Target, *url.URL, error) {
	pool := h.cfg.Server.Pool
	if pool == nil {
		return nil, &url.URL{Scheme: "http", Host: "mcp.invalid"}, nil
	}
	if leg != nil && leg.Target != "" && leg.Target != inprocTarget {
		if t := pool.Target(leg.Target); t != nil {
			return t, t.URL(), nil
		}
		return nil, nil, &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession,
			Public: "session not found: its server replica is no longer configured; start a new session with initialize"}
	}
	t := pool.Pick(upstream.Key{}, tried)
	if t == nil {
		return nil, nil, &plugin.Error{Status: http.StatusBadGateway, Code: codeUnavailable,
			Public: fmt.Sprintf("MCP server %q has no targets", h.cfg.Server.Name)}
	}
	return t, t.URL(), nil
}

// outRequest builds the upstream request.
func (h *Handler) outRequest(r *http.Request, st *state, base *url.URL, leg *sessionid.Leg) *http.Request {
	u := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: h.cfg.Server.Path, RawQuery: h.cfg.Server.Query}
	if h.cfg.Server.Handler != nil {
		u.Path, u.RawQuery = "/", ""
	}
	if h.cfg.Server.SSE && r.Method == http.MethodPost && leg != nil {
		// The legacy transport posts to the endpoint its stream announced.
		if ep, err := url.Parse(leg.Upstream); err == nil {
			u.Path, u.RawQuery = ep.Path, ep.RawQuery
		}
	}
	out := (&http.Request{
		Method:     r.Method,
		URL:        u,
		Host:       u.Host,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(requestHeaders)+len(h.cfg.Server.Header)+4),
	}).WithContext(r.Context())
	copyHeaders(out.Header, r.Header, requestHeaders)
	for _, k := range headerNames(r.Header, "Mcp-Param-") {
		out.Header[k] = r.Header[k]
	}
	for k, vs := range h.cfg.Server.Header {
		out.Header[k] = vs
	}
	// The values the gateway sets share one backing array, each capped at
	// its length so an append copies: one allocation instead of one per
	// Header.Set. The keys are canonical already.
	vals := make([]string, 0, 4)
	set := func(k, v string) {
		vals = append(vals, v)
		out.Header[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if leg != nil && leg.Upstream != "" && !h.cfg.Server.SSE {
		set("Mcp-Session-Id", leg.Upstream)
	}
	x := plugin.ExchangeOf(r)
	if x.ClientIP.IsValid() {
		set("X-Forwarded-For", x.ClientIP.String())
	}
	set("X-Forwarded-Host", r.Host)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	set("X-Forwarded-Proto", proto)
	if r.Method == http.MethodPost {
		out.Body = newBodyReader(st.body)
		out.ContentLength = int64(len(st.body))
		out.GetBody = func() (io.ReadCloser, error) { return newBodyReader(st.body), nil }
	}
	return out
}

// bodyReader is a request body read from memory: io.NopCloser and a
// bytes.Reader in one allocation.
type bodyReader struct{ bytes.Reader }

func newBodyReader(b []byte) *bodyReader {
	r := &bodyReader{}
	r.Reset(b)
	return r
}

func (*bodyReader) Close() error { return nil }

func headerNames(h http.Header, prefix string) []string {
	var out []string
	for k := range h {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// relay writes the server's answer to the client.
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange, resp *http.Response, target string, newSession bool, opened *bool) error {
	defer resp.Body.Close()
	status := resp.StatusCode
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		// The server refused the gateway's own credentials (mcp_servers[].headers):
		// an operator problem. Passing the 401 on would send the agent
		// into an OAuth flow against the wrong server.
		x.MCP.Outcome = plugin.MCPUpstreamError
		return &plugin.Error{Status: http.StatusBadGateway, Code: codeUnavailable,
			Public: fmt.Sprintf("MCP server %q refused the gateway's credentials", h.cfg.Server.Name),
			Err:    fmt.Errorf("upstream answered %d", status)}
	}
	hdr := w.Header()
	copyHeaders(hdr, resp.Header, responseHeaders)
	upstreamSID := resp.Header.Get("Mcp-Session-Id")

	if newSession && status/100 == 2 && !h.cfg.Server.SSE {
		// A session begins. Seal it even when the server keeps none
		// (a stateless server): the gateway's session carries the
		// target, the consumer binding, quotas and timeouts.
		sess := &sessionid.State{ID: sessionid.NewID(), Consumer: x.Consumer, Issued: time.Now().Unix(),
			Version: st.msg.ProtocolVersion, Legs: []sessionid.Leg{{Server: h.cfg.Server.Name, Target: target, Upstream: upstreamSID}}}
		if st.msg.ProtocolVersion < modern || upstreamSID != "" {
			id, err := h.cfg.Sealer.Seal(h.cfg.Route, sess)
			if err != nil {
				return err
			}
			hdr.Set("Mcp-Session-Id", id)
			h.sessions.open(sess.ID, x.Consumer, time.Now(), sess)
			*opened = true
			x.MCP.Session = sess.ID
		}
	}
	if st.sess != nil {
		switch {
		case status == http.StatusNotFound:
			h.sessions.remove(st.sess.ID) // the server ended it
		case r.Method == http.MethodDelete && status/100 == 2:
			h.sessions.remove(st.sess.ID)
		}
	}

	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		return h.relaySSE(w, r, st, x, resp, target, newSession, opened)
	case strings.HasPrefix(ct, "application/json") && st.msg.Kind == message.Request && inspects(st.msg.Method) && resp.ContentLength <= maxInspect:
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxInspect+1))
		if err != nil {
			return h.cut(x, err)
		}
		if len(body) <= maxInspect {
			body = h.inspect(body, st, x)
		}
		hdr.Del("Content-Length")
		w.WriteHeader(status)
		_, err = w.Write(body)
		return err
	default:
		if resp.ContentLength >= 0 {
			hdr["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
		}
		w.WriteHeader(status)
		if st.msg.Method == "tools/call" {
			if status/100 == 2 {
				x.MCP.Outcome = plugin.MCPOK
			} else {
				x.MCP.Outcome = plugin.MCPError
			}
		}
		_, err := io.Copy(newFlushWriter(w), resp.Body)
		if err != nil {
			return h.cut(x, err)
		}
		return nil
	}
}

// inspects reports whether answers to method are read: tools/list to filter
// it, tools/call to note its outcome.
func inspects(method string) bool { return method == "tools/list" || method == "tools/call" }

// inspect looks at a JSON-RPC answer to the request (a whole JSON body or
// one SSE event's data) and returns it, filtered if it is a tools/list
// result with tools the caller may not see.
func (h *Handler) inspect(data []byte, st *state, x *plugin.Exchange) []byte {
	if st.msg.Method == "tools/call" {
		if outcome, sure := callOutcome(data, st.msg.ID); sure {
			if outcome != "" {
				x.MCP.Outcome = outcome
			}
			return data
		}
	}
	m, err := message.Parse(data)
	if err != nil || m.Kind != message.Response || !bytes.Equal(m.ID, st.msg.ID) {
		return data
	}
	switch st.msg.Method {
	case "tools/call":
		x.MCP.Outcome = plugin.MCPOK
		if m.Error != nil {
			x.MCP.Outcome = plugin.MCPError
		} else if v, err := jsonobj.Member(m.Result, "isError"); err == nil && string(v) == "true" {
			x.MCP.Outcome = plugin.MCPToolError
		}
	case "tools/list":
		if m.Result == nil {
			return data
		}
		filtered, ok := h.cfg.Tools.filterTools(m.Result, x.Consumer, x.Caller, h.noteName)
		if !ok || bytes.Equal(filtered, m.Result) {
			return data
		}
		b := make([]byte, 0, len(filtered)+64)
		b = append(b, `{"jsonrpc":"2.0","id":`...)
		b = append(b, m.ID...)
		b = append(b, `,"result":`...)
		b = append(b, filtered...)
		return append(b, '}')
	}
	return data
}

// callOutcome reads the outcome of a tools/call from its answer without
// decoding it: a decode with message.Parse cost as much as the parse of
// the request, on every call, only to find "error" and "result.isError".
// It scans the top level of the answer and of its result, as Parse and
// jsonobj.Member would read them. It is sure of its answer only for the
// plain shape every SDK sends (the members jsonrpc "2.0", id, and one of
// result and error, each once, with unescaped keys); anything else returns
// sure false, and the caller parses. outcome is "" when data answers
// another request or is no valid response at all, as with Parse.
func callOutcome(data, id []byte) (outcome string, sure bool) {
	if !json.Valid(data) {
		return "", true // Parse fails: no outcome
	}
	i := jsonobj.SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return "", true // not an object: Parse fails
	}
	var version bool
	var rid, result, rerr []byte
	for key, value := range members(data, i) {
		switch string(key) {
		case "jsonrpc":
			if version || string(value) != `"2.0"` {
				return "", false
			}
			version = true
		case "id":
			if rid != nil {
				return "", false
			}
			rid = value
		case "result":
			if result != nil || string(value) == "null" {
				return "", false
			}
			result = value
		case "error":
			if rerr != nil || string(value) == "null" {
				return "", false
			}
			rerr = value
		default:
			return "", false
		}
	}
	if !version || rid == nil || (result == nil) == (rerr == nil) {
		return "", false
	}
	if !bytes.Equal(rid, id) {
		return "", true // another message's answer
	}
	if rerr != nil {
		return plugin.MCPError, true
	}
	if result[0] != '{' {
		return plugin.MCPOK, true
	}
	for key, value := range members(result, 0) {
		if bytes.IndexByte(key, '\\') >= 0 {
			return "", false // an escaped key might spell isError
		}
		if string(key) == "isError" {
			if string(value) == "true" {
				return plugin.MCPToolError, true
			}
			return plugin.MCPOK, true // the first one counts, as in jsonobj.Member
		}
	}
	return plugin.MCPOK, true
}

// members yields the raw key (quotes stripped, escapes kept) and raw value
// of each member of the object at data[i], which must be valid JSON.
func members(data []byte, i int) iter.Seq2[[]byte, []byte] {
	return func(yield func(key, value []byte) bool) {
		i++ // the '{'
		for {
			i = jsonobj.SkipSpace(data, i)
			if i >= len(data) || data[i] == '}' {
				return
			}
			if data[i] == ',' {
				i = jsonobj.SkipSpace(data, i+1)
			}
			end := jsonobj.SkipString(data, i)
			key := data[i+1 : end-1]
			i = jsonobj.SkipSpace(data, jsonobj.SkipSpace(data, end)+1) // past the colon
			vend := jsonobj.SkipValue(data, i)
			if !yield(key, data[i:vend]) {
				return
			}
			i = vend
		}
	}
}

// cut ends a relay that failed after the answer started: the connection is
// aborted, so the client sees a cut stream, not a complete-looking one.
func (h *Handler) cut(x *plugin.Exchange, err error) error {
	if x.MCP.Outcome == "" || x.MCP.Outcome == plugin.MCPOK {
		x.MCP.Outcome = plugin.MCPUpstreamError
	}
	if errors.Is(err, context.Canceled) {
		return httperr.FromUpstream(context.Canceled)
	}
	panic(http.ErrAbortHandler)
}

type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newFlushWriter(w http.ResponseWriter) flushWriter {
	return flushWriter{w: w, rc: http.NewResponseController(w)}
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// relaySSE passes an event stream event by event, with keep-alive comments
// when it is idle, filtering tools/list results and noting tool call
// outcomes on the way. On the legacy transport it rewrites the endpoint
// event to the gateway's URL and opens the session.
func (h *Handler) relaySSE(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange, resp *http.Response, target string, newSession bool, opened *bool) error {
	hdr := w.Header()
	hdr.Del("Content-Length")
	if hdr.Get("Cache-Control") == "" {
		hdr.Set("Cache-Control", "no-cache")
	}
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(resp.StatusCode)
	out := newKeepAlive(w, h.cfg.KeepAlive)
	defer out.stop()
	if r.Method == http.MethodGet {
		// A GET stream may stay silent for long: the client gets its
		// headers now. A POST's headers go with its first event, one
		// write instead of two.
		if err := out.flush(); err != nil {
			return nil // the client left before the first byte
		}
	}
	var legacySess *sessionid.State
	defer func() {
		if legacySess != nil {
			h.sessions.remove(legacySess.ID) // the legacy session lives as long as its stream
		}
	}()
	fr := newFramer(resp.Body, int(h.cfg.MaxBody)+4096)
	defer fr.release()
	watch := st.msg.Kind == message.Request && inspects(st.msg.Method)
	// Events are flushed only when the stream has nothing more at hand:
	// an answer read together with the stream's end (a POST's usual case)
	// leaves in one write with the end of the response, not in two, and
	// each write to the client can cost a wake-up.
	held := false
	for {
		if held && !fr.ready() {
			if err := out.flush(); err != nil {
				return nil // the client went away
			}
			held = false
		}
		raw, data, err := fr.next()
		if err != nil {
			if err == io.EOF {
				return nil // what is held goes out as the response ends
			}
			if held {
				_ = out.flush() // the events before the failure, as they came
			}
			if r.Context().Err() != nil {
				return nil
			}
			return h.cut(x, err)
		}
		switch {
		case newSession && h.cfg.Server.SSE && legacySess == nil && isEndpointEvent(raw):
			ep, sess, err := h.legacyEndpoint(r, st, x, string(data), target, resp.Request.URL)
			if err != nil {
				h.log.Warn("legacy SSE server sent an unusable endpoint event", "server", h.cfg.Server.Name, "error", err)
				return h.cut(x, err)
			}
			legacySess, *opened = sess, true
			raw = []byte("event: endpoint\ndata: " + ep + "\n\n")
		case data != nil && (watch || !h.cfg.Tools.Open() && r.Method == http.MethodGet):
			// GET streams carry answers only on the legacy transport and in
			// resumption; filter any tools/list result found there too.
			probe := st
			if r.Method == http.MethodGet {
				probe = &state{msg: message.Message{Kind: message.Request, Method: "tools/list"}}
				if m, err := message.Parse(data); err == nil && m.Kind == message.Response {
					probe.msg.ID = m.ID
				}
			}
			if nd := h.inspect(data, probe, x); !bytes.Equal(nd, data) {
				raw = reframe(raw, nd)
			}
		}
		if err := out.put(raw); err != nil {
			return nil // the client went away: the request context cancels upstream
		}
		held = true
	}
}

// isEndpointEvent reports whether raw is the legacy transport's endpoint
// event.
func isEndpointEvent(raw []byte) bool {
	for line := range bytes.Lines(raw) {
		if string(bytes.TrimRight(line, "\r\n")) == "event: endpoint" || string(bytes.TrimRight(line, "\r\n")) == "event:endpoint" {
			return true
		}
	}
	return false
}

// reframe replaces the data lines of an event with data, keeping its other
// fields.
func reframe(raw, data []byte) []byte {
	var b []byte
	wrote := false
	for line := range bytes.Lines(raw) {
		c := bytes.TrimRight(line, "\r\n")
		if len(c) == 0 {
			continue
		}
		if bytes.HasPrefix(c, []byte("data:")) || string(c) == "data" {
			if !wrote {
				for part := range bytes.Lines(data) {
					b = append(append(b, "data: "...), bytes.TrimRight(part, "\n")...)
					b = append(b, '\n')
				}
				wrote = true
			}
			continue
		}
		b = append(append(b, c...), '\n')
	}
	return append(b, '\n')
}

// legacyEndpoint turns the server's endpoint (a URI relative to the stream's
// URL) into the gateway's: the same public path with the sealed session in
// the query.
func (h *Handler) legacyEndpoint(r *http.Request, st *state, x *plugin.Exchange, endpoint, target string, streamURL *url.URL) (string, *sessionid.State, error) {
	ep, err := streamURL.Parse(strings.TrimSpace(endpoint))
	if err != nil {
		return "", nil, err
	}
	if ep.Host != streamURL.Host && h.cfg.Server.Handler == nil {
		return "", nil, fmt.Errorf("endpoint %q is on another host than the stream", endpoint)
	}
	sess := &sessionid.State{ID: sessionid.NewID(), Consumer: x.Consumer, Issued: time.Now().Unix(), Version: "2024-11-05",
		Legs: []sessionid.Leg{{Server: h.cfg.Server.Name, Target: target, Upstream: ep.RequestURI()}}}
	id, err := h.cfg.Sealer.Seal(h.cfg.Route, sess)
	if err != nil {
		return "", nil, err
	}
	h.sessions.open(sess.ID, x.Consumer, time.Now(), nil)
	x.MCP.Session = sess.ID
	return st.path + "?session=" + url.QueryEscape(id), sess, nil
}

// ender returns a function that ends sess at its server (DELETE), for
// sessions the gateway expires. Best effort: the server's own timeout is
// the backstop.
func (h *Handler) ender(sess *sessionid.State) func() {
	return func() {
		if h.members != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			h.endLegs(ctx, sess)
			return
		}
		leg := sess.Leg(h.cfg.Server.Name)
		if leg == nil || leg.Upstream == "" || h.cfg.Server.SSE {
			return
		}
		target, base, err := h.target(leg, nil)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r := (&http.Request{Method: http.MethodDelete, Header: http.Header{}, URL: &url.URL{}}).WithContext(ctx)
		out := h.outRequest(r, &state{}, base, leg)
		if target != nil {
			target.Begin()
			defer target.End()
		}
		resp, err := h.rt.RoundTrip(out)
		if err == nil {
			resp.Body.Close()
		}
	}
}

// keepAlive writes whole events to a stream and an SSE comment whenever
// the stream has been idle for the interval. Writes are serialized, so a
// comment never lands inside an event.
type keepAlive struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	rc     http.ResponseController // a value: one allocation less per stream
	every  time.Duration
	last   time.Time
	timer  *time.Timer
	closed bool
}

var keepAliveComment = []byte(": keep-alive\n\n")

func newKeepAlive(w http.ResponseWriter, every time.Duration) *keepAlive {
	k := &keepAlive{w: w, rc: *http.NewResponseController(w), every: every, last: time.Now()}
	k.timer = time.AfterFunc(every, k.tick)
	return k
}

func (k *keepAlive) tick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	wait := k.every - time.Since(k.last)
	if wait <= 0 {
		if _, err := k.w.Write(keepAliveComment); err == nil {
			_ = k.rc.Flush()
		}
		k.last, wait = time.Now(), k.every
	}
	k.timer.Reset(wait)
}

func (k *keepAlive) write(p []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.w.Write(p); err != nil {
		return err
	}
	k.last = time.Now()
	return k.rc.Flush()
}

// put writes p without flushing it; the caller flushes before it waits.
func (k *keepAlive) put(p []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.w.Write(p); err != nil {
		return err
	}
	k.last = time.Now()
	return nil
}

func (k *keepAlive) flush() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.rc.Flush()
}

// stop ends the keep-alives; no write happens after it returns.
func (k *keepAlive) stop() {
	k.mu.Lock()
	k.closed = true
	k.timer.Stop()
	k.mu.Unlock()
}
