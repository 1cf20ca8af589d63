package limit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicegw/sluice/plugin"
)

// DefaultRedisTimeout is the dial, read and write timeout when the redis
// block sets none: short, because every limited request waits on it and
// on_redis_error decides what happens when it passes.
const DefaultRedisTimeout = time.Second

// clientKey is a RedisConfig in comparable form. It holds the password
// only as a map key in memory; it is never printed.
type clientKey struct {
	addrs                                 string
	cluster                               bool
	username, password                    string
	db                                    int
	timeout                               time.Duration
	poolSize                              int
	tls                                   bool
	caFile, certFile, keyFile, serverName string
}

func keyOf(c *plugin.RedisConfig) clientKey {
	return clientKey{
		addrs: strings.Join(c.Addrs, ","), cluster: c.Cluster,
		username: c.Username, password: c.Password, db: c.DB,
		timeout: c.Timeout, poolSize: c.PoolSize,
		tls: c.TLS, caFile: c.CAFile, certFile: c.CertFile, keyFile: c.KeyFile, serverName: c.ServerName,
	}
}

// sharedClient is one go-redis client and the number of plugin instances
// using it.
type sharedClient struct {
	c    redis.UniversalClient
	refs int
}

var clients = struct {
	sync.Mutex
	m map[clientKey]*sharedClient
}{m: map[clientKey]*sharedClient{}}

// Client returns the process-wide client for cfg, creating it on first use,
// and a release func that closes it once every user has released it. Every
// plugin instance built from the same redis block shares one client (one
// connection pool per node), across routes and config generations.
//
// Client does no I/O: a Redis that is down at start-up is handled like one
// that goes down later (on_redis_error), and go-redis reconnects by itself.
func Client(cfg *plugin.RedisConfig) (redis.UniversalClient, func() error, error) {
	if cfg == nil {
		return nil, nil, ErrNoRedis
	}
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	k := keyOf(cfg)
	clients.Lock()
	defer clients.Unlock()
	sc := clients.m[k]
	if sc == nil {
		c, err := newClient(cfg)
		if err != nil {
			return nil, nil, err
		}
		sc = &sharedClient{c: c}
		clients.m[k] = sc
	}
	sc.refs++
	var once sync.Once
	release := func() error {
		var err error
		once.Do(func() {
			clients.Lock()
			defer clients.Unlock()
			if sc.refs--; sc.refs == 0 {
				delete(clients.m, k)
				err = sc.c.Close()
			}
		})
		return err
	}
	return sc.c, release, nil
}

// quiet drops go-redis's own log lines ("failed to dial ..."): they go to
// stderr unstructured, once per failed command, which is the flood the
// plugins' rate-limited error log exists to avoid. go-redis has one logger
// per process, and every Sluice user of Redis (the limits, ai-budget,
// ai-cache) builds its client here.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// newClient builds a go-redis client from cfg: a Cluster client when
// Cluster is set or there are several addresses, else a single-node one.
func newClient(cfg *plugin.RedisConfig) (redis.UniversalClient, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("redis.addrs: at least one host:port is needed")
	}
	cluster := cfg.Cluster || len(cfg.Addrs) > 1
	if cluster && cfg.DB != 0 {
		return nil, fmt.Errorf("redis.db: must be 0 with Redis Cluster, got %d", cfg.DB)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	opts := &redis.UniversalOptions{
		Addrs:         cfg.Addrs,
		IsClusterMode: cluster,
		Username:      cfg.Username,
		Password:      cfg.Password,
		DB:            cfg.DB,
		DialTimeout:   timeout,
		ReadTimeout:   timeout,
		WriteTimeout:  timeout,
		PoolSize:      cfg.PoolSize,
		// No retries: a decision that timed out may have been counted
		// already, and a retry would count it twice; on_redis_error
		// decides instead. One dial attempt per command for the same
		// reason (the default, 5 with pauses, would hold requests while
		// Redis is down); go-redis probes a dead node in the background
		// and reconnects when it is back.
		MaxRetries:    -1,
		DialerRetries: 1,
		// CLIENT SETINFO is one more command per connection for nothing
		// the limits need.
		DisableIdentity: true,
		ClientName:      "sluice",
	}
	if cfg.TLS {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	return redis.NewUniversalClient(opts), nil
}

func tlsConfig(cfg *plugin.RedisConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis.tls.ca: %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("redis.tls.cert, redis.tls.key: set both for mutual TLS, or neither")
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.cert, redis.tls.key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
