package stdio

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// A session is one MCP session of one client, bound to one child.
type session struct {
	id       string // Mcp-Session-Id
	consumer string
	caps     map[string]bool // capabilities the client declared in initialize
	child    *child          // set by attach, before the session is reachable
	gone     atomic.Bool     // ended; set first thing in endSession
	active   atomic.Int64    // last activity, in Unix ns, for IdleTimeout
	done     chan struct{}   // closed when endSession has finished

	// Guarded by child.mu.
	calls   map[any]*call // pending requests by the client's id
	get     *stream       // the open GET stream, if any
	posts   []*stream     // open POST SSE streams, oldest first
	backlog []jsonrpc.Message
}

func newSession(consumer string, caps map[string]bool) *session {
	sess := &session{
		// 26 base32 characters, 130 random bits: visible ASCII as the spec
		// requires, and unguessable.
		id:       rand.Text(),
		consumer: consumer,
		caps:     caps,
		done:     make(chan struct{}),
		calls:    make(map[any]*call),
	}
	sess.touch()
	return sess
}

// touch records activity: a request, or a stream that just ended.
func (sess *session) touch() { sess.active.Store(time.Now().UnixNano()) }

func (sess *session) removePost(st *stream) {
	sess.posts = slices.DeleteFunc(sess.posts, func(x *stream) bool { return x == st })
}

// endSession ends sess: its pending requests are answered with an error
// carrying msg, its streams end, its requests to the client are answered to
// the child with an error, and it stops counting against its consumer.
// cancel also tells the child to cancel those requests, for a child that
// outlives the session (shared mode). It does not stop the child. It is
// idempotent.
func (s *Server) endSession(sess *session, msg string, cancel bool) {
	if !sess.gone.CompareAndSwap(false, true) {
		<-sess.done
		return
	}
	// Unregister first, so that whoever sees the error responses below
	// also sees the session gone from Stats and from lookups.
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	if s.perConsumer[sess.consumer]--; s.perConsumer[sess.consumer] <= 0 {
		delete(s.perConsumer, sess.consumer)
	}
	s.mu.Unlock()
	var (
		calls   []*call
		owed    []jsonrpc.ID
		streams []*stream
	)
	c := sess.child
	if c != nil {
		c.mu.Lock()
		delete(c.sessions, sess)
		for _, cl := range sess.calls {
			calls = append(calls, cl)
			// A shared child's initialize stays pending so that its result
			// is still cached for the next session.
			if !cl.init {
				delete(c.pending, cl.bridgeID)
			}
		}
		sess.calls = nil
		for key, owner := range c.toClient {
			if owner == sess {
				delete(c.toClient, key)
				owed = append(owed, idFromKey(key))
			}
		}
		if c.last == sess {
			c.last = nil
		}
		if sess.get != nil {
			streams = append(streams, sess.get)
			sess.get = nil
		}
		streams = append(streams, sess.posts...)
		sess.posts = nil
		sess.backlog = nil
		c.mu.Unlock()

		for _, cl := range calls {
			cl.st.finish(errorResponse(cl.id, jsonrpc.CodeInternalError, msg))
			if cancel && !cl.init {
				c.trySend(cancelNotification(cl.bridgeID, "the client session ended"))
			}
		}
		for _, id := range owed {
			c.trySend(errorResponse(id, jsonrpc.CodeInternalError,
				fmt.Sprintf("stdio bridge %q: the client session ended before answering", s.cfg.Name)))
		}
		for _, st := range streams {
			st.end()
		}
	}

	close(sess.done)
}

// A stream is the queue behind one open SSE response (a POST's or a GET's),
// or behind a POST answered as JSON, which uses only final. Producers push
// without blocking; the HTTP handler drains it.
type stream struct {
	mu     sync.Mutex
	queue  []jsonrpc.Message
	final  jsonrpc.Message // the response that ends a POST's stream
	ended  bool            // ends without (further) response
	closed bool            // the handler took the end, or left: no more pushes
	wake   chan struct{}
}

func newStream() *stream { return &stream{wake: make(chan struct{}, 1)} }

func (st *stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// push queues m. ok is false if the stream takes no more messages; dropped
// is the oldest message, pushed out when the queue was full.
func (st *stream) push(m jsonrpc.Message) (ok bool, dropped jsonrpc.Message) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.ended || st.final != nil {
		return false, nil
	}
	st.queue = append(st.queue, m)
	if len(st.queue) > maxQueued {
		dropped = st.queue[0]
		st.queue = st.queue[1:]
	}
	st.signal()
	return true, dropped
}

// finish sets the response that ends the stream, unless it already ended.
func (st *stream) finish(resp jsonrpc.Message) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.ended || st.final != nil {
		return
	}
	st.final = resp
	st.signal()
}

// end makes the stream end after what is queued.
func (st *stream) end() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ended = true
	st.signal()
}

// next takes what is queued. When done is set, the stream is over: final is
// the response to write last, or nil if it ends without one.
func (st *stream) next() (msgs []jsonrpc.Message, final jsonrpc.Message, done bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	msgs, st.queue = st.queue, nil
	if st.final != nil || st.ended {
		st.closed = true
		return msgs, st.final, true
	}
	return msgs, nil, false
}

// abandon closes the stream because its client went away, and returns what
// it did not get.
func (st *stream) abandon() []jsonrpc.Message {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	msgs := st.queue
	st.queue = nil
	return msgs
}
