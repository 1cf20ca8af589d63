package route

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/internal/jsonobj"
	"github.com/sluicegw/sluice/internal/mcp/message"
	"github.com/sluicegw/sluice/internal/mcp/sessionid"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// Federation makes several servers one virtual MCP server. Each server's
// tools and prompts are listed as SERVER+Separator+NAME and its resources
// as mcp://SERVER/URI, so names never collide and stay the same when
// servers are added (agentgateway #495: names that change with the server
// set break agents' saved tool choices); each call goes to its owner with
// the server's own name.
//
// The gateway speaks MCP itself here, at the JSON-RPC level: initialize and
// server/discover fan out and their answers merge; lists fan out, merge
// and page with a cursor that holds each server's own; calls, reads and
// completions route by name; the servers' streams merge into the client's
// GET stream. A session's legs (one upstream session per server) are
// sealed into the client's session id like a single server's, so any
// replica serves any request.
//
// A server that fails at initialize or in a list is left out and logged
// rather than failing the whole virtual server (the anchors' complaint #3:
// one bad upstream took down every client's initialize).
type Federation struct {
	Servers []Server
	// Separator joins a server's name and its tool or prompt name.
	// Default "__".
	Separator string
	// Version is the gateway's, reported in serverInfo.
	Version string
}

// DefaultSeparator joins server and tool names on federated routes.
const DefaultSeparator = "__"

// resourcePrefix marks a federated resource URI: mcp://SERVER/URI.
const resourcePrefix = "mcp://"

// member is one federated server: a handler for it alone, whose target
// choice, request building and transport the federation reuses.
type member struct {
	name string
	h    *Handler
}

// newMembers builds the federation's members.
func newMembers(cfg Config) ([]*member, error) {
	var out []*member
	for _, s := range cfg.Federation.Servers {
		if (s.Pool == nil) == (s.Handler == nil) {
			return nil, fmt.Errorf("mcp server %q: want exactly one of a pool and an in-process handler", s.Name)
		}
		if s.SSE {
			return nil, fmt.Errorf("mcp server %q speaks the legacy HTTP+SSE transport, which a federated route cannot merge", s.Name)
		}
		c := cfg
		c.Server, c.Federation = s, nil
		sub := &Handler{cfg: c, log: cfg.Logger}
		if s.Pool != nil {
			sub.rt = s.Pool.Transport()
		} else {
			sub.rt = inproc{s.Handler}
		}
		out = append(out, &member{name: s.Name, h: sub})
	}
	return out, nil
}

func (h *Handler) member(name string) *member {
	for _, m := range h.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

// split resolves a federated name (SERVER+sep+NAME) to its server and the
// server's own name.
func (h *Handler) split(name string) (*member, string) {
	server, rest, ok := strings.Cut(name, h.sep)
	if !ok {
		return nil, ""
	}
	return h.member(server), rest
}

// splitURI resolves a federated resource URI (mcp://SERVER/URI).
func (h *Handler) splitURI(uri string) (*member, string) {
	rest, ok := strings.CutPrefix(uri, resourcePrefix)
	if !ok {
		return nil, ""
	}
	server, orig, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, ""
	}
	return h.member(server), orig
}

// ownerServer names the server a message goes to, for limits, metrics and
// logs, or "*" when it goes to every server.
func (h *Handler) ownerServer(msg *message.Message) string {
	if msg.Name == "" {
		return "*"
	}
	var m *member
	switch msg.Method {
	case "tools/call", "prompts/get":
		m, _ = h.split(msg.Name)
	default:
		m, _ = h.splitURI(msg.Name)
	}
	if m == nil {
		return "*"
	}
	return m.name
}

// legCall is one request to one member, in flight.
type legCall struct {
	m      *member
	leg    *sessionid.Leg // nil outside a session
	resp   *http.Response
	target *upstream.Target // nil for an in-process server
	done   func()
	once   sync.Once
}

// close ends the call; it may be called more than once.
func (c *legCall) close() { c.once.Do(c.done) }

// send sends a message (or a GET or DELETE) to one member, with the
// protocol version the member negotiated. edit, when set, adjusts the
// request's headers.
func (h *Handler) send(r *http.Request, m *member, leg *sessionid.Leg, body []byte, edit func(http.Header)) (*legCall, error) {
	resp, t, done, err := m.h.exchange(r, body, leg, func(hd http.Header) {
		if leg != nil && leg.Version != "" {
			hd.Set("Mcp-Protocol-Version", leg.Version)
		}
		if edit != nil {
			edit(hd)
		}
	})
	if err != nil {
		return nil, err
	}
	return &legCall{m: m, leg: leg, resp: resp, target: t, done: done}, nil
}

// answer reads the JSON-RPC answer to the request with id from a member's
// response: a JSON body, or the matching event of an SSE stream (other
// events, progress and logs, are dropped: a fan-out has no one answer to
// attach them to), or a JSON-RPC error in a 4xx, as 2026 servers send.
func (h *Handler) answer(c *legCall, id json.RawMessage) (message.Message, error) {
	resp := c.resp
	if resp.StatusCode/100 != 2 || resp.StatusCode == http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if m, err := message.Parse(b); err == nil && m.Kind == message.Response && m.Error != nil {
			return m, nil
		}
		return message.Message{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	data, err := firstAnswer(resp, id, maxInspect)
	if err != nil {
		return message.Message{}, err
	}
	m, err := message.Parse(data)
	if err != nil {
		return message.Message{}, fmt.Errorf("answer: %w", err)
	}
	if m.Kind != message.Response || !bytes.Equal(m.ID, id) {
		return message.Message{}, errors.New("answer is not the response to the request")
	}
	return m, nil
}

// fanResult is one member's answer to a fanned-out request.
type fanResult struct {
	m      *member
	leg    *sessionid.Leg
	msg    message.Message
	sid    string // the Mcp-Session-Id it answered with
	target string // the target that answered
	err    error
	shown  bool // its error was a JSON-RPC error, fit to show the client
}

// fanOut sends a request to each of legs at once and collects the answers
// in legs' order. body builds each member's message.
func (h *Handler) fanOut(r *http.Request, st *state, legs []fanLeg, body func(fanLeg) []byte) []fanResult {
	out := make([]fanResult, len(legs))
	var wg sync.WaitGroup
	for i, l := range legs {
		wg.Go(func() {
			res := fanResult{m: l.m, leg: l.leg}
			c, err := h.send(r, l.m, l.leg, body(l), nil)
			if err != nil {
				res.err = err
				out[i] = res
				return
			}
			defer c.close()
			res.sid, res.target = c.resp.Header.Get("Mcp-Session-Id"), targetName(c.target)
			m, err := h.answer(c, st.msg.ID)
			switch {
			case err != nil:
				res.err = err
			case m.Error != nil:
				res.msg, res.shown = m, true
				res.err = fmt.Errorf("JSON-RPC error %s", m.Error)
			default:
				res.msg = m
			}
			out[i] = res
		})
	}
	wg.Wait()
	return out
}

// fanLeg is a member and its session leg (nil outside a session).
type fanLeg struct {
	m   *member
	leg *sessionid.Leg
}

// legs returns the members a request goes to: the session's legs, or
// every member for a sessionless (2026) request.
func (h *Handler) legs(st *state) []fanLeg {
	var out []fanLeg
	if st.sess != nil {
		for i := range st.sess.Legs {
			if m := h.member(st.sess.Legs[i].Server); m != nil {
				out = append(out, fanLeg{m, &st.sess.Legs[i]})
			}
		}
		return out
	}
	for _, m := range h.members {
		out = append(out, fanLeg{m: m})
	}
	return out
}

func (h *Handler) legOf(st *state, m *member) (*sessionid.Leg, bool) {
	if st.sess == nil {
		return nil, true
	}
	leg := st.sess.Leg(m.name)
	return leg, leg != nil
}

// federate serves a request on a federated route.
func (h *Handler) federate(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	switch r.Method {
	case http.MethodGet:
		return h.fedGet(w, r, st, x)
	case http.MethodDelete:
		return h.fedDelete(w, r, st)
	}
	stateless := r.Header.Get("Mcp-Protocol-Version") >= modern
	if st.sess == nil && !stateless && st.msg.Method != "initialize" {
		return &plugin.Error{Status: http.StatusBadRequest, Code: codeInvalid,
			Public: "this MCP endpoint needs a session: send initialize first (or use protocol version " + modern + ")"}
	}
	switch st.msg.Kind {
	case message.Notification:
		return h.fedNotify(w, r, st)
	case message.Response:
		return h.fedRespond(w, r, st)
	}
	switch st.msg.Method {
	case "initialize":
		return h.fedInitialize(w, r, st, x)
	case "server/discover":
		return h.fedDiscover(w, r, st)
	case "ping":
		return writeResult(w, st.msg.ID, []byte("{}"))
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		return h.fedList(w, r, st, x)
	case "logging/setLevel":
		for _, res := range h.fanOut(r, st, h.legs(st), func(fanLeg) []byte { return st.body }) {
			if res.err != nil {
				h.log.Warn("mcp server did not take logging/setLevel", "mcp_server", res.m.name, "error", res.err)
			}
		}
		return writeResult(w, st.msg.ID, []byte("{}"))
	case "subscriptions/listen":
		return h.fedMerge(w, r, st, x, h.legs(st), st.body)
	}
	return h.fedCall(w, r, st, x)
}

func writeResult(w http.ResponseWriter, id json.RawMessage, result []byte) error {
	return writeRPC(w, http.StatusOK, appendResult(nil, id, result))
}

func appendResult(b []byte, id json.RawMessage, result []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, '}')
}

// rpcError answers a request with a JSON-RPC error.
func rpcError(w http.ResponseWriter, st *state, code int, format string, args ...any) error {
	return writeRPC(w, http.StatusOK, message.ErrorResponse(st.msg.ID, code, fmt.Sprintf(format, args...), nil))
}

// serverCaps is the part of an initialize or server/discover result the
// federation merges.
type serverCaps struct {
	ProtocolVersion   string                     `json:"protocolVersion"`
	SupportedVersions []string                   `json:"supportedVersions"`
	Capabilities      map[string]json.RawMessage `json:"capabilities"`
	Instructions      string                     `json:"instructions"`
}

// mergeCaps merges servers' capabilities: a feature is on when any server
// has it. Capabilities that cannot be merged (experimental, tasks) are
// left out.
func mergeCaps(all []map[string]json.RawMessage) map[string]any {
	out := map[string]any{}
	flag := func(raw json.RawMessage, key string) bool {
		v, err := jsonobj.Member(raw, key)
		return err == nil && string(v) == "true"
	}
	for _, caps := range all {
		for _, feature := range []string{"tools", "prompts", "resources"} {
			raw, ok := caps[feature]
			if !ok || string(raw) == "null" {
				continue
			}
			f, _ := out[feature].(map[string]bool)
			if f == nil {
				f = map[string]bool{}
				out[feature] = f
			}
			if flag(raw, "listChanged") {
				f["listChanged"] = true
			}
			if feature == "resources" && flag(raw, "subscribe") {
				f["subscribe"] = true
			}
		}
		for _, feature := range []string{"logging", "completions"} {
			if raw, ok := caps[feature]; ok && string(raw) != "null" {
				out[feature] = struct{}{}
			}
		}
	}
	return out
}

// mergeInstructions keeps every server's instructions, each under its
// server's name (agentgateway #1346: a multiplexer that dropped them lost
// what the servers told the model).
func mergeInstructions(names []string, texts []string, sep string) string {
	var b strings.Builder
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "Server %q (its tools and prompts are named %s%sNAME, its resources mcp://%s/URI):\n%s", names[i], names[i], sep, names[i], t)
	}
	return b.String()
}

// fedInitialize opens a session with every member and answers with the
// merged result. The session holds a leg per member that answered.
func (h *Handler) fedInitialize(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	if st.sess != nil {
		return &plugin.Error{Status: http.StatusBadRequest, Code: codeInvalid, Public: "initialize inside a session: start a new session without Mcp-Session-Id"}
	}
	if !h.sessions.reserve(x.Consumer) {
		x.MCP.Outcome = plugin.MCPDenied
		return &plugin.Error{Status: http.StatusTooManyRequests, Code: codeQuota,
			Public: fmt.Sprintf("this consumer already has %d open sessions on this route, its limit; end one (DELETE) or wait for one to expire", h.cfg.MaxPerConsumer)}
	}
	opened := false
	defer func() {
		if !opened {
			h.sessions.release(x.Consumer)
		}
	}()
	results := h.fanOut(r, st, h.legs(st), func(fanLeg) []byte { return st.body })
	sess := &sessionid.State{ID: sessionid.NewID(), Consumer: x.Consumer, Issued: time.Now().Unix()}
	var caps []map[string]json.RawMessage
	var names, instructions []string
	for _, res := range results {
		var sc serverCaps
		if res.err == nil {
			if err := json.Unmarshal(res.msg.Result, &sc); err != nil || sc.ProtocolVersion == "" {
				res.err = fmt.Errorf("initialize result without a protocol version: %v", err)
			}
		}
		if res.err != nil {
			h.log.Warn("mcp server left out of a federated session: initialize failed", "mcp_server", res.m.name, "error", res.err)
			continue
		}
		sess.Legs = append(sess.Legs, sessionid.Leg{Server: res.m.name, Target: res.target, Upstream: res.sid, Version: sc.ProtocolVersion})
		if sess.Version == "" || sc.ProtocolVersion < sess.Version {
			sess.Version = sc.ProtocolVersion
		}
		caps = append(caps, sc.Capabilities)
		names = append(names, res.m.name)
		instructions = append(instructions, sc.Instructions)
	}
	if len(sess.Legs) == 0 {
		x.MCP.Outcome = plugin.MCPUpstreamError
		for _, res := range results {
			if res.shown {
				// Every server refused (an unsupported protocol version,
				// say): the client gets the first refusal as it was.
				return writeRPC(w, http.StatusOK, message.ErrorResponse(st.msg.ID, errorCode(res.msg.Error), errorMessage(res.msg.Error), nil))
			}
		}
		return &plugin.Error{Status: http.StatusBadGateway, Code: codeUnavailable,
			Public: "no MCP server of this route answered initialize", Err: results[0].err}
	}
	result := map[string]any{
		"protocolVersion": sess.Version,
		"capabilities":    mergeCaps(caps),
		"serverInfo":      map[string]string{"name": "sluice", "title": "Sluice MCP gateway: " + h.cfg.Route, "version": h.cfg.Federation.Version},
	}
	if s := mergeInstructions(names, instructions, h.sep); s != "" {
		result["instructions"] = s
	}
	body, err := json.Marshal(result)
	if err != nil {
		return err
	}
	id, err := h.cfg.Sealer.Seal(h.cfg.Route, sess)
	if err != nil {
		return err
	}
	h.sessions.open(sess.ID, x.Consumer, time.Now(), sess)
	opened = true
	x.MCP.Session = sess.ID
	w.Header().Set("Mcp-Session-Id", id)
	return writeResult(w, st.msg.ID, body)
}

// errorCode and errorMessage read a JSON-RPC error object.
func errorCode(raw json.RawMessage) int {
	var e struct{ Code int }
	_ = json.Unmarshal(raw, &e)
	if e.Code == 0 {
		return message.CodeInternalError
	}
	return e.Code
}

func errorMessage(raw json.RawMessage) string {
	var e struct{ Message string }
	_ = json.Unmarshal(raw, &e)
	return e.Message
}

// fedDiscover answers a 2026 server/discover with the members' merged
// answers: the versions every answering member supports and the union of
// their capabilities.
func (h *Handler) fedDiscover(w http.ResponseWriter, r *http.Request, st *state) error {
	results := h.fanOut(r, st, h.legs(st), func(fanLeg) []byte { return st.body })
	var caps []map[string]json.RawMessage
	var names, instructions []string
	var versions []string
	first := true
	for _, res := range results {
		var sc serverCaps
		if res.err == nil {
			if err := json.Unmarshal(res.msg.Result, &sc); err != nil {
				res.err = err
			}
		}
		if res.err != nil {
			h.log.Warn("mcp server left out of server/discover", "mcp_server", res.m.name, "error", res.err)
			continue
		}
		if first {
			versions, first = sc.SupportedVersions, false
		} else {
			versions = slices.DeleteFunc(versions, func(v string) bool { return !slices.Contains(sc.SupportedVersions, v) })
		}
		caps = append(caps, sc.Capabilities)
		names = append(names, res.m.name)
		instructions = append(instructions, sc.Instructions)
	}
	if first {
		for _, res := range results {
			if res.shown {
				return writeRPC(w, http.StatusOK, res.raw())
			}
		}
		return &plugin.Error{Status: http.StatusBadGateway, Code: codeUnavailable,
			Public: "no MCP server of this route answered server/discover", Err: results[0].err}
	}
	result := map[string]any{
		"resultType":        "complete",
		"supportedVersions": versions,
		"capabilities":      mergeCaps(caps),
		"serverInfo":        map[string]string{"name": "sluice", "title": "Sluice MCP gateway: " + h.cfg.Route, "version": h.cfg.Federation.Version},
	}
	if s := mergeInstructions(names, instructions, h.sep); s != "" {
		result["instructions"] = s
	}
	body, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return writeResult(w, st.msg.ID, body)
}

func (r fanResult) raw() []byte {
	return message.ErrorResponse(r.msg.ID, errorCode(r.msg.Error), errorMessage(r.msg.Error), nil)
}

// listKinds maps a list method to its result's array and the member of
// each item that carries the item's name.
var listKinds = map[string]struct{ array, field string }{
	"tools/list":               {"tools", "name"},
	"prompts/list":             {"prompts", "name"},
	"resources/list":           {"resources", "uri"},
	"resources/templates/list": {"resourceTemplates", "uriTemplate"},
}

// fedList fans a list request out, prefixes the names, and merges the
// pages. The gateway's cursor holds each member's own cursor, for the
// members with more to list; members without one are done.
func (h *Handler) fedList(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	kind := listKinds[st.msg.Method]
	legs := h.legs(st)
	var cursors map[string]string
	if st.msg.Params != nil {
		if raw, err := jsonobj.Member(st.msg.Params, "cursor"); err == nil && raw != nil {
			var c string
			if json.Unmarshal(raw, &c) != nil || decodeCursor(c, &cursors) != nil {
				return rpcError(w, st, message.CodeInvalidParams, "invalid cursor: pass nextCursor from this endpoint's last %s answer", st.msg.Method)
			}
			legs = slices.DeleteFunc(legs, func(l fanLeg) bool { _, ok := cursors[l.m.name]; return !ok })
		}
	}
	results := h.fanOut(r, st, legs, func(l fanLeg) []byte {
		return withParam(st.body, "cursor", cursors[l.m.name])
	})
	items := []json.RawMessage{}
	next := map[string]string{}
	var ttl *int64
	scope := ""
	answered := 0
	for _, res := range results {
		if res.err != nil {
			if !res.shown || errorCode(res.msg.Error) != message.CodeMethodNotFound {
				h.log.Warn("mcp server left out of a federated list", "method", st.msg.Method, "mcp_server", res.m.name, "error", res.err)
			}
			continue
		}
		answered++
		var page struct {
			Items      []json.RawMessage `json:"-"`
			NextCursor string            `json:"nextCursor"`
			TTL        *int64            `json:"ttlMs"`
			Scope      string            `json:"cacheScope"`
		}
		_ = json.Unmarshal(res.msg.Result, &page)
		raw, _ := jsonobj.Member(res.msg.Result, kind.array)
		_ = json.Unmarshal(raw, &page.Items)
		for _, item := range page.Items {
			item, err := h.prefixItem(item, kind.field, res.m.name)
			if err != nil {
				h.log.Warn("mcp server listed an item without a usable "+kind.field, "mcp_server", res.m.name, "error", err)
				continue
			}
			items = append(items, item)
		}
		if page.NextCursor != "" {
			next[res.m.name] = page.NextCursor
		}
		if page.TTL != nil && (ttl == nil || *page.TTL < *ttl) {
			ttl = page.TTL
		}
		if page.Scope == "private" || scope == "" {
			scope = page.Scope
		}
	}
	if answered == 0 && len(results) > 0 {
		for _, res := range results {
			if res.shown {
				return writeRPC(w, http.StatusOK, res.raw())
			}
		}
		x.MCP.Outcome = plugin.MCPUpstreamError
		return rpcError(w, st, message.CodeUnavailable, "no MCP server of this route answered %s", st.msg.Method)
	}
	b := []byte(`{`)
	b = jsonobj.AppendString(b, kind.array)
	b = append(b, ':')
	list, _ := json.Marshal(items)
	b = append(b, list...)
	if len(next) > 0 {
		b = append(b, `,"nextCursor":`...)
		b = jsonobj.AppendString(b, encodeCursor(next))
	}
	if st.msg.ProtocolVersion >= modern || r.Header.Get("Mcp-Protocol-Version") >= modern {
		b = append(b, `,"resultType":"complete"`...)
		if ttl != nil {
			b = fmt.Appendf(b, `,"ttlMs":%d`, *ttl)
		}
		if scope != "" {
			b = append(b, `,"cacheScope":`...)
			b = jsonobj.AppendString(b, scope)
		}
	}
	b = append(b, '}')
	body := h.inspect(appendResult(nil, st.msg.ID, b), st, x)
	return writeRPC(w, http.StatusOK, body)
}

// prefixItem rewrites a listed item's name (or URI) to its federated form.
func (h *Handler) prefixItem(item json.RawMessage, field, server string) (json.RawMessage, error) {
	raw, err := jsonobj.Member(item, field)
	if err != nil {
		return nil, err
	}
	var name string
	if json.Unmarshal(raw, &name) != nil || name == "" {
		return nil, fmt.Errorf("no %s", field)
	}
	return jsonobj.Set(item, field, jsonobj.AppendString(nil, h.federatedName(field, server, name)))
}

func (h *Handler) federatedName(field, server, name string) string {
	if field == "name" {
		return server + h.sep + name
	}
	return resourcePrefix + server + "/" + name
}

func encodeCursor(next map[string]string) string {
	b, _ := json.Marshal(next)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string, into *map[string]string) error {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// withParam returns body with params.key set to value, or removed when
// value is "".
func withParam(body []byte, key, value string) []byte {
	params, err := jsonobj.Member(body, "params")
	if err != nil {
		return body
	}
	if params == nil || string(params) == "null" {
		if value == "" {
			return body
		}
		params = []byte("{}")
	}
	var v []byte
	if value != "" {
		v = jsonobj.AppendString(nil, value)
	}
	np, err := jsonobj.Set(params, key, v)
	if err != nil {
		return body
	}
	out, err := jsonobj.Set(body, "params", np)
	if err != nil {
		return body
	}
	return out
}

// fedCall routes a request that names a tool, prompt or resource to the
// member that owns it, with the member's own name for it.
func (h *Handler) fedCall(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange) error {
	var m *member
	var orig string
	body := st.body
	switch st.msg.Method {
	case "tools/call", "prompts/get":
		m, orig = h.split(st.msg.Name)
		if m != nil {
			body = withParam(body, "name", orig)
		}
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		m, orig = h.splitURI(st.msg.Name)
		if m != nil {
			body = withParam(body, "uri", orig)
		}
	case "completion/complete":
		m, body = h.routeCompletion(st)
	default:
		return rpcError(w, st, message.CodeMethodNotFound, "method %q is not supported on a federated MCP endpoint", st.msg.Method)
	}
	if m == nil {
		if st.msg.Method == "tools/call" {
			x.MCP.Outcome = plugin.MCPError
		}
		return rpcError(w, st, message.CodeInvalidParams, "%q names no server of this endpoint: federated names are SERVER%sNAME, resources mcp://SERVER/URI", st.msg.Name, h.sep)
	}
	leg, ok := h.legOf(st, m)
	if !ok {
		x.MCP.Outcome = plugin.MCPUpstreamError
		return rpcError(w, st, message.CodeUnavailable, "MCP server %q is not part of this session: it failed when the session began; start a new session", m.name)
	}
	c, err := h.send(r, m, leg, body, func(hd http.Header) {
		if hd.Get("Mcp-Name") != "" && orig != "" {
			hd.Set("Mcp-Name", message.EncodeHeaderValue(orig))
		}
	})
	if err != nil {
		x.MCP.Outcome = plugin.MCPUpstreamError
		if r.Context().Err() != nil {
			return nil
		}
		return rpcError(w, st, message.CodeUnavailable, "MCP server %q is unreachable", m.name)
	}
	defer c.close()
	x.Target = inprocTarget
	if c.target != nil {
		x.Target = c.target.Host()
	}
	return h.fedRelay(w, r, st, x, c)
}

// routeCompletion routes completion/complete by its reference: a prompt's
// name or a resource template's URI.
func (h *Handler) routeCompletion(st *state) (*member, []byte) {
	ref, err := jsonobj.Member(st.msg.Params, "ref")
	if err != nil || ref == nil {
		return nil, nil
	}
	var r struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	if json.Unmarshal(ref, &r) != nil {
		return nil, nil
	}
	var m *member
	var field, orig string
	switch r.Type {
	case "ref/prompt":
		m, orig = h.split(r.Name)
		field = "name"
	case "ref/resource":
		m, orig = h.splitURI(r.URI)
		field = "uri"
	}
	if m == nil {
		return nil, nil
	}
	nref, err := jsonobj.Set(ref, field, jsonobj.AppendString(nil, orig))
	if err != nil {
		return nil, nil
	}
	np, err := jsonobj.Set(st.msg.Params, "ref", nref)
	if err != nil {
		return nil, nil
	}
	body, err := jsonobj.Set(st.body, "params", np)
	if err != nil {
		return nil, nil
	}
	return m, body
}

// fedRelay passes a member's answer to a routed request on, rewriting
// what names the member (server requests' ids, resource URIs, event ids).
func (h *Handler) fedRelay(w http.ResponseWriter, r *http.Request, st *state, x *plugin.Exchange, c *legCall) error {
	resp := c.resp
	status := resp.StatusCode
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		x.MCP.Outcome = plugin.MCPUpstreamError
		return &plugin.Error{Status: http.StatusBadGateway, Code: codeUnavailable,
			Public: fmt.Sprintf("MCP server %q refused the gateway's credentials", c.m.name),
			Err:    fmt.Errorf("upstream answered %d", status)}
	}
	if status == http.StatusNotFound && st.sess != nil {
		// A member ended its session: the virtual session is incomplete,
		// so it ends too and the client starts over.
		h.sessions.remove(st.sess.ID)
		go h.ender(st.sess)()
		return &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession,
			Public: fmt.Sprintf("session not found: MCP server %q ended its part of it; start a new session with initialize", c.m.name)}
	}
	hdr := w.Header()
	copyHeaders(hdr, resp.Header, responseHeaders)
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "text/event-stream") {
		return h.fedStream(w, r, st, x, []*legCall{c})
	}
	if !strings.HasPrefix(ct, "application/json") {
		w.WriteHeader(status)
		_, err := io.Copy(newFlushWriter(w), resp.Body)
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInspect+1))
	if err != nil {
		return h.cut(x, err)
	}
	if len(body) <= maxInspect {
		body = h.fedMessage(c.m.name, body, st, x)
	}
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

// fedMessage rewrites one message from a member for the client: a server
// request's id carries the member (the client's response is routed back
// by it); resource URIs in resources/read results and resource update
// notifications take their federated form; an answer to the client's
// request is inspected as on a single-server route.
func (h *Handler) fedMessage(server string, data []byte, st *state, x *plugin.Exchange) []byte {
	m, err := message.Parse(data)
	if err != nil {
		return data
	}
	switch m.Kind {
	case message.Request:
		id := jsonobj.AppendString(nil, server+":"+string(m.ID))
		if out, err := jsonobj.Set(data, "id", id); err == nil {
			return out
		}
	case message.Notification:
		if m.Method == "notifications/resources/updated" && m.Params != nil {
			var p struct {
				URI string `json:"uri"`
			}
			if json.Unmarshal(m.Params, &p) == nil && p.URI != "" {
				return withParam(data, "uri", h.federatedName("uri", server, p.URI))
			}
		}
	case message.Response:
		if st != nil && bytes.Equal(m.ID, st.msg.ID) {
			if st.msg.Method == "resources/read" && m.Result != nil {
				data = h.prefixContents(data, m.Result, server)
			}
			return h.inspect(data, st, x)
		}
	}
	return data
}

// prefixContents gives the URIs of a resources/read result's contents
// their federated form.
func (h *Handler) prefixContents(data, result []byte, server string) []byte {
	raw, err := jsonobj.Member(result, "contents")
	if err != nil || raw == nil {
		return data
	}
	var contents []json.RawMessage
	if json.Unmarshal(raw, &contents) != nil {
		return data
	}
	for i, c := range contents {
		if nc, err := h.prefixItem(c, "uri", server); err == nil {
			contents[i] = nc
		}
	}
	list, _ := json.Marshal(contents)
	nr, err := jsonobj.Set(result, "contents", list)
	if err != nil {
		return data
	}
	out, err := jsonobj.Set(data, "result", nr)
	if err != nil {
		return data
	}
	return out
}

// fedRespond routes the client's response to a server's request back to
// the member that asked, with the member's own id.
func (h *Handler) fedRespond(w http.ResponseWriter, r *http.Request, st *state) error {
	var fid string
	if json.Unmarshal(st.msg.ID, &fid) != nil {
		return &plugin.Error{Status: http.StatusBadRequest, Code: codeInvalid, Public: "this response answers no request of this endpoint's servers"}
	}
	server, orig, _ := strings.Cut(fid, ":")
	m := h.member(server)
	if m == nil || !json.Valid([]byte(orig)) {
		return &plugin.Error{Status: http.StatusBadRequest, Code: codeInvalid, Public: "this response answers no request of this endpoint's servers"}
	}
	leg, ok := h.legOf(st, m)
	if !ok {
		return &plugin.Error{Status: http.StatusNotFound, Code: codeNoSession, Public: fmt.Sprintf("MCP server %q is not part of this session", server)}
	}
	body, err := jsonobj.Set(st.body, "id", []byte(orig))
	if err != nil {
		return &plugin.Error{Status: http.StatusBadRequest, Code: codeInvalid, Public: "malformed response"}
	}
	c, err := h.send(r, m, leg, body, nil)
	if err != nil {
		return &plugin.Error{Status: http.StatusBadGateway, Code: codeUnavailable, Public: fmt.Sprintf("MCP server %q is unreachable", server), Err: err}
	}
	defer c.close()
	_, _ = io.Copy(io.Discard, io.LimitReader(c.resp.Body, 64<<10))
	w.WriteHeader(c.resp.StatusCode)
	return nil
}

// fedNotify sends a client notification to every member of the session.
func (h *Handler) fedNotify(w http.ResponseWriter, r *http.Request, st *state) error {
	var wg sync.WaitGroup
	for _, l := range h.legs(st) {
		wg.Go(func() {
			c, err := h.send(r, l.m, l.leg, st.body, nil)
			if err != nil {
				h.log.Warn("mcp server did not take a notification", "method", st.msg.Method, "mcp_server", l.m.name, "error", err)
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(c.resp.Body, 64<<10))
			c.close()
		})
	}
	wg.Wait()
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// fedDelete ends the session at every member.
func (h *Handler) fedDelete(w http.ResponseWriter, r *http.Request, st *state) error {
	if st.sess == nil {
		return &plugin.Error{Status: http.StatusMethodNotAllowed, Code: codeInvalid,
			Public: "DELETE ends a session: send Mcp-Session-Id", Header: http.Header{"Allow": {"GET, POST, DELETE"}}}
	}
	h.sessions.remove(st.sess.ID)
	h.endLegs(r.Context(), st.sess)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endLegs sends DELETE to each member that keeps a session for sess.
func (h *Handler) endLegs(ctx context.Context, sess *sessionid.State) {
	r := (&http.Request{Method: http.MethodDelete, Header: http.Header{}, URL: &url.URL{}}).WithContext(ctx)
	var wg sync.WaitGroup
	for i := range sess.Legs {
		leg := &sess.Legs[i]
		m := h.member(leg.Server)
		if m == nil || leg.Upstream == "" {
			continue
		}
		wg.Go(func() {
			c, err := h.send(r, m, leg, nil, nil)
			if err == nil {
				c.close()
			}
		})
	}
	wg.Wait()
}
