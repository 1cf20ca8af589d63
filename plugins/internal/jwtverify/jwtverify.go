// Package jwtverify is the JSON Web Token code shared by the jwt-auth and
// openid-connect plugins: finding the token in a request (and removing it),
// verifying its signature against a strict algorithm allowlist, parsing PEM
// keys and JWK sets, keeping remote key sets fresh (cached, refreshed in the
// background, refetched once on an unknown kid, kept when the endpoint is
// down), and checking the time, issuer, audience and scope claims with a
// configurable clock skew and an injectable clock.
//
// The JOSE library is github.com/golang-jwt/jwt/v5, used for decoding the
// compact serialization and for the signature algorithms (RS, PS, ES, EdDSA
// and HS, with JOSE's encodings such as raw r||s ECDSA signatures). It was
// chosen over lestrrat-go/jwx/v3 because it has no dependencies of its own
// (jwx brings about half a dozen modules, and its JWKS cache runs its own
// goroutines on the wall clock), and because the parts a gateway needs to
// control are small enough to own: the key set cache here decides exactly
// when to fetch, keeps stale keys when the provider is down, is rate limited
// against random kids, stops with the config generation, and runs under an
// injected clock in tests. JWK parsing (RSA, EC, OKP) is about a hundred
// lines on the standard library. coreos/go-oidc was not used: its provider
// discovery fails when the provider is down at start, which a gateway must
// survive, and it would add go-jose as a second JOSE library.
//
// Security rules enforced here rather than left to each plugin: the token's
// alg must be on the caller's allowlist ("none" can never be on it), the key
// must fit the alg (so an RSA public key can never be used as an HMAC
// secret), a "crit" header is refused, tokens over MaxTokenSize are refused
// before decoding, base64url is decoded strictly, and HMAC keys never come
// from a JWK set.
package jwtverify

import (
	"errors"
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize bounds the tokens a Verifier decodes. Real access tokens are
// a few KiB; 16 KiB leaves room for large group claims while keeping a
// hostile token from costing more than a small header would.
const MaxTokenSize = 16 << 10

// ErrMalformed wraps every problem with a token's shape (size, segments,
// base64url, JSON): the token was not even a candidate.
var ErrMalformed = errors.New("malformed token")

// Verifier checks compact JWS tokens against a fixed algorithm allowlist.
// It is safe for concurrent use.
type Verifier struct {
	p *jwt.Parser
}

// NewVerifier returns a Verifier that accepts only algs, which must all be
// Known. An empty list accepts no token at all (never every algorithm).
func NewVerifier(algs []string) (*Verifier, error) {
	list := make([]string, 0, len(algs))
	for _, a := range algs {
		if !Known(a) {
			return nil, fmt.Errorf("algorithm %q is not supported", a)
		}
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	// WithValidMethods with a non-nil list: golang-jwt treats nil as "any".
	return &Verifier{p: jwt.NewParser(
		jwt.WithValidMethods(list),
		jwt.WithStrictDecoding(),
		jwt.WithoutClaimsValidation(), // Checks does it, with an injectable clock and scopes
	)}, nil
}

// KeyFunc returns the key to verify a token with, given its header's alg
// (already on the allowlist) and kid ("" if absent) and its claims. Nothing
// about the token is trusted yet: the claims are only for finding the key.
// It returns []byte for HMAC, or a public key.
type KeyFunc func(alg, kid string, claims jwt.MapClaims) (any, error)

// Verify decodes raw, checks its alg against the allowlist, gets the key
// from key and checks the signature. It returns the claims of a token whose
// signature is valid; their values (exp, aud ...) are for Checks to judge.
func (v *Verifier) Verify(raw string, key KeyFunc) (jwt.MapClaims, error) {
	if len(raw) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(raw), MaxTokenSize)
	}
	claims := jwt.MapClaims{}
	_, err := v.p.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// RFC 7515 4.1.11: a recipient that does not understand an
		// extension listed in crit must reject the token; we know none.
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New(`header has "crit" and no extension is supported`)
		}
		kid := ""
		if k, ok := t.Header["kid"]; ok {
			s, ok := k.(string)
			if !ok {
				return nil, errors.New("header kid is not a string")
			}
			kid = s
		}
		alg := t.Method.Alg()
		k, err := key(alg, kid, claims)
		if err != nil {
			return nil, err
		}
		// The second line of defence against algorithm confusion: whatever
		// key was found must be of the kind alg is defined for.
		if err := KeyFits(alg, k); err != nil {
			return nil, err
		}
		return k, nil
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenMalformed) {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return nil, err
	}
	return claims, nil
}

// LooksLikeJWS reports whether tok has the shape of a compact JWS (three
// dot-separated parts), to tell JWTs from opaque tokens.
func LooksLikeJWS(tok string) bool {
	n := 0
	for i := 0; i < len(tok); i++ {
		if tok[i] == '.' {
			n++
		}
	}
	return n == 2
}
