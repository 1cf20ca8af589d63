package jwtverify_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
	"github.com/sluicegw/sluice/plugins/internal/oidctest"
)

func jwkJSON(t testing.TB, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestParseSet(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	rs := oidctest.JWK(p.SigningKey())
	es := oidctest.JWK(p.NewKey("ES256"))
	es512 := oidctest.JWK(p.NewKey("ES512"))
	ed := oidctest.JWK(p.NewKey("EdDSA"))
	tests := []struct {
		name    string
		doc     string
		keys    int
		skipped string // substring of Skipped, "" for none
		err     string // substring of the error, "" for none
	}{
		{"all kinds", `{"keys":[` + strings.Join([]string{jwkJSON(t, rs), jwkJSON(t, es), jwkJSON(t, es512), jwkJSON(t, ed)}, ",") + `]}`, 4, "", ""},
		{"empty set", `{"keys":[]}`, 0, "", ""},
		{"without kid, alg and use", `{"keys":[` + jwkJSON(t, with(rs, "kid", nil, "alg", nil, "use", nil)) + `]}`, 1, "", ""},
		{"padded base64", `{"keys":[` + jwkJSON(t, with(rs, "e", "AQAB==")) + `]}`, 1, "", ""},
		{"oct key", `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`, 0, "symmetric keys are never taken", ""},
		{"encryption key", `{"keys":[` + jwkJSON(t, with(rs, "use", "enc")) + `]}`, 0, `use "enc"`, ""},
		{"key_ops without verify", `{"keys":[` + jwkJSON(t, with(rs, "key_ops", []string{"encrypt"})) + `]}`, 0, "key_ops", ""},
		{"HS alg on an RSA key", `{"keys":[` + jwkJSON(t, with(rs, "alg", "HS256")) + `]}`, 0, `alg "HS256"`, ""},
		{"ES384 alg on a P-256 key", `{"keys":[` + jwkJSON(t, with(es, "alg", "ES384")) + `]}`, 0, "needs curve P-384", ""},
		{"RSA too small", `{"keys":[` + jwkJSON(t, with(rs, "n", "AQAB")) + `]}`, 0, "too small", ""},
		{"even exponent", `{"keys":[` + jwkJSON(t, with(rs, "e", "Ag")) + `]}`, 0, "exponent", ""},
		{"EC point off the curve", `{"keys":[` + jwkJSON(t, with(es, "y", es["x"])) + `]}`, 0, "kid", ""},
		{"EC short coordinate", `{"keys":[` + jwkJSON(t, with(es, "x", "AQAB")) + `]}`, 0, "must be 32 bytes", ""},
		{"EC unknown curve", `{"keys":[` + jwkJSON(t, with(es, "crv", "secp256k1")) + `]}`, 0, "secp256k1", ""},
		{"OKP X25519", `{"keys":[` + jwkJSON(t, with(ed, "crv", "X25519")) + `]}`, 0, "X25519", ""},
		{"unknown kty", `{"keys":[{"kty":"PQC"}]}`, 0, `kty "PQC"`, ""},
		{"bad base64", `{"keys":[` + jwkJSON(t, with(rs, "n", "!!")) + `]}`, 0, "not base64url", ""},
		{"one bad key does not hide the others", `{"keys":[{"kty":"PQC"},` + jwkJSON(t, rs) + `]}`, 1, "PQC", ""},
		{"not JSON", `keys`, 0, "", "not a JWK set"},
		{"no keys member", `{"key":[]}`, 0, "", `no "keys" array`},
		{"keys not a list", `{"keys":{}}`, 0, "", "not a JWK set"},
		{"too many keys", `{"keys":[` + strings.Repeat(`{"kty":"PQC"},`, 100) + `{"kty":"PQC"}]}`, 0, "", "more than 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := jwtverify.ParseSet([]byte(tt.doc))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSet = %v; want error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSet = %v", err)
			}
			if len(s.Keys) != tt.keys {
				t.Errorf("got %d keys; want %d (skipped %q)", len(s.Keys), tt.keys, s.Skipped)
			}
			all := strings.Join(s.Skipped, "\n")
			if tt.skipped == "" && all != "" || !strings.Contains(all, tt.skipped) {
				t.Errorf("Skipped = %q; want it to contain %q", all, tt.skipped)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	rs1, rs2 := p.SigningKey(), p.NewKey("RS256")
	es := p.NewKey("ES256")
	noAlg := with(oidctest.JWK(rs2), "alg", nil)
	doc := `{"keys":[` + jwkJSON(t, oidctest.JWK(rs1)) + "," + jwkJSON(t, noAlg) + "," + jwkJSON(t, oidctest.JWK(es)) + `]}`
	s, err := jwtverify.ParseSet([]byte(doc))
	if err != nil || len(s.Keys) != 3 {
		t.Fatalf("ParseSet = %v, %v", s, err)
	}
	tests := []struct {
		name, kid, alg string
		want           any   // the key
		err            error // ErrNoKey, or errAny for another error
	}{
		{"by kid", rs1.ID, "RS256", rs1.Public(), nil},
		{"kid without alg fits PS256", rs2.ID, "PS256", rs2.Public(), nil},
		{"kid with alg RS256 refuses PS256", rs1.ID, "PS256", nil, jwtverify.ErrNoKey},
		{"kid of an EC key for RS256", es.ID, "RS256", nil, jwtverify.ErrNoKey},
		{"EC by kid", es.ID, "ES256", es.Public(), nil},
		{"EC key for ES384", es.ID, "ES384", nil, jwtverify.ErrNoKey},
		{"unknown kid", "nope", "RS256", nil, jwtverify.ErrNoKey},
		{"no kid, one EC key fits", "", "ES256", es.Public(), nil},
		{"no kid, two RSA keys fit", "", "RS256", nil, errAny},
		{"no kid, nothing fits", "", "ES512", nil, jwtverify.ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Lookup(tt.kid, tt.alg)
			switch {
			case tt.err == nil && err != nil:
				t.Fatalf("Lookup = %v", err)
			case tt.err == errAny && (err == nil || errors.Is(err, jwtverify.ErrNoKey)):
				t.Fatalf("Lookup = %v; want an error other than ErrNoKey", err)
			case tt.err != nil && tt.err != errAny && !errors.Is(err, tt.err):
				t.Fatalf("Lookup = %v; want %v", err, tt.err)
			}
			if tt.want != nil && !equalKey(got, tt.want) {
				t.Errorf("Lookup returned another key")
			}
		})
	}
}

var errAny = errors.New("any error")

func equalKey(a, b any) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	ae, ok := a.(eq)
	return ok && ae.Equal(b)
}

func TestKeyFits(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	rs := p.SigningKey().Public()
	es := p.NewKey("ES256").Public()
	es384 := p.NewKey("ES384").Public()
	ed := p.NewKey("EdDSA").Public()
	tests := []struct {
		alg  string
		key  any
		want string // "" fits, else a substring of the error
	}{
		{"HS256", make([]byte, 32), ""},
		{"HS256", make([]byte, 31), "at least 32 bytes"},
		{"HS384", make([]byte, 32), "at least 48 bytes"},
		{"HS512", make([]byte, 64), ""},
		{"HS256", rs, "cannot use an RSA key"},
		{"RS256", make([]byte, 300), "needs a public key"},
		{"RS256", rs, ""},
		{"PS512", rs, ""},
		{"RS256", smallRSA(t), "too small"},
		{"ES256", es, ""},
		{"ES256", es384, "needs curve P-256"},
		{"ES384", es384, ""},
		{"RS256", es, "cannot use an EC key"},
		{"EdDSA", ed, ""},
		{"EdDSA", ed25519.PublicKey(make([]byte, 31)), "wrong size"},
		{"ES256", ed, "cannot use an Ed25519 key"},
		{"RS256", "a string", "not supported"},
		{"none", rs, "not supported"},
	}
	for _, tt := range tests {
		err := jwtverify.KeyFits(tt.alg, tt.key)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("KeyFits(%s, %T) = %v; want %q", tt.alg, tt.key, err, tt.want)
		}
	}
	for _, alg := range jwtverify.Algorithms {
		if !jwtverify.Known(alg) {
			t.Errorf("Known(%s) = false", alg)
		}
	}
	if jwtverify.Known("none") || jwtverify.IsHMAC("RS256") || !jwtverify.IsHMAC("HS384") {
		t.Error("Known/IsHMAC disagree with the algorithm table")
	}
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParsePublicKey(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	rsaKey := p.SigningKey().Signer.(*rsa.PrivateKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	pkix1, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pkixEC, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	pkixEd, _ := x509.MarshalPKIXPublicKey(edPub)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	tests := []struct {
		name, pem string
		want      any
		err       string
	}{
		{"PKIX RSA", pemOf("PUBLIC KEY", pkix1), &rsaKey.PublicKey, ""},
		{"PKIX RSA with spaces around", "\n  " + pemOf("PUBLIC KEY", pkix1) + "\n\n", &rsaKey.PublicKey, ""},
		{"PKCS1 RSA", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), &rsaKey.PublicKey, ""},
		{"PKIX EC", pemOf("PUBLIC KEY", pkixEC), &ecKey.PublicKey, ""},
		{"PKIX Ed25519", pemOf("PUBLIC KEY", pkixEd), edPub, ""},
		{"certificate", pemOf("CERTIFICATE", cert), &ecKey.PublicKey, ""},
		{"private key", pemOf("PRIVATE KEY", privDER), nil, "give the public key only"},
		{"two blocks", pemOf("PUBLIC KEY", pkix1) + pemOf("PUBLIC KEY", pkixEC), nil, "more than one"},
		{"not PEM", "MIIBIjANBgkq", nil, "not PEM"},
		{"bad DER", pemOf("PUBLIC KEY", []byte("nope")), nil, "PUBLIC KEY:"},
		{"other block", pemOf("X509 CRL", []byte("x")), nil, `"X509 CRL"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := jwtverify.ParsePublicKey(tt.pem)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParsePublicKey = %v; want error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || !equalKey(got, tt.want) {
				t.Fatalf("ParsePublicKey = %T, %v; want %T", got, err, tt.want)
			}
		})
	}
}

func TestConfigTypes(t *testing.T) {
	t.Parallel()
	var c struct {
		D1, D2, D3 jwtverify.Duration
		L1, L2     jwtverify.StringList
		S          jwtverify.Secret
	}
	err := json.Unmarshal([]byte(`{"D1":1.5,"D2":"250ms","D3":"soon","L1":"api","L2":["a","b"],"S":"hunter2"}`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.D1.D != 1500*time.Millisecond || c.D2.D != 250*time.Millisecond {
		t.Errorf("durations = %v, %v", c.D1.D, c.D2.D)
	}
	if err := c.D3.Check("timeout", 0, time.Hour); err == nil || !strings.Contains(err.Error(), `timeout: "soon" is not a duration`) {
		t.Errorf("Check(bad) = %v", err)
	}
	if err := c.D2.Check("timeout", time.Second, time.Hour); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("Check(small) = %v", err)
	}
	if len(c.L1) != 1 || c.L1[0] != "api" || len(c.L2) != 2 {
		t.Errorf("lists = %q, %q", c.L1, c.L2)
	}
	if err := json.Unmarshal([]byte(`{"L1":3}`), &c); err == nil {
		t.Error("StringList accepted a number")
	}
	if err := json.Unmarshal([]byte(`{"D1":true}`), &c); err == nil {
		t.Error("Duration accepted a bool")
	}
	// A secret never prints, whichever way it is printed.
	for _, s := range []string{fmt.Sprint(c.S), fmt.Sprintf("%v %+v %#v %s", c, c, c, c.S), mustJSON(t, c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret leaked: %s", s)
		}
	}
	if c.S.Reveal() != "hunter2" {
		t.Error("Reveal lost the secret")
	}
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
