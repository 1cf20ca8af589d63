package jwtverify_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sluicegw/sluice/plugins/internal/jwtverify"
	"github.com/sluicegw/sluice/plugins/internal/oidctest"
)

// clock is a test clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustVerifier(t testing.TB, algs ...string) *jwtverify.Verifier {
	t.Helper()
	v, err := jwtverify.NewVerifier(algs)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fixedKey(k any) jwtverify.KeyFunc {
	return func(string, string, jwt.MapClaims) (any, error) { return k, nil }
}

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The examples of RFC 7515 Appendix A. The payload of A.1 to A.3 is the JWT
// claims set of RFC 7519 section 3.1: {"iss":"joe", "exp":1300819380,
// "http://example.com/is_root":true}, with CRLFs inside the JSON.
const (
	rfcPayload = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

	// RFC 7515 A.1 (and RFC 7519 3.1): HS256, header {"typ":"JWT",\r\n "alg":"HS256"}.
	rfcA1 = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + rfcPayload + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	// RFC 7515 A.1.1: the HMAC key, as the JWK "k" value.
	rfcA1Key = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"

	// RFC 7515 A.2: RS256, header {"alg":"RS256"}, and the public half of
	// the RSA key of A.2.1.
	rfcA2    = "eyJhbGciOiJSUzI1NiJ9." + rfcPayload + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
	rfcA2JWK = `{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}`

	// RFC 7515 A.3: ES256, header {"alg":"ES256"}, and the public half of
	// the P-256 key of A.3.1.
	rfcA3    = "eyJhbGciOiJFUzI1NiJ9." + rfcPayload + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
	rfcA3JWK = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`

	// RFC 8037 A.4: Ed25519 over the payload "Example of Ed25519 signing"
	// (not JSON, so only the signature is checked), with the key of A.2.
	rfc8037A4  = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	rfc8037JWK = `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
)

// rfcTime is a moment before the RFC examples' exp (2011-03-22T18:43:00Z).
var rfcTime = time.Unix(1300819000, 0)

func setKey(t testing.TB, jwk string) any {
	t.Helper()
	s, err := jwtverify.ParseSet([]byte(`{"keys":[` + jwk + `]}`))
	if err != nil || len(s.Keys) != 1 {
		t.Fatalf("ParseSet(%s) = %v, %v", jwk, s, err)
	}
	return s.Keys[0].Key
}

func TestRFCExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, token, alg string
		key              any
	}{
		{"RFC 7515 A.1 HS256 (RFC 7519 3.1)", rfcA1, "HS256", b64(t, rfcA1Key)},
		{"RFC 7515 A.2 RS256", rfcA2, "RS256", setKey(t, rfcA2JWK)},
		{"RFC 7515 A.3 ES256", rfcA3, "ES256", setKey(t, rfcA3JWK)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims, err := mustVerifier(t, tt.alg).Verify(tt.token, fixedKey(tt.key))
			if err != nil {
				t.Fatalf("Verify = %v", err)
			}
			if claims["iss"] != "joe" || claims["http://example.com/is_root"] != true {
				t.Errorf("claims = %v", claims)
			}
			// RFC 7519 3.1's exp is 1300819380: valid just before, expired at it.
			c := &jwtverify.Checks{Clock: func() time.Time { return rfcTime }, Issuer: "joe", RequireExp: true}
			if err := c.Check(claims); err != nil {
				t.Errorf("Check before exp = %v", err)
			}
			c.Clock = func() time.Time { return time.Unix(1300819380, 0) }
			if err := c.Check(claims); !errors.Is(err, jwtverify.ErrExpired) {
				t.Errorf("Check at exp = %v; want ErrExpired", err)
			}
			// The same token under another algorithm, or with a flipped bit,
			// must fail.
			if _, err := mustVerifier(t, "HS384").Verify(tt.token, fixedKey(tt.key)); err == nil {
				t.Error("Verify with another algorithm allowed succeeded")
			}
			bad := tt.token[:len(tt.token)-3] + flip(tt.token[len(tt.token)-3]) + tt.token[len(tt.token)-2:]
			if _, err := mustVerifier(t, tt.alg).Verify(bad, fixedKey(tt.key)); err == nil {
				t.Error("Verify of a changed signature succeeded")
			}
		})
	}
	t.Run("RFC 8037 A.4 Ed25519", func(t *testing.T) {
		t.Parallel()
		parts := strings.Split(rfc8037A4, ".")
		key := setKey(t, rfc8037JWK)
		if err := jwtverify.KeyFits("EdDSA", key); err != nil {
			t.Fatal(err)
		}
		if err := jwt.SigningMethodEdDSA.Verify(parts[0]+"."+parts[1], b64(t, parts[2]), key); err != nil {
			t.Errorf("Verify = %v", err)
		}
		// Not a JWT (the payload is text), so Verify refuses it as malformed.
		if _, err := mustVerifier(t, "EdDSA").Verify(rfc8037A4, fixedKey(key)); !errors.Is(err, jwtverify.ErrMalformed) {
			t.Errorf("Verify(text payload) = %v; want ErrMalformed", err)
		}
	})
}

// flip returns another base64url character than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestNewVerifierRefusesUnknown(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"none", "None", "HS1", "RS1", ""} {
		if _, err := jwtverify.NewVerifier([]string{"RS256", alg}); err == nil {
			t.Errorf("NewVerifier(%q) = nil error", alg)
		}
	}
	// An empty allowlist accepts nothing (golang-jwt would read nil as "any").
	p := oidctest.New(t)
	tok := p.Mint(p.Claims("a"))
	if _, err := mustVerifier(t).Verify(tok, fixedKey(p.SigningKey().Public())); err == nil {
		t.Error("an empty allowlist accepted a token")
	}
}

func TestVerifyAttacks(t *testing.T) {
	t.Parallel()
	p := oidctest.New(t)
	rsaKey := p.SigningKey()
	pub := rsaKey.Public().(*rsa.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	secret := []byte(strings.Repeat("s", 32))
	claims := map[string]any{"sub": "a", "key": "agent-a"}
	good := p.MintWith(rsaKey, nil, claims)
	hs := oidctest.Sign("HS256", secret, map[string]any{"alg": "HS256"}, claims)

	// A signature whose last character differs only in the padding bits:
	// lax base64 decodes it to the same bytes, strict decoding refuses it.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, hs[len(hs)-1])
	laxHS := hs[:len(hs)-1] + string(alphabet[last^1])

	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		algs  []string
		token string
		key   any
		want  error // nil: any error
	}{
		{"alg none", []string{"RS256", "HS256"}, oidctest.Sign("none", jwt.UnsafeAllowNoneSignatureType, map[string]any{"alg": "none"}, claims), pub, nil},
		{"alg none, empty signature", []string{"RS256"}, parts[0][:0] + b64s(`{"alg":"none"}`) + "." + parts[1] + ".", pub, nil},
		{"alg NONE", []string{"RS256"}, b64s(`{"alg":"NONE"}`) + "." + parts[1] + ".", pub, nil},
		{"alg not allowed", []string{"ES256"}, good, pub, nil},
		{"header alg differs from the signing alg", []string{"RS256", "RS512"}, p.MintWith(rsaKey, map[string]any{"alg": "RS512"}, claims), pub, nil},
		{"HS256 signed with the RSA public key as secret", []string{"RS256", "HS256"}, oidctest.Sign("HS256", pubPEM, map[string]any{"alg": "HS256"}, claims), pub, nil},
		{"HS256 signed with the RSA public key, only HS256 allowed", []string{"HS256"}, oidctest.Sign("HS256", pubPEM, map[string]any{"alg": "HS256"}, claims), pub, nil},
		{"wrong HMAC secret", []string{"HS256"}, hs, []byte(strings.Repeat("t", 32)), nil},
		{"short HMAC secret", []string{"HS256"}, oidctest.Sign("HS256", []byte("short"), map[string]any{"alg": "HS256"}, claims), []byte("short"), nil},
		{"lax base64 in signature", []string{"HS256"}, laxHS, secret, jwtverify.ErrMalformed},
		{"signature from another token", []string{"RS256"}, parts[0] + "." + b64s(`{"sub":"admin"}`) + "." + parts[2], pub, nil},
		{"truncated: two parts", []string{"RS256"}, parts[0] + "." + parts[1], pub, jwtverify.ErrMalformed},
		{"truncated: no signature", []string{"RS256"}, parts[0] + "." + parts[1] + ".", pub, nil},
		{"four parts", []string{"RS256"}, good + ".x", pub, jwtverify.ErrMalformed},
		{"empty", []string{"RS256"}, "", pub, jwtverify.ErrMalformed},
		{"garbage", []string{"RS256"}, "a.b.c", pub, jwtverify.ErrMalformed},
		{"dots", []string{"RS256"}, "..", pub, jwtverify.ErrMalformed},
		{"header not JSON", []string{"RS256"}, b64s(`{"alg":`) + "." + parts[1] + "." + parts[2], pub, jwtverify.ErrMalformed},
		{"claims not an object", []string{"RS256"}, parts[0] + "." + b64s(`["a"]`) + "." + parts[2], pub, jwtverify.ErrMalformed},
		{"padded base64", []string{"RS256"}, parts[0] + "=." + parts[1] + "." + parts[2], pub, jwtverify.ErrMalformed},
		{"standard base64 alphabet", []string{"RS256"}, strings.NewReplacer("-", "+", "_", "/").Replace(good), pub, nil},
		{"crit header", []string{"RS256"}, p.MintWith(rsaKey, map[string]any{"crit": []string{"exp"}}, claims), pub, nil},
		{"kid not a string", []string{"RS256"}, p.MintWith(rsaKey, map[string]any{"kid": 7}, claims), pub, nil},
		{"huge token", []string{"RS256"}, p.MintWith(rsaKey, nil, map[string]any{"pad": strings.Repeat("x", jwtverify.MaxTokenSize)}), pub, jwtverify.ErrMalformed},
		{"RSA key under 2048 bits", []string{"RS256"}, good, smallRSA(t), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims, err := mustVerifier(t, tt.algs...).Verify(tt.token, fixedKey(tt.key))
			if err == nil {
				t.Fatalf("Verify = %v, nil error; want an error", claims)
			}
			t.Logf("Verify = %v", err)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v; want %v", err, tt.want)
			}
		})
	}
	t.Run("controls", func(t *testing.T) {
		if _, err := mustVerifier(t, "RS256").Verify(good, fixedKey(pub)); err != nil {
			t.Errorf("good RS256 token: %v", err)
		}
		if _, err := mustVerifier(t, "HS256").Verify(hs, fixedKey(secret)); err != nil {
			t.Errorf("good HS256 token: %v", err)
		}
	})
}

func b64s(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// smallRSA is a 1024-bit RSA public key. KeyFits refuses it by its size,
// before any signature check, so its modulus need not be a real one.
func smallRSA(testing.TB) *rsa.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).SetBit(new(big.Int), 1023, 1), E: 65537}
}

func TestChecks(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	n := float64(now.Unix())
	tests := []struct {
		name   string
		checks jwtverify.Checks
		claims map[string]any
		want   []error // each must be in the result; nil: no error
	}{
		{"empty claims, no checks", jwtverify.Checks{}, map[string]any{}, nil},
		{"valid times", jwtverify.Checks{}, map[string]any{"exp": n + 1, "nbf": n, "iat": n}, nil},
		{"expired", jwtverify.Checks{}, map[string]any{"exp": n}, []error{jwtverify.ErrExpired}},
		{"expired within skew", jwtverify.Checks{Skew: time.Minute}, map[string]any{"exp": n - 59}, nil},
		{"expired beyond skew", jwtverify.Checks{Skew: time.Minute}, map[string]any{"exp": n - 60}, []error{jwtverify.ErrExpired}},
		{"fractional exp", jwtverify.Checks{}, map[string]any{"exp": n + 0.5}, nil},
		{"not yet valid", jwtverify.Checks{}, map[string]any{"nbf": n + 1}, []error{jwtverify.ErrNotYetValid}},
		{"nbf within skew", jwtverify.Checks{Skew: 30 * time.Second}, map[string]any{"nbf": n + 30}, nil},
		{"iat in the future", jwtverify.Checks{}, map[string]any{"iat": n + 1}, []error{jwtverify.ErrIssuedLater}},
		{"iat within skew", jwtverify.Checks{Skew: 5 * time.Second}, map[string]any{"iat": n + 5}, nil},
		{"iat far in the future", jwtverify.Checks{Skew: 5 * time.Second}, map[string]any{"iat": n + 3600}, []error{jwtverify.ErrIssuedLater}},
		{"exp required", jwtverify.Checks{RequireExp: true}, map[string]any{}, []error{jwtverify.ErrNoExpiry}},
		{"exp a string", jwtverify.Checks{}, map[string]any{"exp": "tomorrow"}, []error{jwtverify.ErrClaimType}},
		{"exp huge", jwtverify.Checks{}, map[string]any{"exp": 1e300}, []error{jwtverify.ErrClaimType}},
		{"all times wrong", jwtverify.Checks{}, map[string]any{"exp": n - 10, "nbf": n + 10, "iat": n + 10},
			[]error{jwtverify.ErrExpired, jwtverify.ErrNotYetValid, jwtverify.ErrIssuedLater}},
		{"issuer", jwtverify.Checks{Issuer: "https://idp"}, map[string]any{"iss": "https://idp"}, nil},
		{"wrong issuer", jwtverify.Checks{Issuer: "https://idp"}, map[string]any{"iss": "https://idp/"}, []error{jwtverify.ErrIssuer}},
		{"missing issuer", jwtverify.Checks{Issuer: "https://idp"}, map[string]any{}, []error{jwtverify.ErrIssuer}},
		{"missing issuer allowed", jwtverify.Checks{Issuer: "https://idp", IssuerIfPresent: true}, map[string]any{}, nil},
		{"wrong issuer when present", jwtverify.Checks{Issuer: "https://idp", IssuerIfPresent: true}, map[string]any{"iss": "x"}, []error{jwtverify.ErrIssuer}},
		{"issuer not a string", jwtverify.Checks{Issuer: "1"}, map[string]any{"iss": 1.0}, []error{jwtverify.ErrIssuer}},
		{"audience string", jwtverify.Checks{Audience: []string{"api"}}, map[string]any{"aud": "api"}, nil},
		{"audience list", jwtverify.Checks{Audience: []string{"api", "admin"}}, map[string]any{"aud": []any{"web", "admin"}}, nil},
		{"wrong audience", jwtverify.Checks{Audience: []string{"api"}}, map[string]any{"aud": []any{"web"}}, []error{jwtverify.ErrAudience}},
		{"missing audience", jwtverify.Checks{Audience: []string{"api"}}, map[string]any{}, []error{jwtverify.ErrAudience}},
		{"audience of numbers", jwtverify.Checks{Audience: []string{"1"}}, map[string]any{"aud": []any{1.0}}, []error{jwtverify.ErrAudience}},
		{"scope string", jwtverify.Checks{Scopes: []string{"read", "write"}}, map[string]any{"scope": "write  read admin"}, nil},
		{"scp list", jwtverify.Checks{Scopes: []string{"read"}}, map[string]any{"scp": []any{"read"}}, nil},
		{"scp string", jwtverify.Checks{Scopes: []string{"read"}}, map[string]any{"scp": "read write"}, nil},
		{"missing scope", jwtverify.Checks{Scopes: []string{"read", "write"}}, map[string]any{"scope": "read"}, []error{jwtverify.ErrScope}},
		{"scope prefix is not the scope", jwtverify.Checks{Scopes: []string{"read"}}, map[string]any{"scope": "reader"}, []error{jwtverify.ErrScope}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.checks
			c.Clock = func() time.Time { return now }
			err := c.Check(tt.claims)
			if tt.want == nil {
				if err != nil {
					t.Errorf("Check(%v) = %v; want nil", tt.claims, err)
				}
				return
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Check(%v) = %v; want it to include %v", tt.claims, err, w)
				}
			}
		})
	}
	if err := (&jwtverify.Checks{}).Check(nil); err == nil {
		t.Error("Check without a clock = nil; want an error")
	}
}

func TestClaim(t *testing.T) {
	t.Parallel()
	claims := map[string]any{
		"sub":                        "a",
		"realm_access":               map[string]any{"roles": []any{"x", "y"}},
		"https://example.org/groups": []any{"g"},
		"a.b":                        "flat wins",
		"a":                          map[string]any{"b": "nested"},
	}
	tests := []struct {
		name string
		want any
		ok   bool
	}{
		{"sub", "a", true},
		{"realm_access.roles", []any{"x", "y"}, true},
		{"https://example.org/groups", []any{"g"}, true},
		{"a.b", "flat wins", true},
		{"missing", nil, false},
		{"realm_access.missing", nil, false},
		{"sub.x", nil, false},
	}
	for _, tt := range tests {
		got, ok := jwtverify.Claim(claims, tt.name)
		if ok != tt.ok || !equalAny(got, tt.want) {
			t.Errorf("Claim(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func equalAny(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v       any
		want    []string
		wantErr bool
	}{
		{"a", []string{"a"}, false},
		{[]any{"a", "b"}, []string{"a", "b"}, false},
		{[]any{"a", 1.0}, nil, true},
		{1.0, nil, true},
		{nil, nil, true},
	}
	for _, tt := range tests {
		got, err := jwtverify.Strings(map[string]any{"x": tt.v}, "x")
		if (err != nil) != tt.wantErr || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("Strings(%v) = %v, %v; want %v (error %v)", tt.v, got, err, tt.want, tt.wantErr)
		}
	}
	if got, err := jwtverify.Strings(map[string]any{}, "x"); got != nil || err != nil {
		t.Errorf("Strings(missing) = %v, %v; want nil, nil", got, err)
	}
}
