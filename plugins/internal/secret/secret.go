// Package secret is what the authentication plugins share for handling
// secrets they must recognise but never keep: a SHA-256 digest of a string,
// taken without allocating, and an Index that finds a value by the digest of
// a presented secret.
//
// Why digests and not the secrets: the plugins keep only digests after they
// are built, so a heap dump or a stray %v shows no API key; and a map keyed by
// digest cannot leak a stored key through lookup timing. The map compares
// digests, and an attacker who can only choose the secret cannot choose a
// digest sharing a prefix with a stored one (that needs a preimage), so the
// time a lookup takes tells them nothing about any stored key.
//
// Digests are unsalted: that is right for API keys, which are long and random,
// and wrong for passwords, which must be hashed with bcrypt or argon2id.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
)

// Digest is the SHA-256 digest of a secret.
type Digest [sha256.Size]byte

// Sum returns the digest of s. It does not allocate for s of any length.
func Sum(s string) Digest {
	h := sha256.New()
	// Feed s through a stack buffer: a []byte(s) conversion of a long s
	// would allocate on every request.
	var buf [256]byte
	for len(s) > 0 {
		n := copy(buf[:], s)
		h.Write(buf[:n])
		s = s[n:]
	}
	var d Digest
	h.Sum(d[:0])
	return d
}

// Equal reports whether d and o are equal, in time independent of their
// contents.
func (d Digest) Equal(o Digest) bool {
	return subtle.ConstantTimeCompare(d[:], o[:]) == 1
}

// Index maps secrets, held only as digests, to values. Build it with Add
// before use; Lookup is then safe for concurrent use.
type Index[V any] struct {
	m map[Digest]entry[V]
}

type entry[V any] struct {
	d Digest
	v V
}

// Add records v under digest d and reports whether d was new. A second Add
// of the same digest keeps the first value and returns it as prev.
func (ix *Index[V]) Add(d Digest, v V) (prev V, added bool) {
	if ix.m == nil {
		ix.m = make(map[Digest]entry[V])
	}
	if e, dup := ix.m[d]; dup {
		return e.v, false
	}
	ix.m[d] = entry[V]{d, v}
	return prev, true
}

// Len returns the number of secrets in ix.
func (ix *Index[V]) Len() int { return len(ix.m) }

// Lookup returns the value recorded for secret s. s is hashed first, so the
// lookup's timing depends on the digest only (see the package comment); the
// final constant-time compare is belt and braces for that argument, and costs
// a few nanoseconds.
func (ix *Index[V]) Lookup(s string) (V, bool) {
	d := Sum(s)
	e, ok := ix.m[d]
	if !ok || !e.d.Equal(d) {
		var zero V
		return zero, false
	}
	return e.v, true
}
