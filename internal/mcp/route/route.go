// Package route is the terminal handler of an mcp route: a transparent,
// streaming proxy to one MCP server (remote replicas in an upstream pool,
// or an in-process server such as a stdio bridge), for both protocol eras.
//
// It keeps the wire intact where clients depend on it (202/400/404/405,
// JSON or SSE answers passed event by event, Mcp-* and Last-Event-ID
// headers) and changes it only where a gateway must:
//
//   - the Mcp-Session-Id a client holds is sealed by the gateway
//     (internal/mcp/sessionid) and carries the upstream target and the
//     upstream's own session id, so any replica routes any session;
//   - the client's credentials never go upstream: only MCP's own headers
//     are forwarded, plus the server's configured ones, and Host is the
//     upstream's (SDKs reject a public Host on loopback);
//   - tools the caller may not use are removed from tools/list and refused
//     on tools/call with a JSON-RPC error;
//   - idle SSE streams get keep-alive comments between events;
//   - the legacy HTTP+SSE transport's endpoint event is rewritten to the
//     gateway's own URL;
//   - where the two sides cannot talk directly, the gateway translates:
//     an initialize-era client in front of a 2026-only server
//     (translate.go), a legacy HTTP+SSE client in front of any other
//     server (legacy.go).
//
// The request body is parsed once, before the route's plugins run
// (Handler.Wrap), into Exchange.MCP, so limits and logs key on the MCP
// method and tool.
package route

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// Server is the MCP server behind the route.
type Server struct {
	Name string
	// SSE says the server speaks the 2024-11-05 HTTP+SSE transport.
	SSE bool
	// Pool holds the server's replicas, with Path the endpoint on each
	// (and Query its query string). Nil for an in-process server.
	Pool  *upstream.Pool
	Path  string
	Query string
	// Handler is an in-process server (stdio bridge, built-in server).
	Handler http.Handler
	// Header is sent on every request: the server's own credentials.
	Header http.Header
}

// Auth is the route's OAuth protected resource metadata (RFC 9728).
type Auth struct {
	Resource             string
	AuthorizationServers []string
	Scopes               []string
	ResourceName         string
}

// Config configures a Handler.
type Config struct {
	Route string
	// Server is the route's one server, proxied transparently; or
	// Federation merges several into one.
	Server         Server
	Federation     *Federation
	Sealer         *sessionid.Sealer
	MaxPerConsumer int
	IdleTimeout    time.Duration // default 30m
	MaxLifetime    time.Duration // default 24h
	Tools          *ACL
	Auth           *Auth
	// Hosts are the route's match hosts: browser origins on them are the
	// gateway's own.
	Hosts          []string
	AllowedOrigins []string
	KeepAlive      time.Duration // default 15s
	MaxBody        int64         // default 4 MiB
	Logger         *slog.Logger
	// OnSessions is told when this gateway's count of open sessions on the
	// route changes.
	OnSessions func(delta int)
}

// Defaults of Config's zero values.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxLifetime = 24 * time.Hour
	DefaultKeepAlive   = 15 * time.Second
	DefaultMaxBody     = 4 << 20
	// maxInspect bounds a JSON answer the route reads whole to filter a
	// tools/list or note a tool call's outcome; a bigger one passes
	// through unread.
	maxInspect = 16 << 20
	// maxNames bounds the tool names kept for metric labels.
	maxNames = 1024
)

// Handler serves an mcp route. Close it when its generation retires.
type Handler struct {
	cfg      Config
	rt       http.RoundTripper
	sessions *sessions
	log      *slog.Logger
	metaURL  string // the protected resource metadata URL, "" without Auth
	stop     chan struct{}
	stopOnce sync.Once
	auditor  *auditor // nil for a federation's member handlers

	namesMu sync.RWMutex
	names   map[string]struct{} // tool names seen in tools/list, for metric labels

	members []*member // the federated servers; nil on a transparent route
	sep     string    // the federation's name separator

	era era // protocol-era translation (translate.go, legacy.go)
}

// New returns the handler and starts its idle-session sweeper.
func New(cfg Config) (*Handler, error) {
	if cfg.Sealer == nil {
		return nil, errors.New("mcp route: no session sealer")
	}
	if cfg.Federation != nil {
		if len(cfg.Federation.Servers) < 2 {
			return nil, errors.New("mcp route: a federation needs at least two servers")
		}
		cfg.Server = Server{Name: "*"}
	} else if (cfg.Server.Pool == nil) == (cfg.Server.Handler == nil) {
		return nil, fmt.Errorf("mcp server %q: want exactly one of a pool and an in-process handler", cfg.Server.Name)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), names: map[string]struct{}{}}
	switch {
	case cfg.Federation != nil:
		members, err := newMembers(cfg)
		if err != nil {
			return nil, err
		}
		h.members, h.sep = members, cmp.Or(cfg.Federation.Separator, DefaultSeparator)
	case cfg.Server.Pool != nil:
		h.rt = cfg.Server.Pool.Transport()
	default:
		h.rt = inproc{cfg.Server.Handler}
	}
	if h.members == nil {
		h.rt = eraTransport{h: h, next: h.rt} // era translation (translate.go)
	}
	h.sessions = newSessions(cfg.MaxPerConsumer, cfg.IdleTimeout, cfg.OnSessions)
	if cfg.Auth != nil {
		h.metaURL = metadataURL(cfg.Auth.Resource)
	}
	h.auditor = newAuditor(h.log)
	go h.sweep()
	return h, nil
}

// Close stops the sweeper. Open streams end with their requests.
func (h *Handler) Close() error {
	h.stopOnce.Do(func() {
		close(h.stop)
		h.auditor.close()
	})
	return nil
}

func (h *Handler) sweep() {
	every := min(h.cfg.IdleTimeout/4, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			for _, sess := range h.sessions.sweep(now) {
				go h.ender(sess)()
			}
		}
	}
}

// state is the route's private per-request state, parsed in Wrap.
type state struct {
	body []byte
	msg  message.Message
	sess *sessionid.State // nil without a session
	path string           // the request path as the client sent it
}

type stateKey struct{}

func stateOf(r *http.Request) *state {
	st, _ := r.Context().Value(stateKey{}).(*state)
	return st
}

// stateCtx carries the state. Unlike context.WithValue's type it forwards
// AfterFunc to its parent (as plugin's exchange context does): the upstream
// client registers one per request, and without the method the context
// package would start a goroutine per request to watch the parent, one
// per open stream.
type stateCtx struct {
	context.Context
	st *state
}

func (c *stateCtx) Value(key any) any {
	if key == (stateKey{}) {
		return c.st
	}
	return c.Context.Value(key)
}

func (c *stateCtx) AfterFunc(f func()) (stop func() bool) {
	if p, ok := c.Context.(interface{ AfterFunc(func()) func() bool }); ok {
		return p.AfterFunc(f)
	}
	return context.AfterFunc(c.Context, f)
}

// Error codes of the route's refusals; WriteError turns them into JSON-RPC
// error codes.
const (
	codeParse       = "parse_error"
	codeInvalid     = "invalid_request"
	codeMismatch    = "header_mismatch"
	codeNoSession   = "session_not_found"
	codeQuota       = "session_quota"
	codeOrigin      = "forbidden_origin"
	codeTooLarge    = "message_too_large"
	codeUnavailable = "upstream_unavailable"
)

// Wrap runs before the route's plugins: it checks Origin, reads and parses
// the message, checks the 2026 routing headers against it, and opens the
// session id, so plugins see Exchange.MCP and refusals here cost no
// upstream call.
func (h *Handler) Wrap(next plugin.Handler) plugin.Handler {
	return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		x := plugin.ExchangeOf(r)
		m := &plugin.MCP{Server: h.cfg.Server.Name}
		x.MCP = m
		st := &state{path: r.URL.Path}
		r = r.WithContext(&stateCtx{Context: r.Context(), st: st})
		if !h.originAllowed(r) {
			return &plugin.Error{Status: http.StatusForbidden, Code: codeOrigin,
				Public: fmt.Sprintf("origin %q is not allowed on this MCP endpoint", r.Header.Get("Origin"))}
		}
		switch r.Method {
		case http.MethodPost:
			if err := h.readMessage(r, st, m); err != nil {
				return err
			}
		case http.MethodGet, http.MethodDelete, http.MethodOptions:
		default:
			return &plugin.Error{Status: http.StatusMethodNotAllowed, Code: codeInvalid,
				Public: "an MCP endpoint takes POST, GET and DELETE", Header: http.Header{"Allow": {"GET, POST, DELETE"}}}
		}
		id := r.Header.Get("Mcp-Session-Id")
		if h.cfg.Server.SSE {
			id = r.URL.Query().Get("session")
		}
		if id == "" {
			id = r.URL.Query().Get("session") // a legacy HTTP+SSE client of any server (legacy.go)
		}
		if id != "" && r.Method != http.MethodOptions {
			sess, err := h.cfg.Sealer.Open(h.cfg.Route, id)
			if err != nil || time.Since(sess.IssuedAt()) > h.cfg.MaxLifetime || !h.owns(sess) {
				return &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession,
					Public: "session not found: it ended or expired, or was issued elsewhere; start a new one with initialize"}
			}
			st.sess, m.Session = sess, sess.ID
		}
		return next.ServeHTTP(w, r)
	})
}

func (h *Handler) readMessage(r *http.Request, st *state, m *plugin.MCP) error {
	if r.ContentLength > h.cfg.MaxBody {
		return h.tooLarge()
	}
	body, err := readBody(r, h.cfg.MaxBody)
	if err != nil {
		return &plugin.Error{Status: http.StatusBadRequest, Code: codeInvalid, Public: "reading the request body failed", Err: err}
	}
	if int64(len(body)) > h.cfg.MaxBody {
		return h.tooLarge()
	}
	st.body = body
	msg, err := message.Parse(body)
	if err != nil {
		code := codeInvalid
		if !json.Valid(body) {
			code = codeParse
		}
		return &plugin.Error{Status: http.StatusBadRequest, Code: code, Public: err.Error()}
	}
	st.msg = msg
	m.Kind, m.Method, m.Name, m.ArgBytes, m.ProtocolVersion = msg.Kind.String(), msg.Method, msg.Name, len(msg.Arguments), msg.ProtocolVersion
	m.ID = msg.ID
	if h.members != nil {
		m.Server = h.ownerServer(&msg)
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" && m.ProtocolVersion == "" {
		m.ProtocolVersion = v
	}
	if h.cfg.Server.SSE {
		return nil // the legacy transport has no routing headers
	}
	if isLegacyPost(r) {
		return nil // nor has it in front of any other server (legacy.go)
	}
	return checkHeaders(r.Header, &msg)
}

// readBody reads up to max+1 bytes of r's body. A body of known length is
// read into a buffer of that size, at once, not grown from 512 bytes.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= max {
		body := make([]byte, n, n+1)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		// A body should end at its Content-Length; if this one goes on
		// (no server in front), the rest is read as io.ReadAll would.
		if k, _ := io.ReadFull(r.Body, body[n:n+1]); k > 0 {
			rest, err := io.ReadAll(io.LimitReader(r.Body, max-n))
			return append(body[:n+1], rest...), err
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, max+1))
}

func (h *Handler) tooLarge() error {
	return &plugin.Error{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
		Public: fmt.Sprintf("message exceeds this route's limit of %d bytes", h.cfg.MaxBody)}
}

// modern is the first protocol version with stateless requests and routing
// headers. Versions are dates, so they compare as strings.
const modern = "2026-07-28"

// checkHeaders validates the 2026 routing headers against the body, as the
// spec asks of anything that reads both: the gateway routes, limits and
// authorizes on the body, and a server might trust the headers.
func checkHeaders(h http.Header, msg *message.Message) error {
	v := h.Get("Mcp-Protocol-Version")
	if v < modern || msg.Kind == message.Response {
		if msg.ProtocolVersion >= modern && msg.Method != "initialize" && v == "" {
			return mismatch("the Mcp-Protocol-Version header is required with _meta %s %q", message.MetaProtocolVersion, msg.ProtocolVersion)
		}
		return nil
	}
	if msg.ProtocolVersion != "" && msg.ProtocolVersion != v && msg.Method != "initialize" {
		return mismatch("Mcp-Protocol-Version header %q does not match _meta %s %q", v, message.MetaProtocolVersion, msg.ProtocolVersion)
	}
	method := h.Get("Mcp-Method")
	if method == "" {
		return mismatch("the Mcp-Method header is required from protocol version %s on", modern)
	}
	if method != msg.Method {
		return mismatch("Mcp-Method header %q does not match the body's method %q", method, msg.Method)
	}
	switch msg.Method {
	case "tools/call", "prompts/get", "resources/read":
		raw := h.Get("Mcp-Name")
		if raw == "" {
			return mismatch("the Mcp-Name header is required for %s", msg.Method)
		}
		name, ok := message.DecodeHeaderValue(raw)
		if !ok {
			return mismatch("the Mcp-Name header %q is not valid base64 in its =?base64?...?= form", raw)
		}
		if name != msg.Name {
			return mismatch("Mcp-Name header %q does not match the body's %q", name, msg.Name)
		}
	}
	return nil
}

func mismatch(format string, args ...any) error {
	return &plugin.Error{Status: http.StatusBadRequest, Code: codeMismatch, Public: fmt.Sprintf(format, args...)}
}

// originAllowed is the DNS rebinding guard: a browser request (it has an
// Origin) must come from an allowed origin, one of the route's hosts, or
// loopback to loopback. The request's Host proves nothing: under DNS
// rebinding it is the attacker's name.
func (h *Handler) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	for _, a := range h.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), o) {
			return true
		}
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Hostname()
	for _, hh := range h.cfg.Hosts {
		if strings.EqualFold(hh, host) || (strings.HasPrefix(hh, "*.") && strings.HasSuffix(strings.ToLower(host), strings.ToLower(hh[1:]))) {
			return true
		}
	}
	reqHost := r.Host
	if hn, _, err := splitHostPort(reqHost); err == nil {
		reqHost = hn
	}
	return isLoopback(host) && isLoopback(reqHost)
}

func splitHostPort(hostport string) (string, string, error) {
	u, err := url.Parse("http://" + hostport)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}

func isLoopback(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return strings.HasPrefix(host, "127.")
}

// ServeHTTP is the route's terminal: it runs after the plugins admitted the
// request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	if st == nil {
		return errors.New("mcp route: request did not pass through Wrap")
	}
	x := plugin.ExchangeOf(r)
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", "GET, POST, DELETE")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if st.sess != nil {
		// Sessions are bound to their consumer: an id that leaked to
		// another caller is unknown to it.
		if st.sess.Consumer != x.Consumer {
			return &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession,
				Public: "session not found: it ended or expired, or was issued elsewhere; start a new one with initialize"}
		}
		if !h.sessions.touch(st.sess, time.Now()) {
			go h.ender(st.sess)()
			return &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession,
				Public: "session expired after being idle; start a new one with initialize"}
		}
	}
	// Era translation (translate.go, legacy.go): a legacy client of a
	// 2026-only server, a legacy HTTP+SSE client of any other server.
	if done, err := h.translate(w, r, st, x); done {
		return err
	}
	if r.Method == http.MethodDelete && st.sess != nil && !h.cfg.Server.SSE {
		if leg := st.sess.Leg(h.cfg.Server.Name); leg != nil && leg.Upstream == "" {
			// The server keeps no session (a stateless one): the session
			// is the gateway's alone, and so is ending it.
			h.sessions.remove(st.sess.ID)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	if r.Method == http.MethodPost && st.msg.Method == "tools/call" && !h.cfg.Tools.Allowed(x.Consumer, x.Caller, st.msg.Name) {
		x.MCP.Outcome = plugin.MCPDenied
		h.audit(x, st, 0)
		return writeRPC(w, http.StatusOK, message.ErrorResponse(st.msg.ID, message.CodeForbidden,
			fmt.Sprintf("tool %q is not allowed for this caller", st.msg.Name), nil))
	}
	start := time.Now()
	var err error
	if h.members != nil {
		err = h.federate(w, r, st, x)
	} else {
		err = h.forward(w, r, st, x)
	}
	if st.msg.Method == "tools/call" && st.msg.Kind == message.Request {
		x.MCP.Duration = time.Since(start)
		if x.MCP.Outcome == "" {
			x.MCP.Outcome = plugin.MCPUpstreamError
		}
		h.audit(x, st, x.MCP.Duration)
	}
	return err
}

func writeRPC(w http.ResponseWriter, status int, body []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// ToolLabel returns name when the route's server listed it in a tools/list
// answer, and "_unlisted" otherwise, so metric label values stay bounded
// whatever names clients send.
func (h *Handler) ToolLabel(name string) string {
	h.namesMu.RLock()
	_, ok := h.names[name]
	h.namesMu.RUnlock()
	if ok {
		return name
	}
	return "_unlisted"
}

func (h *Handler) noteName(name string) {
	h.namesMu.RLock()
	_, ok := h.names[name]
	n := len(h.names)
	h.namesMu.RUnlock()
	if ok || n >= maxNames {
		return
	}
	h.namesMu.Lock()
	h.names[name] = struct{}{}
	h.namesMu.Unlock()
}

// owns reports whether sess is a session of this route's server (or, when
// federated, of its servers).
func (h *Handler) owns(sess *sessionid.State) bool {
	if h.members != nil {
		return len(sess.Legs) > 0
	}
	return sess.Leg(h.cfg.Server.Name) != nil
}

// Sessions returns the number of sessions open on this gateway.
func (h *Handler) Sessions() int { return h.sessions.len() }

// WriteError renders a refusal (the route's own, or a plugin's) as a
// JSON-RPC error in the HTTP status the spec gives it, with the MCP
// authorization spec's challenge on 401 and 403.
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, e *plugin.Error, requestID string) {
	for k, vs := range e.Header {
		w.Header()[k] = vs
	}
	status := e.Status
	if status == http.StatusUnauthorized && bearerError(e.Header.Get("WWW-Authenticate")) == "insufficient_scope" {
		// A valid token without a required scope (openid-connect's
		// required_scopes): MCP's step-up signal is 403, so the client
		// asks for the scope instead of a new token for the same ones.
		status = http.StatusForbidden
	}
	if h.metaURL != "" && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
		w.Header().Set("WWW-Authenticate", h.challenge(e, status))
	}
	var id json.RawMessage
	if m := plugin.ExchangeOf(r).MCP; m != nil {
		id = m.ID
	}
	msg := e.Public
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	data, _ := json.Marshal(map[string]string{"type": e.Code, "request_id": requestID})
	_ = writeRPC(w, status, message.ErrorResponse(id, rpcCode(e), msg, data))
}

func rpcCode(e *plugin.Error) int {
	switch e.Code {
	case codeParse:
		return message.CodeParseError
	case codeInvalid, codeNoSession:
		return message.CodeInvalidRequest
	case codeMismatch:
		return message.CodeHeaderMismatch
	case codeUnavailable:
		return message.CodeUnavailable
	}
	switch {
	case e.Status == http.StatusTooManyRequests:
		return message.CodeRateLimited
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return message.CodeForbidden
	case e.Status >= 500:
		return message.CodeInternalError
	}
	return message.CodeInvalidRequest
}

// copyHeaders copies the named headers (canonical) from src to dst. The
// value slices are shared, not cloned (a clone per header was a tenth of
// a tool call's allocations): each is capped at its length, so an append
// on either side copies, and nothing here changes a value in place.
func copyHeaders(dst, src http.Header, names []string) {
	for _, k := range names {
		if vs, ok := src[k]; ok {
			dst[k] = vs[:len(vs):len(vs)]
		}
	}
}
