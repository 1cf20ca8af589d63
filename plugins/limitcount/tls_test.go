package limitcount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/redistest"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limit"
	"github.com/sluicegw/sluice/plugins/internal/limit/limittest"
)

// TestRedisTLSAndAuth: limit-count against a Redis that speaks only TLS,
// requires a client certificate from our CA and a password.
func TestRedisTLSAndAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "test redis CA", true)
	srvCert, srvKey := newCert(t, ca, caKey, "redis", false)
	cliCert, cliKey := newCert(t, ca, caKey, "sluice", false)
	write := func(name string, blocks ...*pem.Block) string {
		p := filepath.Join(dir, name)
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	srv := redistest.StartTLS(t,
		write("server.pem", &pem.Block{Type: "CERTIFICATE", Bytes: srvCert.Raw}),
		write("server-key.pem", keyBlock(t, srvKey)), caFile, true, "--requirepass", "tls-secret")

	hs := limittest.New(t, "tls")
	hs.Env.Redis = &plugin.RedisConfig{
		Addrs: []string{srv.Addr()}, Password: "tls-secret", Timeout: testTimeout,
		TLS: true, CAFile: caFile,
		CertFile: write("client.pem", &pem.Block{Type: "CERTIFICATE", Bytes: cliCert.Raw}),
		KeyFile:  write("client-key.pem", keyBlock(t, cliKey)),
	}
	h := handler(t, kindWith(limit.Options{Now: limittest.NewClock(base).Now}), hs.Env,
		`{"count":2,"window":"60s","policy":"redis","on_redis_error":"deny"}`)
	for i, want := range []int{200, 200, 429} {
		if res := get(h, "192.0.2.7", "/"); res.Code != want {
			t.Fatalf("request %d: status %d (%v); want %d", i+1, res.Code, res.Err, want)
		}
	}
	if n := hs.Count("fallback"); n != 0 {
		t.Errorf("%d fallback decisions: Redis over TLS was not used", n)
	}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func keyBlock(t *testing.T, k *ecdsa.PrivateKey) *pem.Block {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
}
