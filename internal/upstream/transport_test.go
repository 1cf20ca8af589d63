package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicegw/sluice/internal/config"
)

// get sends GET / to the pool's first target through its transport.
func get(t *testing.T, p *Pool) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.targets[0].URL().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Transport().RoundTrip(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func single(url string) config.Upstream {
	return config.Upstream{Name: "u", Targets: []config.Target{{URL: url}}}
}

func TestTransportTuning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  config.Upstream
		want map[string]any
	}{
		{
			name: "defaults for zero values",
			cfg:  single("http://127.0.0.1:1"),
			want: map[string]any{
				"connect": 2 * time.Second, "tls": 2 * time.Second, "header": 60 * time.Second,
				"idle": 90 * time.Second, "perHost": 256, "h2": false, "h2c": false,
			},
		},
		{
			name: "configured https h2c",
			cfg: config.Upstream{
				Name:      "u",
				Targets:   []config.Target{{URL: "https://a.test"}},
				Timeouts:  config.UpstreamTimeouts{Connect: config.Duration(time.Second), ResponseHeader: config.Duration(5 * time.Second), Idle: config.Duration(7 * time.Second)},
				KeepAlive: config.KeepAlive{MaxIdlePerTarget: 8, H2C: true},
			},
			want: map[string]any{
				"connect": time.Second, "tls": time.Second, "header": 5 * time.Second,
				"idle": 7 * time.Second, "perHost": 8, "h2": true, "h2c": true,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, tt.cfg, Options{})
			tr := p.transport.std
			// The dialer's timeout is observable through a dial to a blackhole
			// being bounded, which is slow; check the configured value instead.
			got := map[string]any{
				"connect": orDefault(tt.cfg.Timeouts.Connect.D(), defaultConnect),
				"tls":     tr.TLSHandshakeTimeout,
				"header":  tr.ResponseHeaderTimeout,
				"idle":    tr.IdleConnTimeout,
				"perHost": tr.MaxIdleConnsPerHost,
				"h2":      tr.ForceAttemptHTTP2,
				"h2c":     tr.Protocols != nil && tr.Protocols.UnencryptedHTTP2(),
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("transport (-want +got):\n%s", diff)
			}
			// The HTTP/1.1 fast path carries the same timeouts, and is off for h2c.
			if fast := p.transport.fast; tt.cfg.KeepAlive.H2C != (fast == nil) {
				t.Errorf("h2c %v but fast transport present = %v", tt.cfg.KeepAlive.H2C, fast != nil)
			} else if fast != nil && (fast.ResponseHeaderTimeout != tr.ResponseHeaderTimeout ||
				fast.IdleTimeout != tr.IdleConnTimeout || fast.MaxIdlePerHost != tr.MaxIdleConnsPerHost ||
				fast.DialTimeout != got["connect"]) {
				t.Errorf("fast transport %+v does not match the configured timeouts", fast)
			}
			if tr.Proxy != nil || !tr.DisableCompression || tr.WriteBufferSize != 32<<10 || tr.ReadBufferSize != 32<<10 || tr.MaxIdleConns < 1024 {
				t.Errorf("transport: Proxy set %v, DisableCompression %v, buffers %d/%d, MaxIdleConns %d",
					tr.Proxy != nil, tr.DisableCompression, tr.WriteBufferSize, tr.ReadBufferSize, tr.MaxIdleConns)
			}
		})
	}
}

func TestConnectFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := single("http://" + addr)
	cfg.Timeouts.Connect = config.Duration(500 * time.Millisecond)
	p := mustNew(t, cfg, Options{})
	start := time.Now()
	_, err = get(t, p)
	if err == nil {
		t.Fatal("GET to a closed port succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("connect failure took %v", d)
	}
	if got, want := Classify(err), (Outcome{ConnectFailure: true}); got != want {
		t.Errorf("Classify(%v) = %+v; want %+v", err, got, want)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cfg := single(srv.URL)
	cfg.Timeouts.ResponseHeader = config.Duration(50 * time.Millisecond)
	p := mustNew(t, cfg, Options{})
	_, err := get(t, p)
	if got, want := Classify(err), (Outcome{Timeout: true}); got != want {
		t.Errorf("Classify(%v) = %+v; want %+v", err, got, want)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// handshakeTimeout mimics net/http's unexported tlsHandshakeTimeoutError.
type handshakeTimeout struct{}

func (handshakeTimeout) Error() string   { return "net/http: TLS handshake timeout" }
func (handshakeTimeout) Timeout() bool   { return true }
func (handshakeTimeout) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, Outcome{}},
		{"dial refused", dial, Outcome{ConnectFailure: true}},
		{"dial wrapped in url.Error", &url.Error{Op: "Get", URL: "http://x", Err: dial}, Outcome{ConnectFailure: true}},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}, Outcome{ConnectFailure: true, Timeout: true}},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, Outcome{ConnectFailure: true}},
		{"tls verify", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, Outcome{ConnectFailure: true}},
		{"tls handshake timeout", &url.Error{Op: "Get", URL: "https://x", Err: handshakeTimeout{}}, Outcome{ConnectFailure: true, Timeout: true}},
		{"deadline", fmt.Errorf("round trip: %w", context.DeadlineExceeded), Outcome{Timeout: true}},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, Outcome{Timeout: true}},
		{"canceled", context.Canceled, Outcome{}},
		{"reset on read", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, Outcome{}},
		{"other", io.ErrUnexpectedEOF, Outcome{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %+v; want %+v", tt.err, got, tt.want)
			}
		})
	}
}

func TestNoAcceptEncodingAdded(t *testing.T) {
	t.Parallel()
	var ae atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ae.Store(fmt.Sprint(r.Header["Accept-Encoding"]))
	}))
	t.Cleanup(srv.Close)
	if _, err := get(t, mustNew(t, single(srv.URL), Options{})); err != nil {
		t.Fatal(err)
	}
	if got := ae.Load(); got != "[]" {
		t.Errorf("upstream saw Accept-Encoding %v; want none", got)
	}
}

// writePEM writes blocks to a file in dir and returns its path.
func writePEM(t *testing.T, dir, file, typ string, der ...[]byte) string {
	t.Helper()
	var b strings.Builder
	for _, d := range der {
		if err := pem.Encode(&b, &pem.Block{Type: typ, Bytes: d}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsServer starts an HTTPS server whose handler records the SNI name and
// the client certificate's common name, and returns it with a CA file.
func tlsServer(t *testing.T, conf func(*tls.Config)) (srv *httptest.Server, caFile string, seen *atomic.Value) {
	t.Helper()
	seen = &atomic.Value{}
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		seen.Store(fmt.Sprintf("sni=%s cn=%s proto=%d", r.TLS.ServerName, cn, r.ProtoMajor))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are expected
	if conf != nil {
		srv.TLS = &tls.Config{}
		conf(srv.TLS)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", srv.Certificate().Raw)
	return srv, caFile, seen
}

func TestTLSUpstream(t *testing.T) {
	t.Parallel()
	srv, caFile, seen := tlsServer(t, nil)
	tests := []struct {
		name     string
		tls      config.UpstreamTLS
		wantErr  bool
		wantSeen string
	}{
		{"system roots reject the test CA", config.UpstreamTLS{}, true, ""},
		{"CA file", config.UpstreamTLS{CA: caFile}, false, "sni= cn= proto=2"}, // no SNI for an IP
		{"SNI server name", config.UpstreamTLS{CA: caFile, ServerName: "example.com"}, false, "sni=example.com cn= proto=2"},
		{"SNI name not in cert", config.UpstreamTLS{CA: caFile, ServerName: "wrong.invalid"}, true, ""},
		{"insecure skip verify", config.UpstreamTLS{InsecureSkipVerify: true, ServerName: "wrong.invalid"}, false, "sni=wrong.invalid cn= proto=2"},
	}
	// Cases run one at a time: they share the server and what it saw.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := single(srv.URL)
			cfg.TLS = tt.tls
			p := mustNew(t, cfg, Options{})
			_, err := get(t, p)
			if tt.wantErr {
				if err == nil {
					t.Fatal("GET succeeded; want a TLS error")
				}
				if got := Classify(err); !got.ConnectFailure {
					t.Errorf("Classify(%v) = %+v; want ConnectFailure", err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if got := seen.Load(); got != tt.wantSeen {
				t.Errorf("server saw %q; want %q", got, tt.wantSeen)
			}
		})
	}
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice test client CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "sluice-test-client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile := writePEM(t, dir, "client.pem", "CERTIFICATE", der)
	keyFile := writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER)

	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(caCert)
	srv, serverCA, seen := tlsServer(t, func(c *tls.Config) {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = clientCAs
	})

	t.Run("without", func(t *testing.T) {
		cfg := single(srv.URL)
		cfg.TLS = config.UpstreamTLS{CA: serverCA}
		if _, err := get(t, mustNew(t, cfg, Options{})); err == nil {
			t.Error("GET without a client certificate succeeded")
		}
	})
	t.Run("with", func(t *testing.T) {
		cfg := single(srv.URL)
		cfg.TLS = config.UpstreamTLS{CA: serverCA, Cert: certFile, Key: keyFile}
		if _, err := get(t, mustNew(t, cfg, Options{})); err != nil {
			t.Fatalf("GET: %v", err)
		}
		if got, want := seen.Load(), "sni= cn=sluice-test-client proto=2"; got != want {
			t.Errorf("server saw %q; want %q", got, want)
		}
	})
}

func TestH2C(t *testing.T) {
	t.Parallel()
	var proto atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	for _, h2c := range []bool{false, true} {
		cfg := single(srv.URL)
		cfg.KeepAlive.H2C = h2c
		resp, err := get(t, mustNew(t, cfg, Options{}))
		if err != nil {
			t.Fatalf("h2c=%v: GET: %v", h2c, err)
		}
		want := 1
		if h2c {
			want = 2
		}
		if resp.ProtoMajor != want || int(proto.Load()) != want {
			t.Errorf("h2c=%v: protocol = HTTP/%d (server saw %d); want HTTP/%d", h2c, resp.ProtoMajor, proto.Load(), want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name   string
		mutate func(*config.Upstream)
		want   []string // substrings of the error
	}{
		{"missing CA", func(u *config.Upstream) { u.TLS.CA = missing }, []string{"upstreams[u]", "tls.ca", missing}},
		{"junk CA", func(u *config.Upstream) { u.TLS.CA = junk }, []string{"upstreams[u]", junk, "no PEM certificates"}},
		{"cert without key", func(u *config.Upstream) { u.TLS.Cert = junk }, []string{"tls.cert", "without tls.key"}},
		{"bad key pair", func(u *config.Upstream) { u.TLS.Cert, u.TLS.Key = junk, missing }, []string{junk, missing}},
		{"no targets", func(u *config.Upstream) { u.Targets = nil }, []string{"upstreams[u]: no targets"}},
		{"bad scheme", func(u *config.Upstream) { u.Targets[0].URL = "ftp://x" }, []string{"targets[0]", "scheme"}},
		{"no host", func(u *config.Upstream) { u.Targets[0].URL = "http://" }, []string{"targets[0]", "no host"}},
		{"unknown balancer", func(u *config.Upstream) { u.Balancer = "random" }, []string{`unknown balancer "random"`}},
		{"bad hash_on", func(u *config.Upstream) { u.Balancer, u.HashOn = "hash", "header:" }, []string{"hash_on"}},
		{"bad retries.on", func(u *config.Upstream) { u.Retries.On = []string{"5xx"} }, []string{"retries.on[0]", "5xx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := single("https://127.0.0.1:1")
			tt.mutate(&cfg)
			_, err := New(cfg, Options{})
			if err == nil {
				t.Fatal("New succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestTargetAccessors(t *testing.T) {
	t.Parallel()
	p := mustNew(t, config.Upstream{Name: "api", Targets: []config.Target{
		{URL: "https://api.example.com"}, {URL: "http://10.0.0.1:8080", Weight: 3},
	}}, Options{})
	type view struct{ URL, Host, String string }
	var got []view
	for _, tg := range p.Targets() {
		got = append(got, view{tg.URL().String(), tg.Host(), tg.String()})
	}
	want := []view{
		{"https://api.example.com", "api.example.com:443", "https://api.example.com:443"},
		{"http://10.0.0.1:8080", "10.0.0.1:8080", "http://10.0.0.1:8080"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if p.Name() != "api" || p.Targets()[1].Weight() != 3 || p.Targets()[0].Weight() != 1 {
		t.Errorf("Name() = %q, weights %d %d", p.Name(), p.Targets()[0].Weight(), p.Targets()[1].Weight())
	}
}
