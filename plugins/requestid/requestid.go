// Package requestid implements the request-id plugin: every request gets an
// ID, kept from the caller when it is trustworthy, generated otherwise. The ID
// goes on the Exchange (logs, error bodies), upstream as a request header and
// back to the client as a response header.
package requestid

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/headerop"
)

// Kind is the request-id plugin.
var Kind = plugin.Define("request-id", plugin.Edge, defaults, New)

// Config is the request-id plugin's configuration.
type Config struct {
	// HeaderName is the request and response header carrying the ID.
	// Default "X-Request-Id".
	HeaderName string `json:"header_name"`
	// IncludeInResponse sends the ID back to the client. Default true.
	IncludeInResponse bool `json:"include_in_response"`
	// Algorithm generates new IDs: "uuid" (a random version 4 UUID, the
	// default) or "hex" (16 random bytes as 32 lowercase hex digits).
	Algorithm string `json:"algorithm"`
	// TrustIncoming keeps a valid ID the caller sent (1 to 128 printable
	// ASCII characters, no spaces) instead of generating one. Default true.
	TrustIncoming bool `json:"trust_incoming"`
}

func defaults() *Config {
	return &Config{
		HeaderName:        "X-Request-Id",
		IncludeInResponse: true,
		Algorithm:         "uuid",
		TrustIncoming:     true,
	}
}

// Validate returns every problem in c.
func (c *Config) Validate() error {
	var errs []error
	if !headerop.ValidName(c.HeaderName) {
		errs = append(errs, fmt.Errorf("header_name: %q is not a valid header name", c.HeaderName))
	}
	switch c.Algorithm {
	case "uuid", "hex":
	default:
		errs = append(errs, fmt.Errorf("algorithm: %q is not one of uuid, hex", c.Algorithm))
	}
	return errors.Join(errs...)
}

// New builds the middleware from a decoded, validated c.
func New(_ plugin.Env, c *Config) (plugin.Middleware, error) {
	name := http.CanonicalHeaderKey(c.HeaderName)
	gen := newUUID
	if c.Algorithm == "hex" {
		gen = newHex
	}
	trust, respond := c.TrustIncoming, c.IncludeInResponse
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			x := plugin.ExchangeOf(r)
			var vals []string
			if in := r.Header[name]; trust && len(in) > 0 && Valid(in[0]) {
				vals = in[:1:1] // drop extra values; the cap keeps appends off the caller's array
			} else {
				id := x.RequestID
				if id == "" {
					id = gen()
				}
				vals = []string{id}
			}
			x.RequestID = vals[0]
			r.Header[name] = vals
			if respond {
				// Set before next so that errors and streamed responses carry it.
				// Both maps share vals: its capacity of 1 means an Add on either
				// side copies rather than writes into the other.
				w.Header()[name] = vals
			}
			return next.ServeHTTP(w, r)
		})
	}, nil
}

// Valid reports whether an incoming ID may be kept: 1 to 128 bytes of
// printable ASCII without spaces, so it is safe in logs and headers.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// randBuf holds randomness read in bulk, so most IDs cost a copy rather than
// a getrandom call. Request IDs are identifiers, not secrets, so holding a
// few kilobytes of future randomness in memory is fine.
type randBuf struct {
	b   [4096]byte
	off int
}

var randPool = sync.Pool{New: func() any { return &randBuf{off: 4096} }}

func random16(dst *[16]byte) {
	rb := randPool.Get().(*randBuf)
	if rb.off+16 > len(rb.b) {
		rand.Read(rb.b[:]) // never fails since Go 1.24
		rb.off = 0
	}
	copy(dst[:], rb.b[rb.off:rb.off+16])
	rb.off += 16
	randPool.Put(rb)
}

// newUUID returns a random (version 4, RFC 9562) UUID.
func newUUID() string {
	var u [16]byte
	random16(&u)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// newHex returns 16 random bytes as 32 hex digits.
func newHex() string {
	var u [16]byte
	random16(&u)
	var s [32]byte
	hex.Encode(s[:], u[:])
	return string(s[:])
}
