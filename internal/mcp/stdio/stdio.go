package stdio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Modes for Config.Mode.
const (
	ModeSession = "session" // one process per MCP session (default)
	ModeShared  = "shared"  // one process for all sessions
)

// Defaults for the zero values in Config.
const (
	DefaultMaxProcesses      = 32
	DefaultRestartBackoff    = 100 * time.Millisecond
	DefaultMaxRestartBackoff = 30 * time.Second
	DefaultShutdownTimeout   = 5 * time.Second
	DefaultMaxMessageBytes   = 4 << 20
)

// stableUptime is how long a shared child must stay up for the restart
// backoff to start again from RestartBackoff.
const stableUptime = 30 * time.Second

// maxQueued bounds every queue of server-initiated messages: a session's
// backlog and each open stream. A client that does not read must not make the
// gateway hold an unbounded amount of a child's output.
const maxQueued = 64

// Config configures one stdio MCP server. The zero value of every field but
// Command is usable.
type Config struct {
	// Name names the server in logs and errors. Default: the base name of
	// Command[0].
	Name string
	// Command is the argv of the server. Command[0] is resolved by New with
	// the gateway's PATH (exec.LookPath); a PATH in Env only affects what the
	// child itself runs.
	Command []string
	// Env is added to the minimal environment a child inherits from the
	// gateway: PATH, HOME, LANG, TMPDIR, USER, SHELL and LC_*. Nothing else
	// from the gateway's environment is passed, so the gateway's secrets do
	// not leak to children; list here what the server needs (API keys,
	// tokens). Env wins over an inherited variable of the same name.
	Env map[string]string
	// Dir is the child's working directory; "" means the gateway's.
	Dir string
	// Mode is ModeSession (default, one process per MCP session) or
	// ModeShared (one process for all sessions, JSON-RPC ids remapped). See
	// the package documentation for what shared mode costs.
	Mode string
	// MaxProcesses caps live processes in session mode; initialize beyond it
	// gets 429. Default 32. Shared mode runs one process and ignores it.
	MaxProcesses int
	// MaxPerConsumer caps the live sessions of one consumer (see
	// WithConsumer) in both modes; initialize beyond it gets 429. 0 means no
	// cap.
	MaxPerConsumer int
	// RestartBackoff is the first delay before a crashed shared child is
	// restarted; it doubles after each crash up to MaxRestartBackoff, and
	// starts again from RestartBackoff once a child has stayed up 30s.
	// Defaults 100ms and 30s.
	RestartBackoff, MaxRestartBackoff time.Duration
	// ShutdownTimeout bounds stopping a child: close stdin and wait half of
	// it, SIGTERM and wait the other half, then SIGKILL. Default 5s.
	ShutdownTimeout time.Duration
	// IdleTimeout ends a session that has had no request, no open stream
	// and no pending request for this long; in session mode its process
	// stops too. Clients that vanish without DELETE would otherwise keep
	// their session, their consumer's quota and (in session mode) a process
	// until Close. 0 means never.
	IdleTimeout time.Duration
	// MaxMessageBytes limits a POST body (413 beyond it) and a line on the
	// child's stdout (the child is killed beyond it). Default 4 MiB.
	MaxMessageBytes int64
	// Logger receives the children's stderr lines at Info, with the server
	// name and pid, and the bridge's own warnings. nil discards them.
	Logger *slog.Logger
}

// Stats is a snapshot of a Server's counters.
type Stats struct {
	Processes int   // live child processes
	Sessions  int   // live MCP sessions
	Restarts  int64 // shared-mode restarts after a crash
	Crashes   int64 // children that exited without being asked to
}

// A Server bridges Streamable HTTP clients to stdio children. It is safe for
// concurrent use. Create it with New and release it with Close.
type Server struct {
	cfg  Config
	path string   // Command[0] resolved in PATH
	env  []string // the children's environment
	log  *slog.Logger

	closing  chan struct{} // closed by Close
	wg       sync.WaitGroup
	restarts atomic.Int64
	crashes  atomic.Int64
	idlePass atomic.Int64 // when the last idle sweep started, in Unix ns (for tests)

	mu          sync.Mutex
	closed      bool
	sessions    map[string]*session // registered (initialized) sessions by id
	perConsumer map[string]int      // admitted sessions by consumer
	children    map[*child]struct{}
	procs       int // started and not yet exited, including ones starting
	shared      sharedState
}

// New checks cfg, fills in defaults and returns a Server. It starts no
// process: session mode starts one per initialize, shared mode starts its
// child on the first initialize. Close releases what it holds.
func New(cfg Config) (*Server, error) {
	if cfg.Name == "" && len(cfg.Command) > 0 {
		cfg.Name = filepath.Base(cfg.Command[0])
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeSession
	}
	if cfg.MaxProcesses == 0 {
		cfg.MaxProcesses = DefaultMaxProcesses
	}
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = DefaultRestartBackoff
	}
	if cfg.MaxRestartBackoff == 0 {
		cfg.MaxRestartBackoff = max(DefaultMaxRestartBackoff, cfg.RestartBackoff)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	path, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:         cfg,
		path:        path,
		env:         childEnv(os.Environ(), cfg.Env),
		log:         log.With("server", cfg.Name),
		closing:     make(chan struct{}),
		sessions:    make(map[string]*session),
		perConsumer: make(map[string]int),
		children:    make(map[*child]struct{}),
		shared:      sharedState{wake: make(chan struct{})},
	}
	if cfg.IdleTimeout > 0 {
		s.wg.Add(1)
		go s.reapIdle()
	}
	return s, nil
}

// validate reports every problem in cfg at once, and returns Command[0]
// resolved in PATH.
func (cfg *Config) validate() (string, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var path string
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		bad("Command: must name a program")
	} else {
		name := cfg.Command[0]
		// exec runs a relative path with a slash from Dir, so check it there.
		if cfg.Dir != "" && !filepath.IsAbs(name) && strings.ContainsRune(name, filepath.Separator) {
			name = filepath.Join(cfg.Dir, name)
		}
		if p, err := exec.LookPath(name); err != nil {
			bad("Command[0]: %w", err)
		} else if path, err = filepath.Abs(p); err != nil {
			bad("Command[0]: %w", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			bad("Env[%q]: a variable name must be non-empty and contain no '=' or NUL", k)
		}
		if strings.Contains(cfg.Env[k], "\x00") {
			bad("Env[%q]: the value contains NUL", k)
		}
	}
	if cfg.Dir != "" {
		if fi, err := os.Stat(cfg.Dir); err != nil {
			bad("Dir: %w", err)
		} else if !fi.IsDir() {
			bad("Dir: %s is not a directory", cfg.Dir)
		}
	}
	if cfg.Mode != ModeSession && cfg.Mode != ModeShared {
		bad("Mode: %q is neither %q nor %q", cfg.Mode, ModeSession, ModeShared)
	}
	if cfg.MaxProcesses < 0 {
		bad("MaxProcesses: must not be negative")
	}
	if cfg.MaxPerConsumer < 0 {
		bad("MaxPerConsumer: must not be negative")
	}
	if cfg.RestartBackoff < 0 || cfg.MaxRestartBackoff < 0 {
		bad("RestartBackoff, MaxRestartBackoff: must not be negative")
	} else if cfg.MaxRestartBackoff < cfg.RestartBackoff {
		bad("MaxRestartBackoff: %v is less than RestartBackoff %v", cfg.MaxRestartBackoff, cfg.RestartBackoff)
	}
	if cfg.ShutdownTimeout < 0 {
		bad("ShutdownTimeout: must not be negative")
	}
	if cfg.IdleTimeout < 0 {
		bad("IdleTimeout: must not be negative")
	}
	// The stdout scanner buffers a whole line in an int-sized slice.
	if cfg.MaxMessageBytes < 0 || cfg.MaxMessageBytes > 1<<30 {
		bad("MaxMessageBytes: must be between 1 and 1 GiB")
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("stdio server %q: invalid configuration: %w", cfg.Name, errors.Join(errs...))
	}
	return path, nil
}

// inheritedEnv lists the gateway's variables a child sees; LC_* are added by
// prefix. These are what ordinary programs need to find tools, a home, a
// temporary directory and a locale, and none of them usually holds a secret.
var inheritedEnv = []string{"PATH", "HOME", "LANG", "TMPDIR", "USER", "SHELL"}

// childEnv builds a child's environment from the gateway's (environ) and the
// configured extra variables, which win. The result is sorted so that it
// does not depend on map order.
func childEnv(environ []string, extra map[string]string) []string {
	vars := make(map[string]string)
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && (slices.Contains(inheritedEnv, k) || strings.HasPrefix(k, "LC_")) {
			vars[k] = v
		}
	}
	maps.Copy(vars, extra)
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Processes: s.procs,
		Sessions:  len(s.sessions),
		Restarts:  s.restarts.Load(),
		Crashes:   s.crashes.Load(),
	}
}

// Close ends every session, stops every child (each within
// ShutdownTimeout) and waits for them and for the bridge's goroutines.
// Requests still open get an error response or see their stream end; new
// initialize requests get 503 and other requests 404. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.shared.changedLocked()
	sessions := slices.Collect(maps.Values(s.sessions))
	children := slices.Collect(maps.Keys(s.children))
	s.mu.Unlock()

	msg := fmt.Sprintf("stdio server %q: the gateway is shutting down", s.cfg.Name)
	for _, sess := range sessions {
		s.endSession(sess, msg, false)
	}
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Go(c.stop)
	}
	wg.Wait()
	s.wg.Wait()
	return nil
}

// reapIdle ends idle sessions until Close, checking a few times per
// IdleTimeout.
func (s *Server) reapIdle() {
	defer s.wg.Done()
	t := time.NewTicker(max(s.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		start := time.Now()
		s.mu.Lock()
		sessions := slices.Collect(maps.Values(s.sessions))
		s.mu.Unlock()
		for _, sess := range sessions {
			idle := start.Sub(time.Unix(0, sess.active.Load()))
			if idle < s.cfg.IdleTimeout {
				continue
			}
			c := sess.child
			c.mu.Lock()
			busy := sess.get != nil || len(sess.calls) > 0
			c.mu.Unlock()
			if busy {
				continue
			}
			c.log.Info("ending an idle session", "idle", idle.Round(time.Millisecond))
			s.endSession(sess, fmt.Sprintf("stdio server %q: the session was idle for %v", s.cfg.Name, s.cfg.IdleTimeout), true)
			if !s.sharedMode() {
				c.stop()
			}
		}
		s.idlePass.Store(start.UnixNano())
	}
}

func (s *Server) sharedMode() bool { return s.cfg.Mode == ModeShared }

type consumerKey struct{}

// WithConsumer returns a context that names the consumer making a request.
// The gateway's MCP route sets it on each request before calling ServeHTTP;
// "" (or no call at all) means anonymous. Sessions are bound to the consumer
// that created them and count against its MaxPerConsumer.
func WithConsumer(ctx context.Context, consumer string) context.Context {
	return context.WithValue(ctx, consumerKey{}, consumer)
}

func consumerFrom(ctx context.Context) string {
	c, _ := ctx.Value(consumerKey{}).(string)
	return c
}

// errClosed reports that Close has been called.
var errClosed = errors.New("server closed")

// A limitError reports that MaxProcesses or MaxPerConsumer is reached.
type limitError struct {
	limit    string // the Config field
	max      int
	consumer string
}

func (e *limitError) Error() string {
	if e.limit == "MaxPerConsumer" {
		return fmt.Sprintf("MaxPerConsumer limit reached: consumer %q already has %d live sessions", e.consumer, e.max)
	}
	return fmt.Sprintf("MaxProcesses limit reached: %d processes are running", e.max)
}

// admit counts a new session against its consumer's cap. endSession gives
// the slot back.
func (s *Server) admit(sess *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if n := s.cfg.MaxPerConsumer; n > 0 && s.perConsumer[sess.consumer] >= n {
		return &limitError{limit: "MaxPerConsumer", max: n, consumer: sess.consumer}
	}
	s.perConsumer[sess.consumer]++
	return nil
}

// register makes an initialized session reachable by its id. It fails if the
// session ended meanwhile (its child died right after answering).
func (s *Server) register(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// endSession sets gone before it takes s.mu to unregister, so either it
	// sees the session here and removes it, or we see gone.
	if sess.gone.Load() || s.closed {
		return false
	}
	s.sessions[sess.id] = sess
	sess.touch()
	return true
}

// lookup returns the live session id of consumer, or nil. A session of
// another consumer is reported as missing, not as forbidden, so that ids
// cannot be probed.
func (s *Server) lookup(id, consumer string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil || sess.consumer != consumer {
		return nil
	}
	return sess
}

// spawn starts a child. In session mode (limited) it enforces MaxProcesses.
func (s *Server) spawn(limited bool) (*child, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	if limited && s.procs >= s.cfg.MaxProcesses {
		s.mu.Unlock()
		return nil, &limitError{limit: "MaxProcesses", max: s.cfg.MaxProcesses}
	}
	s.procs++
	// Holding wg while starting keeps Close waiting for this child, and
	// keeps the child's own wg.Add calls from racing a Wait at zero.
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	c, err := s.startChild()
	s.mu.Lock()
	if err != nil {
		s.procs--
		s.mu.Unlock()
		return nil, err
	}
	if s.closed {
		s.mu.Unlock()
		c.stop()
		return nil, errClosed
	}
	s.children[c] = struct{}{}
	s.mu.Unlock()
	return c, nil
}
