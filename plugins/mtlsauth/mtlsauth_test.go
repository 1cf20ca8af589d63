package mtlsauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var serial atomic.Int64

func newCA(t testing.TB, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &ca{cert: cert, key: key, pool: pool}
}

// issue signs a client certificate from tmpl (subject and SANs), valid for
// an hour around now unless tmpl says otherwise.
func (c *ca) issue(t testing.TB, tmpl *x509.Certificate) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cfg, want string }{
		{"defaults", `{}`, ""},
		{"san only", `{"match":["san"]}`, ""},
		{"empty", `{"match":[]}`, "match: must list at least one of san, subject, common_name"},
		{"bad and twice", `{"match":["cn","san","san"]}`, "match[0]: \"cn\" is not san, subject or common_name\nmatch[2]: \"san\" is listed twice"},
		{"unknown key", `{"allow_unmapped":true}`, `json: unknown field "allow_unmapped"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errString(Kind.Check(json.RawMessage(tt.cfg))); got != tt.want {
				t.Errorf("Check(%s) =\n%s\nwant\n%s", tt.cfg, got, tt.want)
			}
		})
	}
}

func TestCredentialValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, cred, want string }{
		{"cn", `{"common_name":"agent-a"}`, ""},
		{"subject", `{"subject":"CN=agent-a, o=Example\\, Inc., OU=a+OU=b, 2.5.4.97=x"}`, ""},
		{"spiffe", `{"san":"spiffe://example.org/agent-a"}`, ""},
		{"dns", `{"san":"Agent-A.example.org."}`, ""},
		{"email", `{"san":"agent@Example.org"}`, ""},
		{"ip", `{"san":"2001:db8::1"}`, ""},
		{"none", `{}`, "san, subject, common_name: set exactly one"},
		{"two", `{"common_name":"a","san":"a.example.org"}`, "san, subject, common_name: set exactly one"},
		{"bad san", `{"san":"not a name"}`, "san: must not contain spaces or control characters"},
		{"bad dns", `{"san":"a..b"}`, `san: "a..b" is not a DNS name, IP address, email address or URI`},
		{"bad email", `{"san":"@example.org"}`, `san: "@example.org" is not an email address`},
		{"zone", `{"san":"fe80::1%eth0"}`, "san: an IP address must not have a zone"},
		{"uri without scheme", `{"san":"://x"}`, `san: "://x" is neither an IP address nor a URI with a scheme`},
		{"subject type", `{"subject":"CN=a,E=a@example.org"}`, `subject: unknown attribute type "E" (use CN, O, OU, C, L, ST, STREET, POSTALCODE, SERIALNUMBER, DC, UID, emailAddress or a dotted OID)`},
		{"subject no =", `{"subject":"CN=a,O"}`, `subject: "O" has no "="`},
		{"subject trailing comma", `{"subject":"CN=a,"}`, `subject: ends with ','`},
		{"subject hex", `{"subject":"CN=#0403616263"}`, "subject: CN: the #hex form of values is not supported"},
		{"subject unescaped", `{"subject":"CN=a;b"}`, `subject: CN: ';' must be escaped with "\"`},
		{"cn control", `{"common_name":"a\u0000"}`, "common_name: contains control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Kind.Credential.Decode(json.RawMessage(tt.cred))
			if got := errString(err); got != tt.want {
				t.Errorf("Decode(%s) =\n%s\nwant\n%s", tt.cred, got, tt.want)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	id := func(cred string) string {
		v, err := Kind.Credential.Decode(json.RawMessage(cred))
		if err != nil {
			t.Fatal(err)
		}
		return Kind.Credential.Identity(v)
	}
	same := [][2]string{
		{`{"san":"A.Example.org"}`, `{"san":"a.example.org."}`},
		{`{"subject":"CN=a,O=b"}`, `{"subject":"o = b , cn=a"}`},
		{`{"subject":"CN=a\\,b"}`, `{"subject":"CN=a\\2Cb"}`},
		{`{"san":"::ffff:10.0.0.1"}`, `{"san":"10.0.0.1"}`},
		{`{"san":"x@EXAMPLE.org"}`, `{"san":"x@example.org"}`},
	}
	for _, p := range same {
		if a, b := id(p[0]), id(p[1]); a != b {
			t.Errorf("identities of %s and %s differ: %q, %q", p[0], p[1], a, b)
		}
	}
	different := [][2]string{
		{`{"common_name":"a"}`, `{"san":"a"}`},
		{`{"common_name":"a"}`, `{"subject":"CN=a"}`},
		{`{"san":"X@example.org"}`, `{"san":"x@example.org"}`},
		{`{"subject":"CN=a"}`, `{"subject":"CN=a,O=b"}`},
	}
	for _, p := range different {
		if a, b := id(p[0]), id(p[1]); a == b {
			t.Errorf("identities of %s and %s are equal", p[0], p[1])
		}
	}
}

var consumers = []plugintest.Consumer{
	{Name: "spiffe", Credentials: map[string]string{Name: `{"san":"spiffe://example.org/agent-a"}`}},
	{Name: "dns", Credentials: map[string]string{Name: `{"san":"Agent.Example.org"}`}},
	{Name: "email", Credentials: map[string]string{Name: `{"san":"ops@example.org"}`}},
	{Name: "ip", Credentials: map[string]string{Name: `{"san":"10.1.2.3"}`}},
	{Name: "subject", Credentials: map[string]string{Name: `{"subject":"CN=svc, OU=payments, O=Example\\, Inc."}`}},
	{Name: "cn", Credentials: map[string]string{Name: `{"common_name":"legacy-client"}`}},
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	authority := newCA(t, "clients")
	other := newCA(t, "other")
	spiffe, _ := url.Parse("spiffe://example.org/agent-a")
	leaf := func(tmpl *x509.Certificate) *x509.Certificate { c, _ := authority.issue(t, tmpl); return c }
	verified := func(c *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, authority.cert}}}
	}
	tests := []struct {
		name     string
		cfg      string
		tls      *tls.ConnectionState
		status   int
		consumer string
		err      string
	}{
		{name: "spiffe", tls: verified(leaf(&x509.Certificate{URIs: []*url.URL{spiffe}})), status: 200, consumer: "spiffe"},
		{name: "dns any case", tls: verified(leaf(&x509.Certificate{DNSNames: []string{"x.example.org", "agent.example.ORG"}})), status: 200, consumer: "dns"},
		{name: "email", tls: verified(leaf(&x509.Certificate{EmailAddresses: []string{"ops@EXAMPLE.org"}})), status: 200, consumer: "email"},
		{name: "ip", tls: verified(leaf(&x509.Certificate{IPAddresses: []net.IP{net.ParseIP("10.1.2.3")}})), status: 200, consumer: "ip"},
		{name: "subject in another order", tls: verified(leaf(&x509.Certificate{Subject: pkix.Name{
			Organization: []string{"Example, Inc."}, OrganizationalUnit: []string{"payments"}, CommonName: "svc"}})), status: 200, consumer: "subject"},
		{name: "common name", tls: verified(leaf(&x509.Certificate{Subject: pkix.Name{CommonName: "legacy-client", Organization: []string{"Any"}}})),
			status: 200, consumer: "cn"},
		{name: "subject must be whole", tls: verified(leaf(&x509.Certificate{Subject: pkix.Name{
			Organization: []string{"Example, Inc."}, OrganizationalUnit: []string{"payments"}, CommonName: "svc", Country: []string{"NL"}}})),
			status: 401, err: "mtls-auth: no consumer has the client certificate (subject CN=svc,OU=payments,O=Example\\, Inc.,C=NL)"},
		{name: "two CNs match none", tls: verified(leaf(&x509.Certificate{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "legacy-client"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "other"}}}})),
			status: 401, err: "mtls-auth: no consumer has the client certificate (subject CN=other)"}, // Go prints the last CN only
		{name: "names two consumers", tls: verified(leaf(&x509.Certificate{URIs: []*url.URL{spiffe}, Subject: pkix.Name{CommonName: "legacy-client"}})),
			status: 401, err: "mtls-auth: the client certificate (subject CN=legacy-client) names both consumers spiffe and cn"},
		{name: "match san only", cfg: `{"match":["san"]}`, tls: verified(leaf(&x509.Certificate{URIs: []*url.URL{spiffe}, Subject: pkix.Name{CommonName: "legacy-client"}})),
			status: 200, consumer: "spiffe"},
		{name: "match leaves common name out", cfg: `{"match":["san","subject"]}`, tls: verified(leaf(&x509.Certificate{Subject: pkix.Name{CommonName: "legacy-client"}})),
			status: 401, err: "mtls-auth: no consumer has the client certificate (subject CN=legacy-client)"},
		{name: "unmapped", tls: verified(leaf(&x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}})),
			status: 401, err: "mtls-auth: no consumer has the client certificate (subject CN=stranger)"},
		{name: "expired", tls: verified(leaf(&x509.Certificate{URIs: []*url.URL{spiffe}, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})),
			status: 401, err: "mtls-auth: the client certificate is outside its validity period"},
		{name: "not verified", tls: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{func() *x509.Certificate {
			c, _ := other.issue(t, &x509.Certificate{URIs: []*url.URL{spiffe}})
			return c
		}()}}, status: 401, err: errUnverified.Error()},
		{name: "no certificate", tls: &tls.ConnectionState{}, status: 401, err: "no credential"},
		{name: "plain http", status: 401, err: "no credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := plugintest.Env(t, Kind, "r", consumers...)
			cfg := tt.cfg
			if cfg == "" {
				cfg = `{}`
			}
			h := plugintest.Route(plugin.AuthnPolicy{}, nil, plugintest.Use(t, Kind, env, cfg))
			r := httptest.NewRequest("GET", "/", nil)
			r.TLS = tt.tls
			res := plugintest.Serve(h, r)
			if res.Code != tt.status || res.X.Consumer != tt.consumer {
				t.Fatalf("got %d consumer %q; want %d %q (err %v)", res.Code, res.X.Consumer, tt.status, tt.consumer, res.Err)
			}
			if tt.status == 401 {
				if got := errString(res.Err.(*plugin.Error).Err); got != tt.err {
					t.Errorf("logged cause =\n%s\nwant\n%s", got, tt.err)
				}
			}
		})
	}
}

// TestRealTLS runs the plugin behind a TLS server that asks for client
// certificates but does not require them (the listener's verify_if_given),
// with a real client.
func TestRealTLS(t *testing.T) {
	t.Parallel()
	authority := newCA(t, "clients")
	spiffe, _ := url.Parse("spiffe://example.org/agent-a")
	_, agent := authority.issue(t, &x509.Certificate{URIs: []*url.URL{spiffe}})
	_, stranger := authority.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}})
	_, forged := newCA(t, "clients").issue(t, &x509.Certificate{URIs: []*url.URL{spiffe}}) // same names, other key

	env := plugintest.Env(t, Kind, "r", consumers...)
	h := plugintest.Route(plugin.AuthnPolicy{}, nil, plugintest.Use(t, Kind, env, `{}`))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := plugintest.Serve(h, r)
		w.WriteHeader(res.Code)
		io.WriteString(w, res.X.Consumer)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: authority.pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the forged certificate's handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)

	get := func(cert *tls.Certificate) (int, string, error) {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, who, err := get(&agent); err != nil || code != 200 || who != "spiffe" {
		t.Errorf("with the agent's certificate: %d %q %v; want 200 spiffe", code, who, err)
	}
	if code, who, err := get(&stranger); err != nil || code != 401 || who != "" {
		t.Errorf("with an unmapped certificate: %d %q %v; want 401", code, who, err)
	}
	if code, _, err := get(nil); err != nil || code != 401 {
		t.Errorf("without a certificate: %d %v; want 401", code, err)
	}
	if _, _, err := get(&forged); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Errorf("with a certificate from another CA: %v; want a TLS handshake error", err)
	}
}

// TestCheckedPerRequest checks a certificate that expires while its
// connection lives on is refused.
func TestCheckedPerRequest(t *testing.T) {
	t.Parallel()
	authority := newCA(t, "clients")
	spiffe, _ := url.Parse("spiffe://example.org/agent-a")
	c, _ := authority.issue(t, &x509.Certificate{URIs: []*url.URL{spiffe}})
	env := plugintest.Env(t, Kind, "r", consumers...)
	hd := plugintest.Build(t, Kind, env, `{}`, nil).(*handler)
	hd.now = func() time.Time { return c.NotAfter.Add(time.Second) }
	r := httptest.NewRequest("GET", "/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, authority.cert}}}
	if res := plugintest.Serve(plugintest.Route(plugin.AuthnPolicy{}, nil, plugin.Use{Kind: Kind, MW: func(next plugin.Handler) plugin.Handler {
		return &handler{mtlsAuth: hd.mtlsAuth, next: next}
	}}), r); res.Code != 401 {
		t.Errorf("expired certificate: status %d; want 401", res.Code)
	}
}

func TestNewRefusesDuplicates(t *testing.T) {
	t.Parallel()
	v1, _ := Kind.Credential.Decode(json.RawMessage(`{"subject":"CN=a,O=b"}`))
	v2, _ := Kind.Credential.Decode(json.RawMessage(`{"subject":"O=b,CN=a"}`))
	env := plugin.Env{Credentials: []plugin.Credential{
		{Consumer: &plugin.Consumer{Name: "a"}, Value: v1},
		{Consumer: &plugin.Consumer{Name: "b"}, Value: v2},
	}}
	_, err := Kind.Build(env, nil)
	if want := "consumers a and b have the same mtls-auth credential"; errString(err) != want {
		t.Errorf("Build = %v; want %s", err, want)
	}
}
