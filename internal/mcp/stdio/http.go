package stdio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

const sessionHeader = "Mcp-Session-Id"

// ServeHTTP serves the Streamable HTTP transport at whatever path the
// Server is mounted: POST for client messages, GET for the session's stream
// of server-initiated messages, DELETE to end a session.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		s.servePost(w, r)
	case http.MethodGet:
		s.serveGet(w, r)
	case http.MethodDelete:
		s.serveDelete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("stdio server %q: method %s is not allowed; use POST, GET or DELETE", s.cfg.Name, r.Method))
	}
}

func (s *Server) servePost(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
				fmt.Sprintf("stdio server %q: Content-Type %q is not application/json", s.cfg.Name, ct))
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxMessageBytes))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			writeError(w, http.StatusRequestEntityTooLarge, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
				fmt.Sprintf("stdio server %q: message larger than MaxMessageBytes (%d bytes)", s.cfg.Name, s.cfg.MaxMessageBytes))
			return
		}
		writeError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError,
			fmt.Sprintf("stdio server %q: reading the request body: %v", s.cfg.Name, err))
		return
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		writeError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("stdio server %q: JSON-RPC batches are not supported (MCP removed them in 2025-06-18); send one message per POST", s.cfg.Name))
		return
	}
	msg, err := jsonrpc.DecodeMessage(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeParseError,
			fmt.Sprintf("stdio server %q: not a JSON-RPC message: %v", s.cfg.Name, err))
		return
	}
	sid := r.Header.Get(sessionHeader)
	req, isReq := msg.(*jsonrpc.Request)
	if isReq && req.Method == methodInitialize {
		switch {
		case sid != "":
			writeError(w, http.StatusBadRequest, req.ID, jsonrpc.CodeInvalidRequest,
				fmt.Sprintf("stdio server %q: initialize must be sent without %s; a session is initialized once", s.cfg.Name, sessionHeader))
		case !req.IsCall():
			writeError(w, http.StatusBadRequest, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
				fmt.Sprintf("stdio server %q: initialize must be a request with an id", s.cfg.Name))
		default:
			s.serveInitialize(w, r, req)
		}
		return
	}
	var id jsonrpc.ID
	if isReq {
		id = req.ID
	}
	sess := s.session(w, r, id)
	if sess == nil {
		return
	}
	c := sess.child
	switch m := msg.(type) {
	case *jsonrpc.Request:
		if m.IsCall() {
			s.serveCall(w, r, sess, m)
			return
		}
		if err := c.notify(r.Context(), sess, m); err != nil {
			s.writeSendError(w, r, id, err)
			return
		}
	case *jsonrpc.Response:
		if err := c.answer(r.Context(), sess, m); err != nil {
			s.writeSendError(w, r, id, err)
			return
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// session finds the request's session, or writes 400 (no Mcp-Session-Id) or
// 404 (unknown, ended, or another consumer's) and returns nil.
func (s *Server) session(w http.ResponseWriter, r *http.Request, id jsonrpc.ID) *session {
	sid := r.Header.Get(sessionHeader)
	if sid == "" {
		writeError(w, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("stdio server %q: missing %s header; send initialize first", s.cfg.Name, sessionHeader))
		return nil
	}
	sess := s.lookup(sid, consumerFrom(r.Context()))
	if sess == nil {
		writeSessionNotFound(w, s.cfg.Name)
		return nil
	}
	sess.touch()
	return sess
}

// writeSessionNotFound answers 404, which tells the client to initialize a
// new session. The body's id is always null: a client seeing a JSON-RPC
// error for its request id may take it as that request's failure and keep
// using the dead session (the go-sdk client does exactly that), while an
// error without id leaves the status to speak.
func writeSessionNotFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
		fmt.Sprintf("stdio server %q: session not found (it ended, or never existed); initialize a new one", name))
}

// writeSendError answers a message that could not be forwarded.
func (s *Server) writeSendError(w http.ResponseWriter, r *http.Request, id jsonrpc.ID, err error) {
	switch {
	case r.Context().Err() != nil:
		// The client left; nobody reads this.
	case errors.Is(err, errSessionGone), errors.Is(err, errExited):
		writeSessionNotFound(w, s.cfg.Name)
	case errors.Is(err, errDuplicateID):
		writeError(w, http.StatusBadRequest, id, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("stdio server %q: %v", s.cfg.Name, err))
	default:
		writeError(w, http.StatusBadGateway, id, jsonrpc.CodeInternalError,
			fmt.Sprintf("stdio server %q: %v", s.cfg.Name, err))
	}
}

// serveCall forwards a request and streams back what belongs to it.
func (s *Server) serveCall(w http.ResponseWriter, r *http.Request, sess *session, req *jsonrpc.Request) {
	ctx := r.Context()
	sse := acceptsEventStream(r.Header.Values("Accept"))
	st := newStream()
	c := sess.child
	if err := c.startCall(ctx, sess, req, st, sse, false); err != nil {
		s.writeSendError(w, r, req.ID, err)
		return
	}
	if !sse {
		resp, err := waitFinal(ctx, st)
		if err != nil {
			if ctx.Err() == nil {
				// Cancelled by the client's notifications/cancelled.
				writeJSON(w, "", errorResponse(req.ID, jsonrpc.CodeInternalError,
					fmt.Sprintf("stdio server %q: request cancelled", s.cfg.Name)))
			}
			return
		}
		writeJSON(w, "", resp)
		sess.touch()
		return
	}
	startSSE(w, "")
	unsent := streamOut(ctx, w, st)
	sess.touch()
	c.mu.Lock()
	sess.removePost(st)
	// Requests of the child still need an answer: try another stream.
	// Notifications that belonged to this request are dropped with it.
	for _, m := range unsent {
		if m, ok := m.(*jsonrpc.Request); ok && m.IsCall() {
			c.deliverLocked(sess, m)
		}
	}
	c.mu.Unlock()
}

func (s *Server) serveInitialize(w http.ResponseWriter, r *http.Request, req *jsonrpc.Request) {
	ctx := r.Context()
	sess := newSession(consumerFrom(ctx), clientCapabilities(req.Params))
	if err := s.admit(sess); err != nil {
		s.writeStartError(w, req.ID, err)
		return
	}
	var c *child
	var err error
	if s.sharedMode() {
		c, err = s.sharedChild(ctx)
	} else {
		c, err = s.spawn(true)
	}
	if err == nil {
		err = c.attach(sess)
	}
	if err != nil {
		s.endSession(sess, "", false)
		if c != nil && !s.sharedMode() {
			c.stop()
		}
		if ctx.Err() == nil {
			s.writeStartError(w, req.ID, err)
		}
		return
	}

	var resp jsonrpc.Message
	if s.sharedMode() {
		resp, err = c.initializeShared(ctx, sess, req)
	} else {
		st := newStream()
		if err = c.startCall(ctx, sess, req, st, false, false); err == nil {
			resp, err = waitFinal(ctx, st)
		}
	}
	ok := err == nil && resp.(*jsonrpc.Response).Error == nil && s.register(sess)
	if !ok {
		msg := fmt.Sprintf("stdio server %q: initialize failed", s.cfg.Name)
		s.endSession(sess, msg, true)
		if !s.sharedMode() {
			c.stop()
		}
		switch {
		case ctx.Err() != nil:
		case err != nil:
			s.writeStartError(w, req.ID, err)
		case resp.(*jsonrpc.Response).Error != nil:
			// The child's own answer, as it gave it.
			s.writeMessage(w, r, resp, "")
		default:
			// Initialized, then gone before the session could be used: the
			// child exited (childExited sets exitMsg before it ends the
			// sessions), or Close ended it.
			c.mu.Lock()
			why := c.exitMsg
			c.mu.Unlock()
			if why == "" {
				why = fmt.Sprintf("stdio server %q: the gateway is shutting down", s.cfg.Name)
			}
			s.writeMessage(w, r, errorResponse(req.ID, jsonrpc.CodeInternalError, why), "")
		}
		return
	}
	s.writeMessage(w, r, resp, sess.id)
}

// writeStartError answers an initialize that got no session.
func (s *Server) writeStartError(w http.ResponseWriter, id jsonrpc.ID, err error) {
	status, msg := http.StatusBadGateway, err.Error() // start errors name the server already
	limit, isLimit := errors.AsType[*limitError](err)
	restarting, isRestarting := errors.AsType[*restartingError](err)
	switch {
	case isLimit:
		status, msg = http.StatusTooManyRequests, fmt.Sprintf("stdio server %q: %v", s.cfg.Name, limit)
	case isRestarting:
		secs := math.Ceil(time.Until(restarting.retryAt).Seconds())
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(secs))))
		status = http.StatusServiceUnavailable
	case errors.Is(err, errClosed):
		status, msg = http.StatusServiceUnavailable, fmt.Sprintf("stdio server %q: the gateway is shutting down", s.cfg.Name)
	case errors.Is(err, errExited), errors.Is(err, errSessionGone):
		msg = fmt.Sprintf("stdio server %q: the process exited during initialize", s.cfg.Name)
	}
	writeError(w, status, id, jsonrpc.CodeInternalError, msg)
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request) {
	sess := s.session(w, r, jsonrpc.ID{})
	if sess == nil {
		return
	}
	c := sess.child
	st := newStream()
	c.mu.Lock()
	if sess.gone.Load() {
		c.mu.Unlock()
		writeSessionNotFound(w, s.cfg.Name)
		return
	}
	if sess.get != nil {
		c.mu.Unlock()
		writeError(w, http.StatusConflict, jsonrpc.ID{}, jsonrpc.CodeInvalidRequest,
			fmt.Sprintf("stdio server %q: this session already has an open GET stream", s.cfg.Name))
		return
	}
	sess.get = st
	c.flushBacklogLocked(sess, st)
	c.mu.Unlock()

	startSSE(w, "")
	unsent := streamOut(r.Context(), w, st)
	sess.touch()
	c.mu.Lock()
	if sess.get == st {
		sess.get = nil
	}
	for _, m := range unsent {
		c.deliverLocked(sess, m)
	}
	c.mu.Unlock()
}

// serveDelete ends a session. In session mode it returns once the process
// has exited, so that the process cap and Stats are accurate when the
// client sees the answer.
func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request) {
	sess := s.session(w, r, jsonrpc.ID{})
	if sess == nil {
		return
	}
	s.endSession(sess, fmt.Sprintf("stdio server %q: the client ended the session", s.cfg.Name), true)
	if !s.sharedMode() {
		sess.child.stop()
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitFinal waits for the response that ends st.
func waitFinal(ctx context.Context, st *stream) (jsonrpc.Message, error) {
	for {
		if _, final, done := st.next(); done {
			if final == nil {
				return nil, errSessionGone
			}
			return final, nil
		}
		select {
		case <-st.wake:
		case <-ctx.Done():
			st.abandon()
			return nil, ctx.Err()
		}
	}
}

// streamOut writes st as server-sent events until it ends or the client
// goes away, and returns what the client did not get.
func streamOut(ctx context.Context, w http.ResponseWriter, st *stream) (unsent []jsonrpc.Message) {
	rc := http.NewResponseController(w)
	for {
		msgs, final, done := st.next()
		if final != nil {
			msgs = append(msgs, final)
		}
		for i, m := range msgs {
			if err := writeEvent(w, m); err != nil {
				return append(msgs[i:], st.abandon()...)
			}
		}
		if len(msgs) > 0 {
			if err := rc.Flush(); err != nil {
				return st.abandon()
			}
		}
		if done {
			return nil
		}
		select {
		case <-st.wake:
		case <-ctx.Done():
			return st.abandon()
		}
	}
}

func startSSE(w http.ResponseWriter, sessionID string) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	if sessionID != "" {
		h.Set(sessionHeader, sessionID)
	}
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
}

func writeEvent(w io.Writer, m jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(m)
	if err != nil {
		return err
	}
	// EncodeMessage output holds no raw newline, so one data line suffices.
	_, err = fmt.Fprintf(w, "event: message\ndata: %s\n\n", data)
	return err
}

// writeMessage answers a POST with one message, as SSE if the client
// accepts it, else as JSON.
func (s *Server) writeMessage(w http.ResponseWriter, r *http.Request, m jsonrpc.Message, sessionID string) {
	if !acceptsEventStream(r.Header.Values("Accept")) {
		writeJSON(w, sessionID, m)
		return
	}
	startSSE(w, sessionID)
	if writeEvent(w, m) == nil {
		_ = http.NewResponseController(w).Flush()
	}
}

func writeJSON(w http.ResponseWriter, sessionID string, m jsonrpc.Message) {
	data, err := jsonrpc.EncodeMessage(m)
	if err != nil {
		writeError(w, http.StatusBadGateway, jsonrpc.ID{}, jsonrpc.CodeInternalError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if sessionID != "" {
		w.Header().Set(sessionHeader, sessionID)
	}
	_, _ = w.Write(data)
}

// writeError writes a JSON-RPC error as the body of an HTTP error. id is
// written as null when invalid (unknown), as JSON-RPC wants.
func writeError(w http.ResponseWriter, status int, id jsonrpc.ID, code int64, msg string) {
	body, _ := marshal(struct {
		JSONRPC string         `json:"jsonrpc"`
		ID      any            `json:"id"`
		Error   *jsonrpc.Error `json:"error"`
	}{"2.0", id.Raw(), &jsonrpc.Error{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
