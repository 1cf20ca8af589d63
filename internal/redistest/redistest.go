// Package redistest starts real redis-server processes for tests: on a free
// loopback port, in a temporary directory, with persistence off. A test can
// kill the server and restart it on the same port to see how the code under
// test copes with Redis going away and coming back.
//
// redis-server must be installed (apt-get install redis-server); the tests
// fail rather than skip without it, because a skipped Redis test is a test
// that silently never runs.
package redistest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Binary is the redis-server the helper runs.
var Binary = "/usr/bin/redis-server"

// Server is one redis-server process started by Start. Its methods may be
// called from the test's goroutine only.
type Server struct {
	tb   testing.TB
	dir  string
	port int
	args []string

	tls bool // serves only TLS, on port (see StartTLS)

	mu   sync.Mutex
	proc *os.Process
	done chan error // receives the process's exit
}

// Start starts a redis-server on a free 127.0.0.1 port and stops it when
// the test ends. args are added to its command line ("--requirepass",
// "secret"). It fails the test if redis-server is missing or does not
// answer within 10 seconds.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	return start(tb, false, args)
}

// StartTLS starts a redis-server that speaks only TLS on its port, with the
// PEM files given, and requires client certificates signed by caFile when
// requireClientCert is true.
func StartTLS(tb testing.TB, certFile, keyFile, caFile string, requireClientCert bool, args ...string) *Server {
	tb.Helper()
	auth := "no"
	if requireClientCert {
		auth = "yes"
	}
	return start(tb, true, append([]string{"--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", auth}, args...))
}

func start(tb testing.TB, tlsOnly bool, args []string) *Server {
	tb.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if p, lerr := exec.LookPath("redis-server"); lerr == nil {
			Binary = p
		} else {
			tb.Fatalf("redistest: %s not found: install redis-server (apt-get install redis-server)", Binary)
		}
	}
	s := &Server{tb: tb, dir: tb.TempDir(), args: args, tls: tlsOnly}
	var err error
	for range 5 { // another process may take the free port before redis does
		if s.port, err = freePort(); err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(s.Kill)
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Kill stops the server (SIGKILL to the process Start or Restart started)
// and waits for it to exit. It does nothing if the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	proc, done := s.proc, s.done
	s.proc, s.done = nil, nil
	s.mu.Unlock()
	if proc == nil {
		return
	}
	_ = proc.Kill()
	<-done
}

// Restart starts the server again on the same port, after Kill. Its data
// is gone (persistence is off), as after a crash of a cache-only Redis.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	var err error
	for range 50 { // the port may linger a moment after the kill
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restart on %s: %v", s.Addr(), err)
}

// Client returns a new go-redis client of the server, closed when the test
// ends. password is needed when the server was started with --requirepass.
func (s *Server) Client(password ...string) *redis.Client {
	o := &redis.Options{Addr: s.Addr(), DisableIdentity: true}
	if len(password) > 0 {
		o.Password = password[0]
	}
	c := redis.NewClient(o)
	s.tb.Cleanup(func() { c.Close() })
	return c
}

// ResetStats clears the server's command statistics (CONFIG RESETSTAT).
func (s *Server) ResetStats() {
	s.tb.Helper()
	if err := s.Client().ConfigResetStat(context.Background()).Err(); err != nil {
		s.tb.Fatalf("redistest: CONFIG RESETSTAT: %v", err)
	}
}

// Calls returns how many commands the server ran since ResetStats, by name
// (lower case, from INFO commandstats), leaving out the INFO and CONFIG
// commands the helper itself sends.
func (s *Server) Calls() map[string]int64 {
	s.tb.Helper()
	info, err := s.Client().Info(context.Background(), "commandstats").Result()
	if err != nil {
		s.tb.Fatalf("redistest: INFO commandstats: %v", err)
	}
	calls := map[string]int64{}
	for line := range strings.SplitSeq(info, "\n") {
		// cmdstat_evalsha:calls=1000,usec=...,...
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || strings.HasPrefix(name, "info") || strings.HasPrefix(name, "config") {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				calls[name] += n
			}
		}
	}
	return calls
}

func (s *Server) start() error {
	port := []string{"--port", strconv.Itoa(s.port)}
	if s.tls {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}
	}
	args := append(append(port,
		"--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"),
	), s.args...)
	cmd := exec.Command(Binary, args...)
	cmd.Dir = s.dir
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server on port %d exited (%v): %s", s.port, err, lastLines(string(log), 5))
		default:
		}
		if ping(s.Addr(), s.tls) == nil {
			s.mu.Lock()
			s.proc, s.done = cmd.Process, exited
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server on port %d did not answer within 10s: %s", s.port, lastLines(string(log), 5))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func ping(addr string, useTLS bool) error {
	err := ping1(addr, useTLS)
	// A TLS server that requires client certificates refuses the readiness
	// check (in TLS 1.3, on the first read), which still shows it is up.
	if useTLS && err != nil && strings.Contains(err.Error(), "certificate required") {
		return nil
	}
	return err
}

func ping1(addr string, useTLS bool) error {
	var c net.Conn
	var err error
	if useTLS {
		// Readiness only: the test's client verifies the certificate.
		d := &net.Dialer{Timeout: time.Second}
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.DialTimeout("tcp", addr, time.Second)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 7)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	// With --requirepass the answer is -NOAUTH: the server is up all the same.
	if !strings.HasPrefix(string(buf[:n]), "+PONG") && !strings.HasPrefix(string(buf[:n]), "-NOAUTH") {
		return errors.New("unexpected reply " + strconv.Quote(string(buf[:n])))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
