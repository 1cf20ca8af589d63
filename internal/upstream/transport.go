package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sluicegw/sluice/internal/config"
	"github.com/sluicegw/sluice/internal/upstream/h1"
)

// transport sends plain-HTTP/1.1 requests through h1, which writes the
// request and reads the response on the calling goroutine (the stdlib
// transport hands each request to per-connection writer and reader
// goroutines, which costs more scheduler work than the I/O). TLS and h2c
// targets, upgrades, 100-continue, request trailers and streamed bodies of
// unknown length go through net/http.
type transport struct {
	fast *h1.Transport // nil when the pool speaks h2c
	std  *http.Transport
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	// A body of unknown length (a streamed upload) stays on net/http: h1
	// writes the whole request before reading, and such uploads may need the
	// upstream's early answer (a 413 or 401) while they are still sending.
	if t.fast != nil && r.ContentLength >= 0 && h1.Supports(r) {
		return t.fast.RoundTrip(r)
	}
	return t.std.RoundTrip(r)
}

// CloseIdleConnections closes both transports' idle connections.
func (t *transport) CloseIdleConnections() {
	if t.fast != nil {
		t.fast.CloseIdleConnections()
	}
	t.std.CloseIdleConnections()
}

func newPoolTransport(cfg config.Upstream, anyHTTPS bool, nTargets int) (*transport, error) {
	std, err := newTransport(cfg, anyHTTPS, nTargets)
	if err != nil {
		return nil, err
	}
	t := &transport{std: std}
	if !cfg.KeepAlive.H2C {
		t.fast = &h1.Transport{
			DialTimeout:           orDefault(cfg.Timeouts.Connect.D(), defaultConnect),
			ResponseHeaderTimeout: orDefault(cfg.Timeouts.ResponseHeader.D(), defaultResponseHeader),
			IdleTimeout:           orDefault(cfg.Timeouts.Idle.D(), defaultIdle),
			MaxIdlePerHost:        orDefault(cfg.KeepAlive.MaxIdlePerTarget, defaultMaxIdle),
		}
	}
	return t, nil
}

// bufferSize is the transport's read and write buffer size. The 4KiB
// default costs a syscall per 4KiB of a large body.
const bufferSize = 32 << 10

// newTransport builds the pool's transport. It reads the TLS files, so its
// errors name them.
func newTransport(cfg config.Upstream, anyHTTPS bool, nTargets int) (*http.Transport, error) {
	connect := orDefault(cfg.Timeouts.Connect.D(), defaultConnect)
	perTarget := orDefault(cfg.KeepAlive.MaxIdlePerTarget, defaultMaxIdle)
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}

	tlsConf, err := tlsConfig(cfg.TLS)
	if err != nil {
		return nil, err
	}
	t := &http.Transport{
		Proxy:                  nil, // never from the environment: the upstream is the config's
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConf,
		TLSHandshakeTimeout:    connect,
		ResponseHeaderTimeout:  orDefault(cfg.Timeouts.ResponseHeader.D(), defaultResponseHeader),
		IdleConnTimeout:        orDefault(cfg.Timeouts.Idle.D(), defaultIdle),
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           max(1024, perTarget*nTargets),
		MaxIdleConnsPerHost:    perTarget,
		DisableCompression:     true, // a proxy must pass Accept-Encoding through, not add it
		ForceAttemptHTTP2:      anyHTTPS,
		WriteBufferSize:        bufferSize,
		ReadBufferSize:         bufferSize,
		MaxResponseHeaderBytes: 1 << 20,
	}
	if cfg.KeepAlive.H2C {
		// Without HTTP1 in the set, http:// targets get HTTP/2 with prior
		// knowledge. The set is then exclusive: https targets of an h2c
		// upstream must speak HTTP/2 too.
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		p.SetHTTP2(true)
		t.Protocols = &p
	}
	return t, nil
}

func tlsConfig(c config.UpstreamTLS) (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName, // empty: the target's host, set per connection by net/http
		InsecureSkipVerify: c.InsecureSkipVerify,
	}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca: %s: no PEM certificates found", c.CA)
		}
		conf.RootCAs = roots
	}
	switch {
	case c.Cert != "" && c.Key != "":
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert %s, tls.key %s: %w", c.Cert, c.Key, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	case c.Cert != "":
		return nil, fmt.Errorf("tls.cert %s is set without tls.key", c.Cert)
	case c.Key != "":
		return nil, fmt.Errorf("tls.key %s is set without tls.cert", c.Key)
	}
	return conf, nil
}

// Classify maps a RoundTrip error to an Outcome. Dial errors (refused,
// unreachable, DNS, a TLS handshake that failed or timed out) are ConnectFailure: the
// request was never sent, so it is always safe to retry. Deadlines
// (net.Error.Timeout, context.DeadlineExceeded) set Timeout; a dial that
// timed out sets both. Status is always 0. A nil error, a cancelled context
// and any other error yield the zero (neutral) Outcome.
func Classify(err error) Outcome {
	var o Outcome
	if err == nil {
		return o
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var alertErr tls.AlertError
	var recErr tls.RecordHeaderError
	if (errors.As(err, &opErr) && opErr.Op == "dial") ||
		errors.As(err, &dnsErr) ||
		errors.As(err, &certErr) ||
		errors.As(err, &alertErr) ||
		errors.As(err, &recErr) ||
		isTLSHandshakeTimeout(err) {
		o.ConnectFailure = true
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		o.Timeout = true
	}
	return o
}

// isTLSHandshakeTimeout recognises net/http's unexported
// tlsHandshakeTimeoutError by its fixed message, as nothing else identifies
// it; the handshake precedes the request, so it is a connect failure.
func isTLSHandshakeTimeout(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if t, ok := e.(interface{ Timeout() bool }); ok && t.Timeout() && e.Error() == "net/http: TLS handshake timeout" {
			return true
		}
	}
	return false
}
