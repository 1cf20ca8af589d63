package route

// Era translation: a client of the initialize era (2025-11-25 and older) in
// front of a server that speaks only 2026-07-28, which has no initialize,
// no sessions and no GET stream.
//
// The gateway notices such a server when a legacy client's initialize does
// not open a server session: the initialize failed (-32022, a 4xx), or it
// succeeded without an Mcp-Session-Id. The go-sdk's 2026-only server does
// the latter: it answers initialize with 2025-11-25 and refuses everything
// after it. server/discover then settles it: a server listing only 2026
// versions is translated. A server that opens a session (any stateful
// legacy server) is never probed, and the verdict is kept for eraTTL, so a
// stateless server is probed once a minute at most.
//
// A translated session is the gateway's alone (the server keeps none): the
// gateway answers initialize from server/discover, answers ping,
// logging/setLevel and notifications itself, answers GET with 405 and
// DELETE with 204, and forwards every other request as a 2026 request:
// the routing headers, and _meta with the protocol version and (empty)
// client capabilities inserted into params without re-encoding the rest.
// The sealed session records it: the leg's Version is 2026-07-28 while the
// session's is the client's.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/jsonobj"
	"github.com/sluicegw/sluice/internal/mcp/message"
	"github.com/sluicegw/sluice/internal/mcp/sessionid"
	"github.com/sluicegw/sluice/plugin"
)

const (
	// eraTTL is how long the gateway trusts what it learnt of the server's
	// era before it looks again (a server may be upgraded in place).
	eraTTL = time.Minute
	// newestLegacy is what the gateway answers an initialize for a version
	// it does not know.
	newestLegacy = "2025-11-25"
)

// legacyVersions are the initialize-era versions a translated session can
// speak to its client.
var legacyVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// modernMeta are the _meta members of every translated request. The client
// capabilities are empty on purpose: a legacy client cannot answer the
// input requests (MRTR) a 2026 server would send to a client declaring
// sampling, elicitation or roots.
const modernMeta = `"` + message.MetaProtocolVersion + `":"` + modern + `","io.modelcontextprotocol/clientCapabilities":{}`

// era is the route's translation state.
type era struct {
	verdict atomic.Pointer[eraVerdict]
	legacy  legacyStreams // legacy.go
}

type eraVerdict struct {
	modern bool // the server speaks only 2026-07-28
	at     time.Time
}

// known returns the verdict on the server's era, if there is a fresh one.
func (e *era) known(now time.Time) (modern, ok bool) {
	v := e.verdict.Load()
	if v == nil || now.Sub(v.at) > eraTTL {
		return false, false
	}
	return v.modern, true
}

func (e *era) set(modern bool) { e.verdict.Store(&eraVerdict{modern: modern, at: time.Now()}) }

// translated reports whether sess is a legacy client's session with a
// server spoken to in 2026-07-28.
func (h *Handler) translated(sess *sessionid.State) bool {
	if sess == nil || sess.Version >= modern {
		return false
	}
	leg := sess.Leg(h.cfg.Server.Name)
	return leg != nil && leg.Version >= modern
}

// translate is ServeHTTP's hook for era translation. It reports done when it
// has answered the request. Otherwise it may have rewritten the request for
// the server (r's headers and st.body), and ServeHTTP goes on as usual:
// tool ACL, forward, relay.
func (h *Handler) translate(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) (done bool, err error) {
	if h.cfg.Server.SSE || h.members != nil {
		// The server is the legacy one, proxied as it is; or a
		// federation, which speaks to each server itself.
		return false, nil
	}
	switch {
	case st.sess != nil && h.isLegacyClient(st.sess):
		return true, h.legacyPost(w, r, st, x)
	case st.sess == nil && isLegacyGet(r):
		return true, h.legacyStream(w, r, st, x)
	case st.sess != nil && h.translated(st.sess):
		return h.modernize(w, r, st)
	case st.sess == nil && r.Method == http.MethodPost && st.msg.Kind == message.Request &&
		st.msg.Method == "initialize" && st.msg.ProtocolVersion < modern:
		return true, h.initialize(w, r, st, x)
	}
	return false, nil
}

// initialize forwards a legacy client's initialize, unless the server is
// known to speak only 2026-07-28, and opens a translated session when the
// server turns out to (see the top of this file).
func (h *Handler) initialize(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	if isModern, ok := h.era.known(time.Now()); ok {
		if !isModern {
			return h.forward(w, r, st, x)
		}
		d, err := h.discover(r)
		switch {
		case err == nil && d.modernOnly():
			return h.openTranslated(w, st, x, d, nil)
		case err != nil && !errors.Is(err, errNotModern):
			return &plugin.Error{Status: http.StatusBadGateway, Code: codeUnavailable,
				Public: fmt.Sprintf("MCP server %q is unreachable", h.cfg.Server.Name), Err: err}
		}
		h.era.set(false)
		return h.forward(w, r, st, x)
	}
	// Unknown: forward, holding the (small) answer until it is clear
	// whether it goes to the client.
	c := &capture{header: http.Header{}}
	if err := h.forward(c, r, st, x); err != nil {
		return err
	}
	var prior *sessionid.State
	if id := c.header.Get("Mcp-Session-Id"); id != "" {
		prior, _ = h.cfg.Sealer.Open(h.cfg.Route, id)
	}
	if prior != nil && c.status/100 == 2 && prior.Leg(h.cfg.Server.Name).Upstream != "" {
		h.era.set(false) // the server opened a session: it does initialize
		return c.replay(w)
	}
	if c.status >= 500 {
		return c.replay(w)
	}
	d, err := h.discover(r)
	if err != nil || !d.modernOnly() {
		if err == nil || errors.Is(err, errNotModern) {
			h.era.set(false)
		}
		return c.replay(w)
	}
	h.era.set(true)
	return h.openTranslated(w, st, x, d, prior)
}

// openTranslated answers a legacy client's initialize from the server's
// discover result and seals a translated session. prior is the session the
// forwarded initialize opened, if any: its quota slot is kept.
func (h *Handler) openTranslated(w http.ResponseWriter, st *state, x *plugin.Exchange, d *discovered, prior *sessionid.State) error {
	version := st.msg.ProtocolVersion
	if !slices.Contains(legacyVersions, version) {
		version = newestLegacy
	}
	now := time.Now()
	sess := &sessionid.State{ID: sessionid.NewID(), Consumer: x.Consumer, Issued: now.Unix(), Version: version,
		Legs: []sessionid.Leg{{Server: h.cfg.Server.Name, Version: modern}}}
	if prior != nil {
		sess.ID, sess.Issued = prior.ID, prior.Issued
	} else if !h.sessions.reserve(x.Consumer) {
		x.MCP.Outcome = plugin.MCPDenied
		return &plugin.Error{Status: http.StatusTooManyRequests, Code: codeQuota,
			Public: fmt.Sprintf("this consumer already has %d open sessions on this route, its limit; end one (DELETE) or wait for one to expire", h.cfg.MaxPerConsumer)}
	}
	id, err := h.cfg.Sealer.Seal(h.cfg.Route, sess)
	if err != nil {
		if prior == nil {
			h.sessions.release(x.Consumer)
		}
		return err
	}
	if prior == nil {
		h.sessions.open(sess.ID, x.Consumer, now, sess)
	}
	w.Header().Set("Mcp-Session-Id", id)
	x.MCP.Session = sess.ID
	return writeRPC(w, http.StatusOK, d.initializeResult(st.msg.ID, version, h.cfg.Server.Name))
}

// modernize serves a request of a translated session: what 2026-07-28 has
// no place for is answered here, the rest is rewritten for the server.
func (h *Handler) modernize(w http.ResponseWriter, r *http.Request, st *state) (bool, error) {
	switch r.Method {
	case http.MethodGet:
		// A 2026 server has no GET stream; the client treats 405 as "none".
		return true, &plugin.Error{Status: http.StatusMethodNotAllowed, Code: codeInvalid,
			Public: "this session's server speaks MCP 2026-07-28, which has no GET stream", Header: http.Header{"Allow": {"POST, DELETE"}}}
	case http.MethodPost:
	default:
		return false, nil // DELETE: ServeHTTP ends a session the server does not hold
	}
	if ans, ok := localAnswer(&st.msg); ok {
		if ans == nil {
			w.WriteHeader(http.StatusAccepted)
			return true, nil
		}
		return true, writeRPC(w, http.StatusOK, ans)
	}
	body, err := modernBody(st.body)
	if err != nil {
		return true, &plugin.Error{Status: http.StatusBadRequest, Code: codeInvalid, Public: err.Error()}
	}
	st.body = body
	modernHeaders(r.Header, &st.msg)
	return false, nil
}

// localAnswer is the gateway's own answer to a message of a translated
// session that 2026-07-28 has no place for: nil (202) for notifications and
// responses (a 2026 server sends no requests to answer, and cancels when a
// request's stream closes), an empty result for ping and logging/setLevel
// (removed in 2026), an error for resource subscriptions and a second
// initialize. ok is false for what goes to the server.
func localAnswer(m *message.Message) (ans []byte, ok bool) {
	if m.Kind != message.Request {
		return nil, true
	}
	switch m.Method {
	case "ping", "logging/setLevel":
		b := append([]byte(`{"jsonrpc":"2.0","id":`), m.ID...)
		return append(b, `,"result":{}}`...), true
	case "resources/subscribe", "resources/unsubscribe":
		return message.ErrorResponse(m.ID, message.CodeMethodNotFound,
			"resource subscriptions are not available: the server speaks MCP 2026-07-28, whose subscriptions an older client cannot use", nil), true
	case "initialize":
		return message.ErrorResponse(m.ID, message.CodeInvalidRequest, "the session is already initialized", nil), true
	}
	return nil, false
}

// modernHeaders sets the 2026 routing headers of a translated request.
func modernHeaders(hdr http.Header, m *message.Message) {
	hdr.Set("Mcp-Protocol-Version", modern)
	hdr.Set("Mcp-Method", m.Method)
	hdr.Del("Mcp-Name")
	switch m.Method {
	case "tools/call", "prompts/get", "resources/read":
		hdr.Set("Mcp-Name", message.EncodeHeaderValue(m.Name))
	}
	hdr.Set("Accept", "application/json, text/event-stream")
	hdr.Set("Content-Type", "application/json")
}

// modernBody sets the two _meta members of every translated request in the
// request's params._meta (params and _meta are created when absent; other
// members of _meta are kept). The rest of the body is kept byte for byte.
// body must be a parsed message (valid JSON, an object).
func modernBody(body []byte) ([]byte, error) {
	params, err := jsonobj.Member(body, "params")
	if err != nil {
		return nil, err
	}
	if params == nil || string(params) == "null" {
		params = []byte("{}")
	} else if params[0] != '{' {
		return nil, errors.New(`"params" must be an object to carry the 2026-07-28 _meta`)
	}
	meta, err := jsonobj.Member(params, "_meta")
	if err != nil {
		return nil, err
	}
	if meta == nil || string(meta) == "null" {
		meta = []byte("{}")
	} else if meta[0] != '{' {
		return nil, errors.New(`"params._meta" must be an object`)
	}
	if meta, err = jsonobj.Set(meta, message.MetaProtocolVersion, []byte(`"`+modern+`"`)); err != nil {
		return nil, err
	}
	if meta, err = jsonobj.Set(meta, "io.modelcontextprotocol/clientCapabilities", []byte("{}")); err != nil {
		return nil, err
	}
	if params, err = jsonobj.Set(params, "_meta", meta); err != nil {
		return nil, err
	}
	return jsonobj.Set(body, "params", params)
}

// discovered is the server's answer to server/discover.
type discovered struct {
	Versions     []string        `json:"supportedVersions"`
	Capabilities json.RawMessage `json:"capabilities"`
	Instructions string          `json:"instructions,omitempty"`
	Meta         struct {
		ServerInfo json.RawMessage `json:"io.modelcontextprotocol/serverInfo"`
	} `json:"_meta"`
}

// modernOnly reports whether the server speaks no initialize-era version.
func (d *discovered) modernOnly() bool {
	return len(d.Versions) > 0 && !slices.ContainsFunc(d.Versions, func(v string) bool { return v < modern })
}

// initializeResult is the answer to a legacy client's initialize built from
// what the server discovered. Capabilities that need a stream a translated
// session lacks (list_changed notifications, resource subscriptions) are
// left out.
func (d *discovered) initializeResult(id json.RawMessage, version, server string) []byte {
	info := d.Meta.ServerInfo
	if len(info) == 0 || info[0] != '{' {
		info, _ = json.Marshal(map[string]string{"name": server, "version": ""})
	}
	res, _ := json.Marshal(struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ServerInfo      json.RawMessage `json:"serverInfo"`
		Instructions    string          `json:"instructions,omitempty"`
	}{version, legacyCapabilities(d.Capabilities), info, d.Instructions})
	b := append([]byte(`{"jsonrpc":"2.0","id":`), id...)
	b = append(append(b, `,"result":`...), res...)
	return append(b, '}')
}

func legacyCapabilities(raw json.RawMessage) json.RawMessage {
	var caps map[string]json.RawMessage
	if json.Unmarshal(raw, &caps) != nil || caps == nil {
		return json.RawMessage(`{}`)
	}
	for _, k := range []string{"tools", "prompts", "resources"} {
		var c map[string]json.RawMessage
		if json.Unmarshal(caps[k], &c) != nil || c == nil {
			continue
		}
		delete(c, "listChanged")
		delete(c, "subscribe")
		caps[k], _ = json.Marshal(c)
	}
	out, _ := json.Marshal(caps)
	return out
}

// errNotModern: the server's answer to server/discover shows it does not
// speak 2026-07-28.
var errNotModern = errors.New("the server does not answer server/discover")

const discoverBody = `{"jsonrpc":"2.0","id":"sluice-discover","method":"server/discover","params":{"_meta":{` + modernMeta + `}}}`

// discover asks the server for server/discover, with r's exchange and
// forwarded headers.
func (h *Handler) discover(r *http.Request) (*discovered, error) {
	in := r.Clone(r.Context())
	in.Method = http.MethodPost
	for _, k := range []string{"Mcp-Session-Id", "Mcp-Name", "Last-Event-Id"} {
		in.Header.Del(k)
	}
	modernHeaders(in.Header, &message.Message{Method: "server/discover"})
	resp, _, done, err := h.exchange(in, []byte(discoverBody), nil, nil)
	if err != nil {
		return nil, err
	}
	defer done()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("server/discover: the server refused the gateway's credentials (%d)", resp.StatusCode)
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("server/discover: status %d", resp.StatusCode)
	}
	data, err := firstAnswer(resp, []byte(`"sluice-discover"`), 1<<20)
	if errors.Is(err, errNoAnswer) {
		return nil, errNotModern
	}
	if err != nil {
		return nil, err
	}
	m, err := message.Parse(data)
	if err != nil || m.Kind != message.Response || m.Result == nil {
		return nil, errNotModern
	}
	d := new(discovered)
	if err := json.Unmarshal(m.Result, d); err != nil {
		return nil, errNotModern
	}
	return d, nil
}

// errNoAnswer: an SSE answer ended before the response to the request.
var errNoAnswer = errors.New("the stream ended before the answer")

// firstAnswer reads the JSON-RPC answer to id from a JSON body (whole, up
// to limit) or an SSE body (the first event that answers id).
func firstAnswer(resp *http.Response, id []byte, limit int) ([]byte, error) {
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		fr := newFramer(resp.Body, limit)
		for {
			_, data, err := fr.next()
			if err != nil {
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					return nil, errNoAnswer
				}
				return nil, err
			}
			if m, err := message.Parse(data); err == nil && m.Kind == message.Response && bytes.Equal(m.ID, id) {
				return bytes.Clone(data), nil
			}
		}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// capture is a ResponseWriter that holds an answer until it is decided
// whether the client gets it.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *capture) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return c.body.Write(p)
}

// Flush is a no-op; relay flushes through http.ResponseController.
func (c *capture) Flush() {}

func (c *capture) replay(w http.ResponseWriter) error {
	for k, vs := range c.header {
		w.Header()[k] = vs
	}
	if c.status == 0 {
		c.status = http.StatusOK
	}
	w.WriteHeader(c.status)
	_, err := w.Write(c.body.Bytes())
	return err
}

// eraTransport wraps the server's transport to fix up two things in the
// answers to translated requests (other requests pay one status
// comparison):
//
//   - a 2026 server answers some JSON-RPC errors with a 4xx (404 for an
//     unknown method, 400 for invalid params), which a legacy client would
//     read as its session being gone or as a transport failure: they
//     become 200s, as the older era sends them;
//   - a server that compares Mcp-Name without decoding its base64 form (the
//     go-sdk's, v1.8.0) refuses a non-ASCII tool name or resource URI with
//     HeaderMismatch before running anything: the request is sent once more
//     with the raw value.
type eraTransport struct {
	h    *Handler
	next http.RoundTripper
}

func (t eraTransport) RoundTrip(out *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(out)
	if err != nil || resp.StatusCode < 400 || resp.StatusCode >= 500 || out.Method != http.MethodPost {
		return resp, err
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return resp, nil
	}
	if !t.h.modernRequest(out) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, nil
	}
	m, resp := readRPCError(resp)
	if m == nil {
		return resp, nil
	}
	name := out.Header.Get("Mcp-Name")
	if raw, _ := message.DecodeHeaderValue(name); raw != name && bytes.Contains(m.Error, []byte(`"code":-32020`)) && out.GetBody != nil {
		retry := out.Clone(out.Context())
		retry.Header.Set("Mcp-Name", raw)
		if retry.Body, err = out.GetBody(); err == nil {
			if again, err := t.next.RoundTrip(retry); err == nil {
				resp.Body.Close()
				resp = again
				if m, resp = readRPCError(resp); m == nil {
					return resp, nil
				}
			}
		}
	}
	resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
	return resp, nil
}

// modernRequest reports whether out is a translated request: of a
// translated session (translate.go), or marked by legacy.go.
func (h *Handler) modernRequest(out *http.Request) bool {
	if out.Context().Value(modernKey{}) != nil {
		return true
	}
	st := stateOf(out)
	return st != nil && h.translated(st.sess)
}

// modernKey marks the context of a translated request the gateway makes on
// its own.
type modernKey struct{}

// readRPCError reads a 4xx answer: a JSON-RPC error response to a request, or
// nil. The answer's body is left readable either way.
func readRPCError(resp *http.Response) (*message.Message, *http.Response) {
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil, resp
	}
	const limit = 64 << 10
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil || len(body) > limit {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return nil, resp
	}
	resp.Body.Close()
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	m, err := message.Parse(body)
	if err != nil || m.Kind != message.Response || m.Error == nil || m.ID == nil {
		return nil, resp
	}
	return &m, resp
}

type readCloser struct {
	io.Reader
	io.Closer
}

// withExchange gives a request the gateway makes on its own (legacy.go) an
// exchange of its own, so it outlives the client request that caused it.
func withExchange(ctx context.Context, x *plugin.Exchange) context.Context {
	m := *x.MCP
	return plugin.WithExchange(ctx, &plugin.Exchange{RequestID: x.RequestID, Route: x.Route, Consumer: x.Consumer,
		Caller: x.Caller, ClientIP: x.ClientIP, Start: x.Start, MCP: &m})
}
