package basicauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Limits on hash parameters. Every failed login costs one hash computation,
// so parameters past these would let a few bad requests tie up the CPU (a
// bcrypt cost of 17 takes several seconds) or memory (argon2id holds m KiB
// per check, and up to GOMAXPROCS checks run at once).
const (
	maxBcryptCost   = 16
	maxArgon2Memory = 256 << 10 // KiB: 256 MiB
	maxArgon2Time   = 16
	maxArgon2Par    = 16
)

// hash is a parsed password hash.
type hash interface {
	// verify reports whether password matches, taking the same time for a
	// right and a wrong password.
	verify(password []byte) bool
	// params names the algorithm and parameters: hashes with equal params
	// take the same time to check.
	params() string
	// decoy returns a hash with the same params and a random salt and
	// digest, which no password matches.
	decoy() hash
}

// parseHash parses a bcrypt ($2a$, $2b$, $2y$) or argon2id (PHC string)
// hash. Its errors never quote the hash.
func parseHash(s string) (hash, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(s)
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$argon2i$"), strings.HasPrefix(s, "$argon2d$"):
		return nil, errors.New("argon2i and argon2d hashes are not accepted; use argon2id")
	case strings.HasPrefix(s, "$"):
		// Name the schemes people paste by mistake; anything else might be
		// a password that happens to start with "$", so quote nothing.
		scheme, _, _ := strings.Cut(s[1:], "$")
		if knownSchemes[scheme] {
			return nil, fmt.Errorf("$%s$ hashes are not accepted; use bcrypt or argon2id", scheme)
		}
		return nil, errors.New("an unknown hash scheme; use bcrypt or argon2id")
	case strings.HasPrefix(s, "{SHA}"):
		return nil, errors.New("{SHA} hashes are not accepted; use bcrypt or argon2id")
	}
	if _, h, ok := strings.Cut(s, ":"); ok && strings.HasPrefix(h, "$") {
		if _, err := parseHash(h); err == nil {
			return nil, errors.New(`starts with "USER:" as htpasswd prints it; remove that prefix`)
		}
	}
	return nil, errors.New("not a bcrypt or argon2id hash (is it a plain-text password?)")
}

// knownSchemes are crypt(3) scheme IDs that are not accepted: md5-crypt,
// Apache's MD5, sha256- and sha512-crypt, yescrypt, scrypt, bcrypt's
// obsolete $2$ and $2x$.
var knownSchemes = map[string]bool{"1": true, "apr1": true, "5": true, "6": true, "y": true, "7": true, "scrypt": true, "2": true, "2x": true}

// bcryptAlphabet is bcrypt's base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

var bcryptEncoding = base64.NewEncoding(bcryptAlphabet).WithPadding(base64.NoPadding)

type bcryptHash struct {
	h    []byte // the whole $2?$NN$ string, as bcrypt.CompareHashAndPassword takes it
	cost int
}

// parseBcrypt checks the modular crypt format strictly: x/crypto/bcrypt
// checks little beyond the prefix and cost.
func parseBcrypt(s string) (hash, error) {
	if len(s) != 60 || s[6] != '$' {
		return nil, errors.New("bcrypt: malformed hash (want $2b$NN$ and 53 characters)")
	}
	cost, err := strconv.Atoi(s[4:6])
	if err != nil || s[4] < '0' || s[4] > '9' {
		return nil, errors.New("bcrypt: malformed cost (want two digits, as in $2b$12$)")
	}
	if cost < bcrypt.MinCost || cost > maxBcryptCost {
		return nil, fmt.Errorf("bcrypt: cost %d is outside %d to %d (10 to 12 is usual)", cost, bcrypt.MinCost, maxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return nil, errors.New("bcrypt: malformed hash (a character outside bcrypt's alphabet)")
		}
	}
	return &bcryptHash{h: []byte(s), cost: cost}, nil
}

func (b *bcryptHash) verify(password []byte) bool {
	return bcrypt.CompareHashAndPassword(b.h, password) == nil
}

func (b *bcryptHash) params() string { return "bcrypt cost " + strconv.Itoa(b.cost) }

func (b *bcryptHash) decoy() hash {
	var salt [16]byte
	var sum [23]byte
	rand.Read(salt[:])
	rand.Read(sum[:])
	s := fmt.Sprintf("$2b$%02d$%s%s", b.cost, bcryptEncoding.EncodeToString(salt[:]), bcryptEncoding.EncodeToString(sum[:]))
	return &bcryptHash{h: []byte(s), cost: b.cost}
}

type argon2idHash struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	sum     []byte
}

// parseArgon2id parses the PHC string format of the reference
// implementation: $argon2id$v=19$m=M,t=T,p=P$SALT$HASH, SALT and HASH in
// unpadded standard base64.
func parseArgon2id(s string) (hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return nil, errors.New("argon2id: malformed hash (want $argon2id$v=19$m=M,t=T,p=P$SALT$HASH)")
	}
	if parts[2] != "v=19" {
		return nil, errors.New("argon2id: version must be v=19 (Argon2 1.3)")
	}
	ps := strings.Split(parts[3], ",")
	if len(ps) != 3 {
		return nil, errors.New("argon2id: parameters must be m=M,t=T,p=P in that order")
	}
	var v [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		num, ok := strings.CutPrefix(ps[i], name+"=")
		n, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || strconv.FormatUint(n, 10) != num {
			return nil, errors.New("argon2id: parameters must be m=M,t=T,p=P in that order, in decimal")
		}
		v[i] = n
	}
	m, t, p := v[0], v[1], v[2]
	var errs []error
	if p < 1 || p > maxArgon2Par {
		errs = append(errs, fmt.Errorf("argon2id: p=%d is outside 1 to %d", p, maxArgon2Par))
	}
	if t < 1 || t > maxArgon2Time {
		errs = append(errs, fmt.Errorf("argon2id: t=%d is outside 1 to %d", t, maxArgon2Time))
	}
	if m < 8*max(p, 1) || m > maxArgon2Memory {
		errs = append(errs, fmt.Errorf("argon2id: m=%d is outside 8*p to %d KiB", m, maxArgon2Memory))
	}
	// The decoder skips CR and LF, so check the alphabet first: a hash must
	// have one spelling.
	enc := base64.RawStdEncoding.Strict()
	salt, err := enc.DecodeString(parts[4])
	if err != nil || !isRawBase64(parts[4]) || len(salt) < 8 || len(salt) > 64 {
		errs = append(errs, errors.New("argon2id: the salt must be 8 to 64 bytes in unpadded base64"))
	}
	sum, err := enc.DecodeString(parts[5])
	if err != nil || !isRawBase64(parts[5]) || len(sum) < 16 || len(sum) > 64 {
		errs = append(errs, errors.New("argon2id: the hash must be 16 to 64 bytes in unpadded base64"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &argon2idHash{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, sum: sum}, nil
}

// isRawBase64 reports whether s holds only standard base64 characters, no
// padding.
func isRawBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

func (a *argon2idHash) verify(password []byte) bool {
	got := argon2.IDKey(password, a.salt, a.time, a.memory, a.threads, uint32(len(a.sum)))
	return subtle.ConstantTimeCompare(got, a.sum) == 1
}

func (a *argon2idHash) params() string {
	return fmt.Sprintf("argon2id m=%d t=%d p=%d salt %d hash %d", a.memory, a.time, a.threads, len(a.salt), len(a.sum))
}

func (a *argon2idHash) decoy() hash {
	d := *a
	d.salt, d.sum = make([]byte, len(a.salt)), make([]byte, len(a.sum))
	rand.Read(d.salt)
	rand.Read(d.sum)
	return &d
}

// String keeps the hash out of logs should one ever be printed.
func (b *bcryptHash) String() string   { return b.params() }
func (a *argon2idHash) String() string { return a.params() }
