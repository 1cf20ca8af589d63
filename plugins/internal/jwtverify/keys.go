package jwtverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// family is what kind of key an algorithm needs.
type family int

const (
	famHMAC family = iota + 1
	famRSA
	famEC
	famEd25519
)

type algInfo struct {
	fam   family
	size  int            // HMAC: minimum secret bytes (RFC 7518 3.2: the hash size)
	curve elliptic.Curve // EC: the one curve the algorithm is defined on (RFC 7518 3.4)
}

// algs are the JWS algorithms sluice knows (RFC 7518 section 3, RFC 8037).
// "none" is deliberately absent: no configuration can allow it.
var algs = map[string]algInfo{
	"HS256": {fam: famHMAC, size: 32},
	"HS384": {fam: famHMAC, size: 48},
	"HS512": {fam: famHMAC, size: 64},
	"RS256": {fam: famRSA},
	"RS384": {fam: famRSA},
	"RS512": {fam: famRSA},
	"PS256": {fam: famRSA},
	"PS384": {fam: famRSA},
	"PS512": {fam: famRSA},
	"ES256": {fam: famEC, curve: elliptic.P256()},
	"ES384": {fam: famEC, curve: elliptic.P384()},
	"ES512": {fam: famEC, curve: elliptic.P521()},
	"EdDSA": {fam: famEd25519},
}

// Algorithms lists every algorithm Known accepts, HMAC ones first.
var Algorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// AsymmetricAlgorithms lists the public-key algorithms: the default allowlist
// of a verifier whose keys come from a JWKS.
var AsymmetricAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Known reports whether alg is a JWS algorithm sluice can verify.
func Known(alg string) bool { _, ok := algs[alg]; return ok }

// IsHMAC reports whether alg is HS256, HS384 or HS512.
func IsHMAC(alg string) bool { return algs[alg].fam == famHMAC }

// minRSABits is RFC 7518 3.3's floor: "a key of size 2048 bits or larger
// MUST be used".
const minRSABits = 2048

// KeyFits reports why key cannot verify tokens signed with alg, or nil if it
// can. It catches keys of the wrong type (the HS/RS confusion), ES256 with a
// P-384 key, RSA keys under 2048 bits and HMAC secrets shorter than the hash.
func KeyFits(alg string, key any) error {
	a, ok := algs[alg]
	if !ok {
		return fmt.Errorf("algorithm %q is not supported", alg)
	}
	switch k := key.(type) {
	case []byte:
		if a.fam != famHMAC {
			return fmt.Errorf("%s needs a public key, not a secret", alg)
		}
		if len(k) < a.size {
			return fmt.Errorf("%s needs a secret of at least %d bytes (RFC 7518 3.2), got %d", alg, a.size, len(k))
		}
	case *rsa.PublicKey:
		if a.fam != famRSA {
			return fmt.Errorf("%s cannot use an RSA key", alg)
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits is too small (RFC 7518 3.3: at least %d)", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if a.fam != famEC {
			return fmt.Errorf("%s cannot use an EC key", alg)
		}
		if k.Curve != a.curve {
			return fmt.Errorf("%s needs curve %s, the key is on %s", alg, a.curve.Params().Name, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if a.fam != famEd25519 {
			return fmt.Errorf("%s cannot use an Ed25519 key", alg)
		}
		if len(k) != ed25519.PublicKeySize {
			return errors.New("Ed25519 key has the wrong size")
		}
	default:
		return fmt.Errorf("key type %T is not supported", key)
	}
	return nil
}

// ParsePublicKey reads one PEM block: a PUBLIC KEY (PKIX: RSA, EC or
// Ed25519), an RSA PUBLIC KEY (PKCS #1) or a CERTIFICATE (its key).
func ParsePublicKey(pemText string) (crypto.PublicKey, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if block == nil {
		return nil, errors.New("not PEM: expected -----BEGIN PUBLIC KEY-----")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, errors.New("more than one PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PUBLIC KEY: %w", err)
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("RSA PUBLIC KEY: %w", err)
		}
		return k, nil
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CERTIFICATE: %w", err)
		}
		return c.PublicKey, nil
	}
	if strings.Contains(block.Type, "PRIVATE") {
		// Say so plainly: a private key in a gateway config is a leak.
		return nil, fmt.Errorf("PEM block is a %s; give the public key only", block.Type)
	}
	return nil, fmt.Errorf("PEM block %q is not a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
}

// JWK is one verification key of a key set.
type JWK struct {
	ID  string           // kid, may be ""
	Alg string           // the only algorithm the key may be used with, or "" for any that fits
	Key crypto.PublicKey // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// Set is a parsed JSON Web Key Set (RFC 7517 section 5). It holds public
// verification keys only: symmetric ("oct") keys and keys for encryption are
// left out, so a key set can never enable an HMAC algorithm.
type Set struct {
	Keys []JWK
	// Skipped says why each key that was left out was left out, for the log.
	Skipped []string
}

// jwkJSON is the wire form of a JWK (RFC 7517 section 4, RFC 7518 section 6,
// RFC 8037 section 2).
type jwkJSON struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// maxKeys bounds a key set: a real one has a handful.
const maxKeys = 100

// ParseSet parses a JWK Set document. Keys that cannot be used are skipped
// (with the reason in Set.Skipped) so that one odd key does not hide the
// others; a document that is not a key set at all is an error.
func ParseSet(b []byte) (*Set, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not a JWK set: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`not a JWK set: no "keys" array`)
	}
	if len(doc.Keys) > maxKeys {
		return nil, fmt.Errorf("JWK set has %d keys, more than %d", len(doc.Keys), maxKeys)
	}
	s := &Set{}
	for i, raw := range doc.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			s.Skipped = append(s.Skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		s.Keys = append(s.Keys, k)
	}
	return s, nil
}

func parseJWK(raw json.RawMessage) (JWK, error) {
	var j jwkJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return JWK{}, err
	}
	k := JWK{ID: j.Kid, Alg: j.Alg}
	if j.Use != "" && j.Use != "sig" {
		return k, fmt.Errorf("kid %s: use %q is not sig", Quote(j.Kid), j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return k, fmt.Errorf("kid %s: key_ops does not include verify", Quote(j.Kid))
	}
	var err error
	switch j.Kty {
	case "RSA":
		k.Key, err = rsaKey(j)
	case "EC":
		k.Key, err = ecKey(j)
	case "OKP":
		k.Key, err = okpKey(j)
	case "oct":
		err = errors.New("symmetric keys are never taken from a key set")
	default:
		err = fmt.Errorf("kty %q is not supported", j.Kty)
	}
	if err != nil {
		return k, fmt.Errorf("kid %s: %w", Quote(j.Kid), err)
	}
	if k.Alg != "" {
		if IsHMAC(k.Alg) || !Known(k.Alg) {
			return k, fmt.Errorf("kid %s: alg %q is not supported", Quote(j.Kid), k.Alg)
		}
		if err := KeyFits(k.Alg, k.Key); err != nil {
			return k, fmt.Errorf("kid %s: %w", Quote(j.Kid), err)
		}
	}
	return k, nil
}

// b64 decodes a base64url value, tolerating the padding some providers add.
func b64(field, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s is not base64url", field)
	}
	return b, nil
}

func rsaKey(j jwkJSON) (*rsa.PublicKey, error) {
	n, err := b64("n", j.N)
	if err != nil {
		return nil, err
	}
	e, err := b64("e", j.E)
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, errors.New("e is too large")
	}
	var ei int
	for _, c := range e {
		ei = ei<<8 | int(c)
	}
	if ei < 3 || ei%2 == 0 {
		return nil, fmt.Errorf("e = %d is not a valid RSA exponent", ei)
	}
	k := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ei}
	if k.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA key of %d bits is too small (RFC 7518 3.3: at least %d)", k.N.BitLen(), minRSABits)
	}
	return k, nil
}

func ecKey(j jwkJSON) (*ecdsa.PublicKey, error) {
	var c elliptic.Curve
	switch j.Crv {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	case "P-521":
		c = elliptic.P521()
	default:
		return nil, fmt.Errorf("crv %q is not supported", j.Crv)
	}
	size := (c.Params().BitSize + 7) / 8
	x, err := b64("x", j.X)
	if err != nil {
		return nil, err
	}
	y, err := b64("y", j.Y)
	if err != nil {
		return nil, err
	}
	// RFC 7518 6.2.1.2: x and y MUST be the full size of a coordinate.
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("x and y must be %d bytes for %s", size, j.Crv)
	}
	point := make([]byte, 0, 1+2*size)
	point = append(append(append(point, 4), x...), y...)
	k, err := ecdsa.ParseUncompressedPublicKey(c, point) // checks the point is on the curve
	if err != nil {
		return nil, err
	}
	return k, nil
}

func okpKey(j jwkJSON) (ed25519.PublicKey, error) {
	if j.Crv != "Ed25519" {
		return nil, fmt.Errorf("crv %q is not supported (only Ed25519)", j.Crv)
	}
	x, err := b64("x", j.X)
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x must be %d bytes", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}

// ErrNoKey means the key set has no key for the token; a refreshed set might.
var ErrNoKey = errors.New("no matching key")

// Lookup returns the key that verifies a token with header kid and alg. A key
// matches when its kid equals kid, its alg (if it has one) equals alg and its
// type and curve fit alg. A token without a kid is accepted only when exactly
// one key fits: with several, trying each would let one token cost many
// signature checks, and picking one would be a guess.
func (s *Set) Lookup(kid, alg string) (crypto.PublicKey, error) {
	var found crypto.PublicKey
	n := 0
	for _, k := range s.Keys {
		if kid != "" && k.ID != kid || k.Alg != "" && k.Alg != alg || KeyFits(alg, k.Key) != nil {
			continue
		}
		if found == nil {
			found = k.Key
		}
		n++
	}
	switch {
	case n == 0 && kid == "":
		return nil, fmt.Errorf("%w: no %s key in the set (%d keys)", ErrNoKey, alg, len(s.Keys))
	case n == 0:
		return nil, fmt.Errorf("%w: no %s key with kid %s", ErrNoKey, alg, Quote(kid))
	case n > 1 && kid == "":
		return nil, fmt.Errorf("token has no kid and %d keys fit %s", n, alg)
	}
	return found, nil
}
