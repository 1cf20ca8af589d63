package route

// The legacy HTTP+SSE transport (2024-11-05) in front of a Streamable HTTP,
// stdio or built-in server: the gateway is the legacy server its client
// expects and a Streamable HTTP client of the server.
//
// A GET without a session that accepts text/event-stream is a legacy client
// (a Streamable client only GETs with a session). The gateway opens the
// stream, announces its endpoint (the route's path with the sealed session
// in ?session=), and for each POST there answers 202 and makes the
// Streamable request, writing the server's answer (a JSON body, or each
// event of an SSE one) onto the stream as `event: message`. The initialize
// opens the server's session, whose id, target and version stay with the
// stream; the server's GET stream is piped onto the client's too. Closing
// the client's stream ends the server's session (DELETE).
//
// The stream lives in one process, so the session does too: a POST reaching
// another replica gets 404. That is the legacy transport's nature (its
// clients need affinity on ?session= behind a load balancer).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/internal/mcp/message"
	"github.com/sluicegw/sluice/internal/mcp/sessionid"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// legacyClient is the target of a legacy HTTP+SSE client's session in its
// sealed state: the session's real routing state is with its stream.
const legacyClient = "sse-client"

// isLegacyClient reports whether sess belongs to a legacy HTTP+SSE client.
func (h *Handler) isLegacyClient(sess *sessionid.State) bool {
	leg := sess.Leg(h.cfg.Server.Name)
	return leg != nil && leg.Target == legacyClient
}

// isLegacyGet reports whether r opens a legacy HTTP+SSE stream.
func isLegacyGet(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Mcp-Session-Id") == "" && !r.URL.Query().Has("session") &&
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// isLegacyPost reports whether r is a POST to a legacy stream's endpoint.
func isLegacyPost(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") == "" && r.URL.Query().Has("session")
}

// legacyStreams are the legacy streams open on this gateway, by session ID.
type legacyStreams struct {
	mu sync.Mutex
	m  map[string]*legacyStream
}

func (l *legacyStreams) add(s *legacyStream) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*legacyStream{}
	}
	l.m[s.id] = s
	l.mu.Unlock()
}

func (l *legacyStreams) get(id string) *legacyStream {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[id]
}

func (l *legacyStreams) remove(id string) {
	l.mu.Lock()
	delete(l.m, id)
	l.mu.Unlock()
}

// legacyStream is one legacy client's stream and its session's state.
type legacyStream struct {
	h   *Handler
	id  string
	out *keepAlive
	ctx context.Context // ends with the stream
	end context.CancelFunc

	mu      sync.Mutex
	closed  bool
	work    sync.WaitGroup // requests in flight and the server's GET stream: all write to out
	leg     sessionid.Leg  // the server's target, session id and version, from initialize
	modern  bool           // the server speaks only 2026-07-28: translated (translate.go)
	started bool           // initialize has been answered
}

// legacyStream serves a legacy client's GET: the stream of its session.
func (h *Handler) legacyStream(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	if !h.sessions.reserve(x.Consumer) {
		x.MCP.Outcome = plugin.MCPDenied
		return &plugin.Error{Status: http.StatusTooManyRequests, Code: codeQuota,
			Public: fmt.Sprintf("this consumer already has %d open sessions on this route, its limit; close a stream or wait for one to expire", h.cfg.MaxPerConsumer)}
	}
	now := time.Now()
	sess := &sessionid.State{ID: sessionid.NewID(), Consumer: x.Consumer, Issued: now.Unix(), Version: "2024-11-05",
		Legs: []sessionid.Leg{{Server: h.cfg.Server.Name, Target: legacyClient}}}
	id, err := h.cfg.Sealer.Seal(h.cfg.Route, sess)
	if err != nil {
		h.sessions.release(x.Consumer)
		return err
	}
	h.sessions.open(sess.ID, x.Consumer, now, nil)
	x.MCP.Session = sess.ID

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	s := &legacyStream{h: h, id: sess.ID, out: newKeepAlive(w, h.cfg.KeepAlive), ctx: ctx, end: cancel,
		leg: sessionid.Leg{Server: h.cfg.Server.Name}}
	h.era.legacy.add(s)
	if err := s.out.write([]byte("event: endpoint\ndata: " + st.path + "?session=" + url.QueryEscape(id) + "\n\n")); err != nil {
		s.end()
	}

	// The stream ends when the client leaves, when the session was ended
	// here (idle timeout, the server's session gone), or when the route's
	// generation retires: its successor does not know the stream, so the
	// client had better reconnect to it now.
	tick := time.NewTicker(min(h.cfg.IdleTimeout/4, time.Minute))
	for live := true; live; {
		select {
		case <-ctx.Done():
			live = false
		case <-h.stop:
			live = false
		case <-tick.C:
			live = h.sessions.has(sess.ID)
		}
	}
	tick.Stop()

	s.mu.Lock()
	s.closed = true
	leg := s.leg
	s.mu.Unlock()
	s.end()
	s.work.Wait()
	s.out.stop()
	h.era.legacy.remove(sess.ID)
	h.sessions.remove(sess.ID)
	if leg.Upstream != "" {
		h.ender(&sessionid.State{ID: sess.ID, Legs: []sessionid.Leg{leg}})()
	}
	return nil
}

// legacyPost serves a POST to a legacy stream's endpoint: 202 at once, the
// answer on the stream. Requests run on their own (a slow tool call must not
// hold the client's next POST); notifications and responses are passed
// before the 202, so they reach the server in order.
func (h *Handler) legacyPost(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	if r.Method != http.MethodPost {
		return &plugin.Error{Status: http.StatusMethodNotAllowed, Code: codeInvalid,
			Public: "a legacy HTTP+SSE session takes POSTs at its endpoint", Header: http.Header{"Allow": {"POST"}}}
	}
	s := h.era.legacy.get(st.sess.ID)
	if s == nil || !s.begin() {
		return &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession,
			Public: "session not found: its event stream is closed, or open on another gateway replica; open a new stream"}
	}
	in := (&http.Request{Method: http.MethodPost, URL: r.URL, Host: r.Host, TLS: r.TLS, Header: r.Header.Clone()}).
		WithContext(withExchange(s.ctx, x))
	for _, k := range []string{"Mcp-Session-Id", "Mcp-Method", "Mcp-Name", "Mcp-Protocol-Version", "Last-Event-Id"} {
		in.Header.Del(k)
	}
	in.Header.Set("Accept", "application/json, text/event-stream")
	in.Header.Set("Content-Type", "application/json")
	if st.msg.Kind == message.Request {
		go s.serve(in, st)
	} else {
		s.serve(in, st)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// begin registers work on the stream; false once it is closing.
func (s *legacyStream) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.work.Add(1)
	return true
}

// serve passes one message to the server and its answer to the stream.
func (s *legacyStream) serve(in *http.Request, st *state) {
	defer s.work.Done()
	h, msg := s.h, &st.msg
	x := plugin.ExchangeOf(in)
	if msg.Kind == message.Request && msg.Method == "tools/call" {
		start := time.Now()
		defer func() {
			x.MCP.Duration = time.Since(start)
			if x.MCP.Outcome == "" {
				x.MCP.Outcome = plugin.MCPUpstreamError
			}
			h.audit(x, st, x.MCP.Duration)
		}()
		if !h.cfg.Tools.Allowed(x.Consumer, x.Caller, msg.Name) {
			x.MCP.Outcome = plugin.MCPDenied
			s.send(message.ErrorResponse(msg.ID, message.CodeForbidden, fmt.Sprintf("tool %q is not allowed for this caller", msg.Name), nil))
			return
		}
	}
	if msg.Kind == message.Request && msg.ProtocolVersion >= modern && msg.Method != "initialize" {
		// A 2026 client probing with server/discover: this transport
		// carries the initialize era only, and the error (not one of 2026's
		// own) sends the client to initialize.
		s.send(message.ErrorResponse(msg.ID, message.CodeMethodNotFound,
			"the legacy HTTP+SSE transport carries MCP 2025-11-25 and older: start with initialize", nil))
		return
	}
	s.mu.Lock()
	leg, isModern, started := s.leg, s.modern, s.started
	s.mu.Unlock()
	if msg.Kind == message.Request && msg.Method == "initialize" && !started {
		s.initialize(in, st)
		return
	}
	body := st.body
	if isModern {
		if ans, ok := localAnswer(msg); ok {
			if ans != nil {
				s.send(ans)
			}
			return
		}
		var err error
		if body, err = modernBody(body); err != nil {
			s.fail(msg, message.CodeInvalidRequest, err.Error())
			return
		}
		modernHeaders(in.Header, msg)
		in = in.WithContext(context.WithValue(in.Context(), modernKey{}, true))
	} else if leg.Version != "" {
		in.Header.Set("Mcp-Protocol-Version", leg.Version)
	}
	resp, _, done, err := h.exchange(in, body, &leg, nil)
	if err != nil {
		s.unreachable(msg, err)
		return
	}
	defer done()
	s.relay(resp, st, x)
}

// initialize opens the server's session, or a translated one when the server
// speaks only 2026-07-28 (detected as for Streamable clients, translate.go).
func (s *legacyStream) initialize(in *http.Request, st *state) {
	h, msg := s.h, &st.msg
	x := plugin.ExchangeOf(in)
	if isModern, ok := h.era.known(time.Now()); ok && isModern {
		if d, err := h.discover(in); err == nil && d.modernOnly() {
			s.openTranslated(msg, d)
			return
		}
	}
	leg := &sessionid.Leg{Server: h.cfg.Server.Name}
	resp, t, done, err := h.exchange(in, st.body, leg, nil)
	if err != nil {
		s.unreachable(msg, err)
		return
	}
	defer done()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode/100 != 2 || sid == "" {
		if resp.StatusCode < 500 {
			// No session opened: probe, as translate.go's initialize does.
			held, _ := io.ReadAll(io.LimitReader(resp.Body, maxInspect))
			resp.Body = io.NopCloser(bytes.NewReader(held))
			d, err := h.discover(in)
			if err == nil && d.modernOnly() {
				h.era.set(true)
				s.openTranslated(msg, d)
				return
			}
			if err == nil || errors.Is(err, errNotModern) {
				h.era.set(false)
			}
		}
	} else {
		h.era.set(false)
	}
	s.mu.Lock()
	if sid != "" {
		s.leg.Target, s.leg.Upstream = targetName(t), sid
	}
	s.mu.Unlock()
	if v := s.relay(resp, st, x); v != "" && sid != "" {
		s.work.Add(1) // the stream's own work; begin is not needed, the initialize holds it open
		go s.listen()
	}
}

func (s *legacyStream) openTranslated(msg *message.Message, d *discovered) {
	version := msg.ProtocolVersion
	if version == "" || version >= modern {
		version = newestLegacy
	}
	s.mu.Lock()
	s.modern, s.started = true, true
	s.leg.Version = modern
	s.mu.Unlock()
	s.send(d.initializeResult(msg.ID, version, s.h.cfg.Server.Name))
}

// relay writes the server's answer to st's message onto the stream. For an
// initialize it notes the negotiated version, and returns it.
func (s *legacyStream) relay(resp *http.Response, st *state, x *plugin.Exchange) (version string) {
	h, msg := s.h, &st.msg
	status, ct := resp.StatusCode, resp.Header.Get("Content-Type")
	watch := msg.Kind == message.Request && inspects(msg.Method)
	deliver := func(data []byte) {
		if watch {
			data = h.inspect(data, st, x)
		}
		if msg.Method == "initialize" {
			if v := negotiated(data, msg.ID); v != "" {
				version = v
				s.mu.Lock()
				s.leg.Version, s.started = v, true
				s.mu.Unlock()
			}
		}
		s.send(data)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		s.fail(msg, message.CodeUnavailable, fmt.Sprintf("MCP server %q refused the gateway's credentials", h.cfg.Server.Name))
	case status == http.StatusNotFound && s.serverSession() != "":
		// The server ended the session: so does the gateway, and the
		// client opens a new stream.
		s.fail(msg, message.CodeInvalidRequest, "session not found: the server ended it; open a new stream")
		h.sessions.remove(s.id)
		s.end()
	case strings.HasPrefix(ct, "text/event-stream"):
		fr := newFramer(resp.Body, int(h.cfg.MaxBody)+4096)
		for {
			_, data, err := fr.next()
			if err != nil {
				if err != io.EOF && s.ctx.Err() == nil {
					s.fail(msg, message.CodeInternalError, "the server's answer was cut")
				}
				return version
			}
			if data != nil {
				deliver(bytes.Clone(data))
			}
		}
	case strings.HasPrefix(ct, "application/json"):
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxInspect+1))
		if err != nil || len(data) > maxInspect {
			s.fail(msg, message.CodeInternalError, "the server's answer was cut or too large")
			return version
		}
		if len(bytes.TrimSpace(data)) > 0 {
			deliver(data)
		}
	case status >= 400:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		s.fail(msg, message.CodeInternalError, fmt.Sprintf("MCP server %q answered %d: %s", h.cfg.Server.Name, status, bytes.TrimSpace(b)))
	}
	if msg.Method == "tools/call" && x.MCP.Outcome == "" && status/100 == 2 {
		x.MCP.Outcome = plugin.MCPOK
	}
	return version
}

// listen pipes the server's GET stream (server requests and notifications
// outside any request) onto the client's. A server without one (405) is
// fine: the client just gets nothing there.
func (s *legacyStream) listen() {
	defer s.work.Done()
	h := s.h
	s.mu.Lock()
	leg := s.leg
	s.mu.Unlock()
	in := (&http.Request{Method: http.MethodGet, URL: &url.URL{}, Header: http.Header{
		"Accept": {"text/event-stream"}, "Mcp-Protocol-Version": {leg.Version}}}).WithContext(s.ctx)
	resp, _, done, err := h.exchange(in, nil, &leg, nil)
	if err != nil {
		return
	}
	defer done()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return
	}
	fr := newFramer(resp.Body, int(h.cfg.MaxBody)+4096)
	x := plugin.ExchangeOf(in)
	for {
		_, data, err := fr.next()
		if err != nil {
			return
		}
		if data == nil {
			continue
		}
		if !h.cfg.Tools.Open() {
			// Tool lists answered here (none expected) are filtered too.
			probe := &state{msg: message.Message{Kind: message.Request, Method: "tools/list"}}
			if m, err := message.Parse(data); err == nil && m.Kind == message.Response {
				probe.msg.ID = m.ID
			}
			data = h.inspect(data, probe, x)
		}
		s.send(bytes.Clone(data))
	}
}

func (s *legacyStream) serverSession() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leg.Upstream
}

// send writes one JSON-RPC message to the stream as a message event. A
// failed write means the client left: the stream ends.
func (s *legacyStream) send(data []byte) {
	if bytes.ContainsAny(data, "\r\n") {
		// An event's data is one line here; JSON needs none of its
		// line breaks.
		var b bytes.Buffer
		if json.Compact(&b, data) == nil {
			data = b.Bytes()
		}
	}
	ev := make([]byte, 0, len(data)+24)
	ev = append(ev, "event: message\ndata: "...)
	ev = append(ev, data...)
	ev = append(ev, "\n\n"...)
	if err := s.out.write(ev); err != nil {
		s.end()
	}
}

// fail answers a request with a JSON-RPC error on the stream; notifications
// and responses have no one to tell.
func (s *legacyStream) fail(msg *message.Message, code int, text string) {
	if msg.Kind == message.Request {
		s.send(message.ErrorResponse(msg.ID, code, text, nil))
	}
}

func (s *legacyStream) unreachable(msg *message.Message, err error) {
	if s.ctx.Err() != nil {
		return
	}
	s.h.log.Warn("legacy SSE session: the MCP server did not answer", "server", s.h.cfg.Server.Name, "error", err)
	s.fail(msg, message.CodeUnavailable, fmt.Sprintf("MCP server %q is unreachable", s.h.cfg.Server.Name))
}

// negotiated returns the protocol version of a successful initialize answer
// to id.
func negotiated(data []byte, id json.RawMessage) string {
	m, err := message.Parse(data)
	if err != nil || m.Kind != message.Response || m.Result == nil || !bytes.Equal(m.ID, id) {
		return ""
	}
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(m.Result, &res)
	return res.ProtocolVersion
}

// exchange makes one request of the gateway's own to the server: in's
// method, headers (those forward passes) and exchange, with body, within
// leg's session; edit, when set, adjusts the outgoing headers. It is not
// retried, and its outcome counts for the target's health. t is the target
// (nil for an in-process server); done must be called once the answer is
// read.
func (h *Handler) exchange(in *http.Request, body []byte, leg *sessionid.Leg, edit func(http.Header)) (resp *http.Response, t *upstream.Target, done func(), err error) {
	t, base, err := h.target(leg, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	out := h.outRequest(in, &state{body: body}, base, leg)
	if edit != nil {
		edit(out.Header)
	}
	end := func() {}
	if t != nil {
		t.Begin()
		end = t.End
	}
	resp, err = h.rt.RoundTrip(out)
	if t != nil {
		if err != nil {
			h.cfg.Server.Pool.Report(t, upstream.Classify(err))
		} else {
			h.cfg.Server.Pool.Report(t, upstream.Outcome{Status: resp.StatusCode})
		}
	}
	if err != nil {
		end()
		return nil, nil, nil, err
	}
	return resp, t, func() { resp.Body.Close(); end() }, nil
}

// targetName names a target as sealed session state does.
func targetName(t *upstream.Target) string {
	if t == nil {
		return inprocTarget
	}
	return t.String()
}
