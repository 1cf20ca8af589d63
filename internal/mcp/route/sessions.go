package route

import (
	"sync"
	"time"

	"github.com/sluicegw/sluice/internal/mcp/sessionid"
)

// sessions is this gateway's view of the route's open sessions: enough to
// enforce idle timeouts and per-consumer quotas. The routing state itself
// lives in the sealed session id, so a session this table has never seen
// (opened on another replica, or before a restart) is adopted on first
// use; quotas and idle timeouts are therefore per gateway.
type sessions struct {
	mu          sync.Mutex
	m           map[string]*session
	perConsumer map[string]int
	max         int // per consumer; 0 = no cap
	idle        time.Duration
	onChange    func(delta int)
}

type session struct {
	consumer string
	last     time.Time
	ended    bool
	// state, when set, lets the gateway end the session at its upstream
	// (best effort) when it expires it; nil for legacy SSE sessions, which
	// end with their stream.
	state *sessionid.State
}

func newSessions(max int, idle time.Duration, onChange func(int)) *sessions {
	if onChange == nil {
		onChange = func(int) {}
	}
	return &sessions{m: map[string]*session{}, perConsumer: map[string]int{}, max: max, idle: idle, onChange: onChange}
}

// reserve takes a slot for a new session of consumer, or reports that the
// consumer is at its cap. release gives an unused reservation back.
func (s *sessions) reserve(consumer string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && s.perConsumer[consumer] >= s.max {
		return false
	}
	s.perConsumer[consumer]++
	return true
}

func (s *sessions) release(consumer string) {
	s.mu.Lock()
	s.dec(consumer)
	s.mu.Unlock()
}

func (s *sessions) dec(consumer string) {
	if s.perConsumer[consumer] <= 1 {
		delete(s.perConsumer, consumer)
	} else {
		s.perConsumer[consumer]--
	}
}

// open records a session whose reservation succeeded.
func (s *sessions) open(id, consumer string, now time.Time, state *sessionid.State) {
	s.mu.Lock()
	s.m[id] = &session{consumer: consumer, last: now, state: state}
	s.mu.Unlock()
	s.onChange(1)
}

// touch marks the session used now. It reports false when the session has
// been idle past the timeout (it is then removed) or was ended here.
// A session not in the table is adopted.
func (s *sessions) touch(state *sessionid.State, now time.Time) bool {
	id, consumer := state.ID, state.Consumer
	s.mu.Lock()
	e, ok := s.m[id]
	if !ok {
		s.m[id] = &session{consumer: consumer, last: now, state: state}
		s.perConsumer[consumer]++
		s.mu.Unlock()
		s.onChange(1)
		return true
	}
	if e.ended || (s.idle > 0 && now.Sub(e.last) > s.idle) {
		s.removeLocked(id, e)
		s.mu.Unlock()
		return false
	}
	e.last = now
	s.mu.Unlock()
	return true
}

// remove forgets a session that ended (DELETE, upstream 404).
func (s *sessions) remove(id string) {
	s.mu.Lock()
	e, ok := s.m[id]
	if ok {
		s.removeLocked(id, e)
	}
	s.mu.Unlock()
}

func (s *sessions) removeLocked(id string, e *session) {
	delete(s.m, id)
	s.dec(e.consumer)
	s.onChange(-1)
}

// sweep removes sessions idle past the timeout and returns their states,
// to be ended upstream without the lock.
func (s *sessions) sweep(now time.Time) []*sessionid.State {
	if s.idle <= 0 {
		return nil
	}
	var ends []*sessionid.State
	s.mu.Lock()
	for id, e := range s.m {
		if now.Sub(e.last) > s.idle {
			s.removeLocked(id, e)
			if e.state != nil {
				ends = append(ends, e.state)
			}
		}
	}
	s.mu.Unlock()
	return ends
}

// has reports whether the session is open (not ended or expired).
func (s *sessions) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	return ok
}

// len returns the number of open sessions.
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
