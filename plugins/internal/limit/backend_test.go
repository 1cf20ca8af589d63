package limit

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/redistest"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit/limittest"
)

func TestClientShared(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := &plugin.RedisConfig{Addrs: []string{srv.Addr()}, PoolSize: 3}
	same := *cfg
	other := *cfg
	other.PoolSize = 4
	c1, r1, err := Client(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c2, r2, _ := Client(&same)
	c3, r3, _ := Client(&other)
	if c1 != c2 {
		t.Error("two equal redis blocks got two clients; want one shared")
	}
	if c1 == c3 {
		t.Error("two different redis blocks share a client")
	}
	ctx := context.Background()
	if err := c1.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r1()
	r1() // releasing twice counts once
	if err := c2.Ping(ctx).Err(); err != nil {
		t.Fatalf("client closed while a user holds it: %v", err)
	}
	r2()
	if err := c2.Ping(ctx).Err(); err == nil {
		t.Error("client still open after every user released it")
	}
	r3()
	// A new user after the last release gets a fresh client.
	c4, r4, _ := Client(cfg)
	defer r4()
	if err := c4.Ping(ctx).Err(); err != nil {
		t.Fatalf("fresh client: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	tests := []struct {
		name string
		cfg  *plugin.RedisConfig
		want string
	}{
		{"nil", nil, "policy: redis needs the top-level redis block"},
		{"no addrs", &plugin.RedisConfig{}, "redis.addrs: at least one host:port is needed"},
		{"cluster db", &plugin.RedisConfig{Addrs: []string{"a:1", "b:1"}, DB: 2}, "redis.db: must be 0 with Redis Cluster, got 2"},
		{"missing ca", &plugin.RedisConfig{Addrs: []string{"a:1"}, TLS: true, CAFile: filepath.Join(dir, "nope.pem")},
			"redis.tls.ca: open " + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
		{"ca not pem", &plugin.RedisConfig{Addrs: []string{"a:1"}, TLS: true, CAFile: notPEM},
			"redis.tls.ca: " + notPEM + " holds no PEM certificate"},
		{"cert without key", &plugin.RedisConfig{Addrs: []string{"a:1"}, TLS: true, CertFile: notPEM},
			"redis.tls.cert, redis.tls.key: set both for mutual TLS, or neither"},
		{"bad key pair", &plugin.RedisConfig{Addrs: []string{"a:1"}, TLS: true, CertFile: notPEM, KeyFile: notPEM, Password: "hunter2"},
			"redis.tls.cert, redis.tls.key: tls: failed to find any PEM data in certificate input"},
	}
	for _, tt := range tests {
		_, _, err := Client(tt.cfg)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: Client() = %v; want %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password", tt.name)
		}
	}
	// TLS with the system roots and a single seed in cluster mode build.
	for _, cfg := range []*plugin.RedisConfig{
		{Addrs: []string{"127.0.0.1:1"}, TLS: true, ServerName: "redis.internal"},
		{Addrs: []string{"127.0.0.1:1"}, Cluster: true},
	} {
		_, release, err := Client(cfg)
		if err != nil {
			t.Errorf("Client(%+v) = %v", cfg, err)
			continue
		}
		release()
	}
}

func TestNewBackendNeedsRedis(t *testing.T) {
	t.Parallel()
	c := DefaultCommon()
	c.Policy = PolicyRedis
	_, err := NewBackend(plugin.Env{}, "limit-count", &c, Options{})
	if !errors.Is(err, ErrNoRedis) || err.Error() != "policy: redis needs the top-level redis block" {
		t.Fatalf("NewBackend(policy redis, no block) = %v", err)
	}
}

func TestErrLog(t *testing.T) {
	t.Parallel()
	recs := &limittest.Records{}
	now := base
	l := &errLog{logger: slog.New(recs), every: 10 * time.Second, now: func() time.Time { return now }, mode: "allow"}
	boom := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	l.ok() // healthy: nothing to say
	for range 5 {
		l.failed(boom)
	}
	now = now.Add(9 * time.Second)
	l.failed(boom)
	now = now.Add(time.Second)
	l.failed(boom)
	l.failed(boom)
	l.ok()
	l.ok()
	want := []string{
		"WARN redis failed; deciding by on_redis_error on_redis_error=allow failures=1 error=" + boom.Error(),
		"WARN redis failed; deciding by on_redis_error on_redis_error=allow failures=6 error=" + boom.Error(),
		"INFO redis answers again unreported_failures=1",
	}
	got := recs.Lines()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
