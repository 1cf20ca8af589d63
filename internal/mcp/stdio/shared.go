package stdio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// sharedState is the supervisor's state, guarded by Server.mu.
type sharedState struct {
	started bool          // the supervisor is running
	child   *child        // the running child; nil while starting or in backoff
	backoff string        // why there is no child, while in backoff
	retryAt time.Time     // when the backoff ends
	wake    chan struct{} // closed and replaced at every change
}

func (st *sharedState) changedLocked() {
	close(st.wake)
	st.wake = make(chan struct{})
}

// A restartingError reports that the shared child is down and waiting to be
// restarted.
type restartingError struct {
	name, why string
	retryAt   time.Time
}

func (e *restartingError) Error() string {
	return fmt.Sprintf("stdio server %q is down and will be restarted (%s); retry later", e.name, e.why)
}

// sharedChild returns the running shared child, starting the supervisor on
// first use and waiting while a child is being started.
func (s *Server) sharedChild(ctx context.Context) (*child, error) {
	s.mu.Lock()
	for {
		if s.closed {
			s.mu.Unlock()
			return nil, errClosed
		}
		if !s.shared.started {
			s.shared.started = true
			s.wg.Add(1)
			go s.supervise()
		}
		if c := s.shared.child; c != nil && !closed(c.exited) {
			s.mu.Unlock()
			return c, nil
		}
		if s.shared.backoff != "" {
			err := &restartingError{name: s.cfg.Name, why: s.shared.backoff, retryAt: s.shared.retryAt}
			s.mu.Unlock()
			return nil, err
		}
		// Starting, or the child just died and the supervisor has yet to
		// notice: wait for the next change.
		wake := s.shared.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
	}
}

// supervise keeps one shared child running until Close, restarting it after
// a crash (or a failed start) with exponential backoff.
func (s *Server) supervise() {
	defer s.wg.Done()
	delay := s.cfg.RestartBackoff
	for {
		c, err := s.spawn(false)
		if errors.Is(err, errClosed) {
			return
		}
		var why string
		if err != nil {
			s.log.Error("cannot start the shared stdio server", "error", err)
			why = err.Error()
		} else {
			s.setShared(c, "", time.Time{})
			<-c.done
			if c.stopping.Load() {
				return // only Close stops the shared child
			}
			why = c.exitMsg
			if time.Since(c.started) >= stableUptime {
				delay = s.cfg.RestartBackoff
			}
		}
		s.setShared(nil, why, time.Now().Add(delay))
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return
		}
		delay = min(2*delay, s.cfg.MaxRestartBackoff)
		s.restarts.Add(1)
		s.log.Info("restarting the shared stdio server", "after", why)
		s.setShared(nil, "", time.Time{})
	}
}

func (s *Server) setShared(c *child, backoff string, retryAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shared.child, s.shared.backoff, s.shared.retryAt = c, backoff, retryAt
	s.shared.changedLocked()
}

// initializeShared answers initialize for a new session of the shared
// child. The first one is forwarded (with the client's params) and its
// result cached; the others get the cached result. The child speaks the
// protocol version it negotiated with the first client, so that is the
// version offered to every later client too: the spec lets a server answer
// with a version other than the one requested, and lets the client refuse.
func (c *child) initializeShared(ctx context.Context, sess *session, req *jsonrpc.Request) (jsonrpc.Message, error) {
	for {
		c.mu.Lock()
		if c.gone {
			c.mu.Unlock()
			return nil, errExited
		}
		switch c.init.phase {
		case initDone:
			result := c.init.result
			c.mu.Unlock()
			return &jsonrpc.Response{ID: req.ID, Result: result}, nil
		case initPending:
			wait := c.init.wait
			c.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		default:
			c.init.phase = initPending
			c.init.wait = make(chan struct{})
			c.mu.Unlock()
			st := newStream()
			if err := c.startCall(ctx, sess, req, st, false, true); err != nil {
				c.mu.Lock()
				c.resetInitLocked()
				c.mu.Unlock()
				return nil, err
			}
			return waitFinal(ctx, st)
		}
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
