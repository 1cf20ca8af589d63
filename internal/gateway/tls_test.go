package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// testCA is a certificate authority made at test time.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serialNumber atomic.Int64

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialNumber.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue signs a leaf for 127.0.0.1 (server) or a client, returning it as a
// tls.Certificate and as PEM cert and key.
func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialNumber.Add(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withListener replaces simple()'s listener line with one carrying extra
// flow-mapping keys, e.g. `tls: {...}`.
func withListener(y, extra string) string {
	const plain = "listeners: [{addr: 127.0.0.1:0}]"
	if !strings.Contains(y, plain) {
		panic("withListener: config has no plain listener line")
	}
	return strings.Replace(y, plain, "listeners: [{addr: 127.0.0.1:0, "+extra+"}]", 1)
}

// tlsGateway starts a gateway whose listener serves a certificate issued by
// a fresh CA, requiring client certificates from clientCA when not nil.
func tlsGateway(t *testing.T, upURL string, clientCA *testCA) (h *harness, serverCA *testCA) {
	t.Helper()
	dir := t.TempDir()
	serverCA = newCA(t, "sluice test server CA")
	_, certPEM, keyPEM := serverCA.issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	tlsYAML := fmt.Sprintf("certificates: [{cert: %q, key: %q}]",
		writeFile(t, dir, "server.pem", certPEM), writeFile(t, dir, "server-key.pem", keyPEM))
	if clientCA != nil {
		tlsYAML += fmt.Sprintf(", client_ca: %q", writeFile(t, dir, "client-ca.pem", clientCA.pem))
	}
	h = start(t, withListener(simple("", upURL), "tls: {"+tlsYAML+"}"))
	return h, serverCA
}

func clientFor(t *testing.T, roots *x509.CertPool, protos func(*http.Protocols), certs ...tls.Certificate) *http.Client {
	t.Helper()
	p := new(http.Protocols)
	protos(p)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs},
		Protocols:       p,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// echoProto is an upstream that answers with what it saw.
func echoProto(hits *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		fmt.Fprintf(w, "%s %s", r.Proto, r.Header.Get("X-Forwarded-Proto"))
	})
}

func TestTLSListener(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, echoProto(nil))
	h, ca := tlsGateway(t, up.URL, nil)
	url := "https://" + h.srv.Addrs()[0].String() + "/x"

	tests := []struct {
		name      string
		protos    func(*http.Protocols)
		wantMajor int
	}{
		{"http2 by alpn", func(p *http.Protocols) { p.SetHTTP2(true) }, 2},
		{"http1.1", func(p *http.Protocols) { p.SetHTTP1(true) }, 1},
		{"either prefers http2", func(p *http.Protocols) { p.SetHTTP1(true); p.SetHTTP2(true) }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := clientFor(t, ca.pool(), tt.protos)
			resp, err := c.Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s status = %d; want 200 (body %q)", url, resp.StatusCode, body)
			}
			if resp.ProtoMajor != tt.wantMajor {
				t.Errorf("GET %s ProtoMajor = %d; want %d", url, resp.ProtoMajor, tt.wantMajor)
			}
			if resp.TLS == nil {
				t.Errorf("GET %s: response has no TLS state", url)
			}
			// The upstream leg is plain HTTP/1.1 and learns the client used https.
			if got, want := string(body), "HTTP/1.1 https"; got != want {
				t.Errorf("upstream saw %q; want %q", got, want)
			}
		})
	}
}

func TestTLSClientCA(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	up := upstreamServer(t, echoProto(&hits))
	clientCA := newCA(t, "sluice test client CA")
	h, serverCA := tlsGateway(t, up.URL, clientCA)
	url := "https://" + h.srv.Addrs()[0].String() + "/x"

	good, _, _ := clientCA.issue(t, "good client", x509.ExtKeyUsageClientAuth)
	other, _, _ := newCA(t, "some other CA").issue(t, "stranger", x509.ExtKeyUsageClientAuth)

	tests := []struct {
		name   string
		certs  []tls.Certificate
		protos func(*http.Protocols)
		ok     bool
	}{
		{"no certificate http1", nil, func(p *http.Protocols) { p.SetHTTP1(true) }, false},
		{"no certificate http2", nil, func(p *http.Protocols) { p.SetHTTP2(true) }, false},
		{"certificate from another CA", []tls.Certificate{other}, func(p *http.Protocols) { p.SetHTTP1(true) }, false},
		{"certificate from client CA http1", []tls.Certificate{good}, func(p *http.Protocols) { p.SetHTTP1(true) }, true},
		{"certificate from client CA http2", []tls.Certificate{good}, func(p *http.Protocols) { p.SetHTTP2(true) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the refused cases check that the upstream was
			// never reached, by counting its hits.
			before := hits.Load()
			c := clientFor(t, serverCA.pool(), tt.protos, tt.certs...)
			resp, err := c.Get(url)
			if !tt.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("GET %s without a trusted client certificate = %d; want a TLS failure", url, resp.StatusCode)
				}
				t.Logf("refused as expected: %v", err)
				if n := hits.Load() - before; n != 0 {
					t.Errorf("upstream hits = %d; want 0 for a refused client", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET %s with a trusted client certificate: %v", url, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s status = %d; want 200", url, resp.StatusCode)
			}
			if n := hits.Load() - before; n != 1 {
				t.Errorf("upstream hits = %d; want 1", n)
			}
		})
	}
}

func TestH2C(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, echoProto(nil))
	on := start(t, withListener(simple("", up.URL), "http2: {h2c: true}"))
	off := start(t, simple("", up.URL))

	h2c := func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }
	h1 := func(p *http.Protocols) { p.SetHTTP1(true) }
	tests := []struct {
		name      string
		url       string
		protos    func(*http.Protocols)
		wantMajor int // 0: the request must fail
	}{
		{"prior knowledge with h2c on", on.url, h2c, 2},
		{"http1.1 with h2c on", on.url, h1, 1},
		{"prior knowledge with h2c off", off.url, h2c, 0},
		{"http1.1 with h2c off", off.url, h1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := clientFor(t, nil, tt.protos)
			resp, err := c.Get(tt.url + "/x")
			if tt.wantMajor == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("GET with prior-knowledge HTTP/2 to a listener without h2c = %s %d; want an error", resp.Proto, resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET %s: %v", tt.url, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != tt.wantMajor {
				t.Errorf("GET %s = %s %d; want HTTP/%d 200", tt.url, resp.Proto, resp.StatusCode, tt.wantMajor)
			}
			if got, want := string(body), "HTTP/1.1 http"; got != want {
				t.Errorf("upstream saw %q; want %q", got, want)
			}
		})
	}
}

// serverMaxStreams opens an HTTP/2 connection on conn and returns the value
// of SETTINGS_MAX_CONCURRENT_STREAMS in the server's first SETTINGS frame.
func serverMaxStreams(t *testing.T, conn net.Conn) (uint32, bool) {
	t.Helper()
	// A deadline only so that a broken server fails the test instead of hanging it.
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			return sf.Value(http2.SettingMaxConcurrentStreams)
		}
	}
}

func TestHTTP2MaxConcurrentStreams(t *testing.T) {
	t.Parallel()
	up := upstreamServer(t, echoProto(nil))

	t.Run("h2c", func(t *testing.T) {
		t.Parallel()
		h := start(t, withListener(simple("", up.URL), "http2: {h2c: true, max_concurrent_streams: 7}"))
		conn, err := net.Dial("tcp", h.srv.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got, ok := serverMaxStreams(t, conn); !ok || got != 7 {
			t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent %v); want 7", got, ok)
		}
	})
	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ca := newCA(t, "sluice test server CA")
		_, certPEM, keyPEM := ca.issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
		listener := fmt.Sprintf("tls: {certificates: [{cert: %q, key: %q}]}, http2: {max_concurrent_streams: 9}",
			writeFile(t, dir, "server.pem", certPEM), writeFile(t, dir, "server-key.pem", keyPEM))
		h := start(t, withListener(simple("", up.URL), listener))
		conn, err := tls.Dial("tcp", h.srv.Addrs()[0].String(), &tls.Config{RootCAs: ca.pool(), NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("ALPN protocol = %q; want h2", p)
		}
		if got, ok := serverMaxStreams(t, conn); !ok || got != 9 {
			t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent %v); want 9", got, ok)
		}
	})
}
