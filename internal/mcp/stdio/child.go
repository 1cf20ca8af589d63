package stdio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// maxStderrLine is where a stderr line is cut into several log records.
const maxStderrLine = 64 << 10

var (
	errExited      = errors.New("process exited")
	errSessionGone = errors.New("session ended")
	errDuplicateID = errors.New("a request with this id is already in flight in this session")
)

// A child is one running stdio server and the bridge's view of its JSON-RPC
// traffic. Goroutines: readStdout routes what the child writes, readStderr
// logs, writeStdin serializes what the bridge sends, wait reaps the process
// and cleans up.
type child struct {
	srv     *Server
	cmd     *exec.Cmd
	started time.Time
	log     *slog.Logger

	stdin, stdout, stderr *os.File
	in                    chan []byte   // encoded lines, each ending in '\n'
	stdoutDone            chan struct{} // readStdout returned
	stderrDone            chan struct{} // readStderr returned
	exited                chan struct{} // the process has been reaped
	done                  chan struct{} // the exit has been handled; exitMsg is set
	exitMsg               string

	stopping  atomic.Bool // asked to stop: its exit is not a crash
	stopOnce  sync.Once
	stdinOnce sync.Once
	nextID    atomic.Int64

	mu         sync.Mutex
	gone       bool            // exit handled: accepts no sessions and no calls
	pending    map[int64]*call // forwarded requests by bridge id
	sessions   map[*session]struct{}
	toClient   map[any]*session // child's requests to clients, by id, and where each went
	last       *session         // the session that most recently sent something
	init       initState        // shared mode
	killReason string
}

// initState tracks the one initialize of a shared child.
type initState struct {
	phase    int             // initNone, initPending or initDone
	result   json.RawMessage // the InitializeResult, once done
	wait     chan struct{}   // closed when a pending initialize ends either way
	notified bool            // notifications/initialized has been forwarded
}

const (
	initNone = iota
	initPending
	initDone
)

// A call is a client request forwarded to the child and not yet answered.
type call struct {
	sess     *session
	id       jsonrpc.ID      // the client's id
	bridgeID int64           // the id the child sees
	token    json.RawMessage // the client's progress token, nil if none
	st       *stream         // where the response (and, if sse, related messages) go
	sse      bool
	init     bool // the shared child's initialize: cache its result
}

// startChild starts the process and its goroutines.
func (s *Server) startChild() (*child, error) {
	cmd := exec.Command(s.path, s.cfg.Command[1:]...)
	cmd.Args[0] = s.cfg.Command[0] // argv[0] as configured, not as resolved
	cmd.Env = s.env
	cmd.Dir = s.cfg.Dir
	setProcessGroup(cmd)
	// os.Pipe rather than cmd.StdoutPipe: Wait does not wait for these, the
	// ends are pollable so Close unblocks a Read or Write stuck on a child
	// (or grandchild) that never closes them, and nothing is copied.
	var files []*os.File
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		files = append(files, r, w)
		return r, w, err
	}
	closeAll := func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}
	stdinR, stdinW, err1 := pipe()
	stdoutR, stdoutW, err2 := pipe()
	stderrR, stderrW, err3 := pipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		closeAll()
		return nil, fmt.Errorf("stdio server %q: pipes: %w", s.cfg.Name, err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, stdoutW, stderrW
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("stdio server %q: start %s: %w", s.cfg.Name, s.cfg.Command[0], err)
	}
	// The child holds its own copies now.
	stdinR.Close()
	stdoutW.Close()
	stderrW.Close()

	c := &child{
		srv:        s,
		cmd:        cmd,
		started:    time.Now(),
		log:        s.log.With("pid", cmd.Process.Pid),
		stdin:      stdinW,
		stdout:     stdoutR,
		stderr:     stderrR,
		in:         make(chan []byte, 256),
		stdoutDone: make(chan struct{}),
		stderrDone: make(chan struct{}),
		exited:     make(chan struct{}),
		done:       make(chan struct{}),
		pending:    make(map[int64]*call),
		sessions:   make(map[*session]struct{}),
		toClient:   make(map[any]*session),
	}
	c.log.Debug("stdio server started", "command", s.cfg.Command)
	s.wg.Add(4)
	go c.readStdout()
	go c.readStderr()
	go c.writeStdin()
	go c.wait()
	return c, nil
}

func (c *child) readStdout() {
	defer c.srv.wg.Done()
	defer close(c.stdoutDone)
	limit := int(c.srv.cfg.MaxMessageBytes)
	sc := bufio.NewScanner(c.stdout)
	// +1 for the newline: a message of exactly MaxMessageBytes is allowed.
	sc.Buffer(make([]byte, 0, min(64<<10, limit+1)), limit+1)
	for sc.Scan() {
		if line := sc.Bytes(); len(line) > 0 {
			c.handleLine(line)
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		reason := fmt.Sprintf("killed by the bridge: a stdout line is longer than MaxMessageBytes (%d)", limit)
		c.log.Error("stdio server broke the protocol; killing it", "reason", reason)
		c.mu.Lock()
		c.killReason = reason
		c.mu.Unlock()
		kill(c.cmd.Process)
	}
}

func (c *child) readStderr() {
	defer c.srv.wg.Done()
	defer close(c.stderrDone)
	sc := bufio.NewScanner(c.stderr)
	sc.Buffer(make([]byte, 0, 4096), maxStderrLine+1)
	sc.Split(splitLines(maxStderrLine))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			c.log.Info("stdio server stderr", "line", line)
		}
	}
}

func (c *child) writeStdin() {
	defer c.srv.wg.Done()
	for {
		select {
		case line := <-c.in:
			// After stop closed stdin, or the child died, writes fail; keep
			// draining so that senders never block on a dead child.
			if _, err := c.stdin.Write(line); err != nil && !c.stopping.Load() {
				c.log.Debug("writing to stdin failed", "error", err)
			}
		case <-c.exited:
			return
		}
	}
}

// wait reaps the process, lets the readers finish, and then fails what is
// still pending and ends the child's sessions.
func (c *child) wait() {
	defer c.srv.wg.Done()
	err := c.cmd.Wait()
	close(c.exited)
	// Whatever the child started goes with it; that also closes pipes a
	// grandchild may hold, so the readers see EOF.
	killGroup(c.cmd.Process)
	c.closeStdin()
	grace := time.NewTimer(c.srv.cfg.ShutdownTimeout)
	for _, ch := range []chan struct{}{c.stdoutDone, c.stderrDone} {
		select {
		case <-ch:
		case <-grace.C:
			// Something still holds the write end: stop reading.
			c.stdout.Close()
			c.stderr.Close()
			<-ch
		}
	}
	grace.Stop()
	c.stdout.Close()
	c.stderr.Close()

	var status string
	if c.cmd.ProcessState != nil {
		status = c.cmd.ProcessState.String()
	} else {
		status = err.Error()
	}
	c.mu.Lock()
	if c.killReason != "" {
		status += "; " + c.killReason
	}
	c.mu.Unlock()
	c.srv.childExited(c, status)
}

func (c *child) closeStdin() { c.stdinOnce.Do(func() { c.stdin.Close() }) }

// stop shuts the child down as the stdio transport prescribes and waits
// until its exit has been handled. It may be called many times, from many
// goroutines.
func (c *child) stop() {
	c.stopOnce.Do(func() {
		c.stopping.Store(true)
		c.closeStdin()
		half := c.srv.cfg.ShutdownTimeout / 2
		if c.waitExited(half) {
			return
		}
		c.log.Warn("stdio server ignored the end of stdin; sending SIGTERM")
		terminate(c.cmd.Process)
		if c.waitExited(half) {
			return
		}
		c.log.Warn("stdio server ignored SIGTERM; sending SIGKILL")
		kill(c.cmd.Process)
	})
	<-c.done
}

func (c *child) waitExited(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
		return false
	}
}

// childExited handles the end of c: every pending request gets an error
// response, every session ends, and the process slot is freed.
func (s *Server) childExited(c *child, status string) {
	msg := fmt.Sprintf("stdio server %q: process exited (%s)", s.cfg.Name, status)
	if c.stopping.Load() {
		c.log.Debug("stdio server stopped", "status", status)
	} else {
		s.crashes.Add(1)
		c.log.Warn("stdio server exited unexpectedly", "status", status)
	}
	c.mu.Lock()
	c.gone = true
	c.exitMsg = msg
	sessions := make([]*session, 0, len(c.sessions))
	for sess := range c.sessions {
		sessions = append(sessions, sess)
	}
	c.resetInitLocked()
	c.mu.Unlock()
	// Free the slot before the sessions end, so that a client seeing its
	// error response also sees the process gone from Stats.
	s.mu.Lock()
	delete(s.children, c)
	s.procs--
	s.mu.Unlock()
	for _, sess := range sessions {
		s.endSession(sess, msg, false)
	}
	close(c.done)
}

// send queues m for the child's stdin. It fails with errExited once the
// process is gone.
func (c *child) send(ctx context.Context, m jsonrpc.Message) error {
	line, err := encodeLine(m)
	if err != nil {
		return err
	}
	select {
	case c.in <- line:
		return nil
	case <-c.exited:
		return errExited
	case <-ctx.Done():
		return ctx.Err()
	}
}

// trySend queues m without blocking, for the reader and for cleanup, which
// must never wait on the child.
func (c *child) trySend(m jsonrpc.Message) {
	if closed(c.exited) {
		return
	}
	line, err := encodeLine(m)
	if err != nil {
		c.log.Warn("cannot encode a message for the child", "error", err)
		return
	}
	select {
	case c.in <- line:
	default:
		c.log.Warn("stdin queue full; dropping a message for the child", "message", truncate(line, 200))
	}
}

// attach adds a new session to c.
func (c *child) attach(sess *session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return errExited
	}
	sess.child = c
	c.sessions[sess] = struct{}{}
	return nil
}

// startCall forwards a client request under a fresh id. The response, and
// related messages when sse is set, will be put on st.
func (c *child) startCall(ctx context.Context, sess *session, req *jsonrpc.Request, st *stream, sse, init bool) error {
	bid := c.nextID.Add(1)
	params, token := swapProgressToken(req.Params, strconv.AppendInt(nil, bid, 10))
	out := &jsonrpc.Request{ID: bridgeID(bid), Method: req.Method, Params: params}
	cl := &call{sess: sess, id: req.ID, bridgeID: bid, token: token, st: st, sse: sse, init: init}
	key := req.ID.Raw()

	c.mu.Lock()
	if c.gone || sess.gone.Load() {
		c.mu.Unlock()
		return errSessionGone
	}
	if _, dup := sess.calls[key]; dup {
		c.mu.Unlock()
		return errDuplicateID
	}
	c.pending[bid] = cl
	sess.calls[key] = cl
	c.last = sess
	if sse {
		sess.posts = append(sess.posts, st)
		if sess.get == nil {
			c.flushBacklogLocked(sess, st)
		}
	}
	c.mu.Unlock()

	err := c.send(ctx, out)
	if errors.Is(err, errExited) {
		// The call is registered, so the exit handling answers it.
		return nil
	}
	if err != nil {
		c.mu.Lock()
		if c.pending[bid] == cl {
			delete(c.pending, bid)
			delete(sess.calls, key)
		}
		sess.removePost(st)
		c.mu.Unlock()
	}
	return err
}

// notify forwards a client notification, translating what refers to ids.
func (c *child) notify(ctx context.Context, sess *session, req *jsonrpc.Request) error {
	switch req.Method {
	case methodCancelled:
		id, err := idFromJSON(objectField(req.Params, "requestId"))
		if err != nil {
			return nil // nothing we know to cancel
		}
		c.mu.Lock()
		cl := sess.calls[id.Raw()]
		if cl == nil || cl.init || sess.gone.Load() {
			// Already answered (or never sent): nothing to cancel. The spec
			// forbids cancelling initialize.
			c.mu.Unlock()
			return nil
		}
		delete(sess.calls, id.Raw())
		delete(c.pending, cl.bridgeID)
		c.mu.Unlock()
		// The child will not answer a cancelled request, so its stream
		// ends here.
		cl.st.end()
		params, _, _ := replaceField(req.Params, "requestId", strconv.AppendInt(nil, cl.bridgeID, 10))
		return c.send(ctx, &jsonrpc.Request{Method: req.Method, Params: params})
	case methodInitialized:
		if c.srv.sharedMode() {
			c.mu.Lock()
			seen := c.init.notified
			c.init.notified = true
			c.mu.Unlock()
			if seen {
				return nil // the child has been told once; a second would be a protocol error
			}
		}
	}
	c.mu.Lock()
	gone := c.gone || sess.gone.Load()
	if !gone {
		c.last = sess
	}
	c.mu.Unlock()
	if gone {
		return errSessionGone
	}
	return c.send(ctx, req)
}

// answer forwards a client's response to a request the child sent. Only the
// session the request was delivered to may answer it.
func (c *child) answer(ctx context.Context, sess *session, resp *jsonrpc.Response) error {
	key := resp.ID.Raw()
	c.mu.Lock()
	owner := c.toClient[key]
	if owner == sess {
		delete(c.toClient, key)
	}
	c.mu.Unlock()
	if owner != sess {
		c.log.Debug("dropping a client response to no request of this session", "id", key)
		return nil
	}
	return c.send(ctx, resp)
}

// handleLine routes one line of the child's stdout.
func (c *child) handleLine(line []byte) {
	msg, err := jsonrpc.DecodeMessage(line)
	if err != nil {
		c.log.Warn("skipping a stdout line that is not JSON-RPC", "error", err, "line", truncate(line, 200))
		return
	}
	switch m := msg.(type) {
	case *jsonrpc.Response:
		c.fromChildResponse(m)
	case *jsonrpc.Request:
		if m.IsCall() {
			c.fromChildRequest(m)
		} else {
			c.fromChildNotification(m)
		}
	}
}

func (c *child) fromChildResponse(m *jsonrpc.Response) {
	bid, _ := m.ID.Raw().(int64)
	c.mu.Lock()
	cl := c.pending[bid]
	if cl == nil {
		c.mu.Unlock()
		// Cancelled, or its session ended: nobody waits for it.
		c.log.Debug("dropping a response to no pending request", "id", m.ID.Raw())
		return
	}
	delete(c.pending, bid)
	if cl.sess.calls[cl.id.Raw()] == cl {
		delete(cl.sess.calls, cl.id.Raw())
	}
	if cl.init {
		if m.Error == nil && len(m.Result) > 0 {
			c.init.phase = initDone
			c.init.result = m.Result
			c.closeInitWaitLocked()
		} else {
			c.resetInitLocked()
		}
	}
	c.mu.Unlock()
	cl.st.finish(&jsonrpc.Response{ID: cl.id, Result: m.Result, Error: m.Error})
}

// resetInitLocked lets the next initialize try again.
func (c *child) resetInitLocked() {
	if c.init.phase == initPending {
		c.init.phase = initNone
	}
	c.closeInitWaitLocked()
}

func (c *child) closeInitWaitLocked() {
	if c.init.wait != nil {
		close(c.init.wait)
		c.init.wait = nil
	}
}

// fromChildRequest delivers a request of the child (sampling, elicitation,
// roots, ping) to one session.
func (c *child) fromChildRequest(m *jsonrpc.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sess := c.targetLocked()
	if sess == nil {
		c.trySend(errorResponse(m.ID, jsonrpc.CodeInternalError,
			fmt.Sprintf("stdio bridge %q: no client session is connected to answer %s", c.srv.cfg.Name, m.Method)))
		return
	}
	// In session mode the child knows its client's capabilities; in shared
	// mode it knows only the first client's, so check the real one.
	if capName := capabilityFor(m.Method); capName != "" && c.srv.sharedMode() && !sess.caps[capName] {
		c.trySend(errorResponse(m.ID, jsonrpc.CodeMethodNotFound,
			fmt.Sprintf("stdio bridge %q: the client session did not declare the %q capability", c.srv.cfg.Name, capName)))
		return
	}
	c.toClient[m.ID.Raw()] = sess
	c.deliverLocked(sess, m)
}

// targetLocked picks the session a request of the child is meant for. A
// stdio request carries no hint, so in shared mode this is a guess: the
// session with the newest pending request (sampling is usually asked for
// while a tool call runs), else the one heard from last.
func (c *child) targetLocked() *session {
	if len(c.sessions) == 1 {
		for sess := range c.sessions {
			return sess
		}
	}
	var best *call
	for _, cl := range c.pending {
		if !cl.sess.gone.Load() && (best == nil || cl.bridgeID > best.bridgeID) {
			best = cl
		}
	}
	if best != nil {
		return best.sess
	}
	if c.last != nil && !c.last.gone.Load() {
		return c.last
	}
	return nil
}

func (c *child) fromChildNotification(m *jsonrpc.Request) {
	switch m.Method {
	case methodProgress:
		bid, err := strconv.ParseInt(string(objectField(m.Params, "progressToken")), 10, 64)
		c.mu.Lock()
		cl := c.pending[bid]
		if err != nil || cl == nil || cl.token == nil || !cl.sse {
			c.mu.Unlock()
			c.log.Debug("dropping a progress notification for no streaming request")
			return
		}
		st, token := cl.st, cl.token
		c.mu.Unlock()
		params, _, _ := replaceField(m.Params, "progressToken", token)
		if ok, _ := st.push(&jsonrpc.Request{Method: m.Method, Params: params}); !ok {
			c.log.Debug("dropping a progress notification for a closed stream")
		}
	case methodCancelled:
		// The child gave up on one of its requests: tell the session it
		// went to, and only that one.
		id, err := idFromJSON(objectField(m.Params, "requestId"))
		if err != nil {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if sess := c.toClient[id.Raw()]; sess != nil {
			delete(c.toClient, id.Raw())
			c.deliverLocked(sess, m)
		}
	case methodMessage:
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.pending) == 1 {
			for _, cl := range c.pending {
				if cl.sse && !cl.sess.gone.Load() {
					if ok, _ := cl.st.push(m); ok {
						return
					}
				}
			}
		}
		c.broadcastLocked(m)
	default:
		c.mu.Lock()
		defer c.mu.Unlock()
		c.broadcastLocked(m)
	}
}

// broadcastLocked gives a notification to every session of c: the one
// session in session mode, all of them in shared mode.
func (c *child) broadcastLocked(m jsonrpc.Message) {
	for sess := range c.sessions {
		c.deliverLocked(sess, m)
	}
}

// deliverLocked queues a server-initiated message for sess: on its GET
// stream, else on its newest open POST stream, else in its backlog.
func (c *child) deliverLocked(sess *session, m jsonrpc.Message) {
	if sess.gone.Load() {
		c.droppedLocked(m, "its session ended")
		return
	}
	if sess.get != nil {
		if ok, dropped := sess.get.push(m); ok {
			c.droppedLocked(dropped, "the client does not read its GET stream")
			return
		}
	}
	for i := len(sess.posts) - 1; i >= 0; i-- {
		if ok, dropped := sess.posts[i].push(m); ok {
			c.droppedLocked(dropped, "the client does not read its POST stream")
			return
		}
	}
	sess.backlog = append(sess.backlog, m)
	if len(sess.backlog) > maxQueued {
		c.droppedLocked(sess.backlog[0], "the session has no open stream and its backlog is full")
		sess.backlog = sess.backlog[1:]
	}
}

// flushBacklogLocked moves what sess has queued onto a stream just opened.
func (c *child) flushBacklogLocked(sess *session, st *stream) {
	for _, m := range sess.backlog {
		if _, dropped := st.push(m); dropped != nil {
			c.droppedLocked(dropped, "the backlog exceeds a stream's queue")
		}
	}
	sess.backlog = nil
}

// droppedLocked logs a message that cannot be delivered. A dropped request
// is answered to the child, which would otherwise wait for it forever.
func (c *child) droppedLocked(m jsonrpc.Message, why string) {
	if m == nil {
		return
	}
	req, ok := m.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		c.log.Debug("dropping a server notification", "why", why)
		return
	}
	c.log.Warn("dropping a server request", "method", req.Method, "why", why)
	delete(c.toClient, req.ID.Raw())
	c.trySend(errorResponse(req.ID, jsonrpc.CodeInternalError,
		fmt.Sprintf("stdio bridge %q: request not delivered: %s", c.srv.cfg.Name, why)))
}
