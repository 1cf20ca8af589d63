// Package maxbody implements the max-body plugin: it refuses request bodies
// over a size limit, before reading them when Content-Length says so and
// while streaming them otherwise.
package maxbody

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Kind is the max-body plugin.
var Kind = plugin.Define("max-body", plugin.Edge, defaults, New)

// Config is the max-body plugin's configuration.
type Config struct {
	// MaxBytes is the largest body allowed: a number of bytes, or a string
	// with a unit ("512KiB", "10MB"). Default 1MiB.
	MaxBytes Size `json:"max_bytes"`
}

// Size is a byte count written as a JSON number or as a string of an integer
// and a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of
// 1024). Units are case-insensitive; a space before the unit is allowed.
type Size struct {
	N    int64
	text string // the string form when it did not parse, for Validate
}

// UnmarshalJSON accepts 1048576 or "1MiB".
func (s *Size) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		n, err := ParseSize(str)
		if err != nil {
			*s = Size{N: 0, text: str}
		} else {
			*s = Size{N: n}
		}
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: "non-integer", Type: reflect.TypeFor[Size]()}
	}
	*s = Size{N: n}
	return nil
}

var units = []struct {
	suffix string
	mult   int64
}{
	// Longest first, so "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"b", 1},
}

// ParseSize reads "1MiB", "10 MB", "512" (bytes).
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (a whole number with an optional unit: B, KB, MB, GB, KiB, MiB, GiB)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

func defaults() *Config { return &Config{MaxBytes: Size{N: 1 << 20}} }

// Validate returns every problem in c.
func (c *Config) Validate() error {
	if c.MaxBytes.text != "" {
		_, err := ParseSize(c.MaxBytes.text)
		return fmt.Errorf("max_bytes: %w", err)
	}
	if c.MaxBytes.N <= 0 {
		return errors.New("max_bytes: must be positive")
	}
	return nil
}

// New builds the middleware from a decoded, validated c.
func New(_ plugin.Env, c *Config) (plugin.Middleware, error) {
	limit := c.MaxBytes.N
	return func(next plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if r.ContentLength > limit {
				return &plugin.Error{
					Status: http.StatusRequestEntityTooLarge,
					Code:   "body_too_large",
					Public: "request body too large",
				}
			}
			// A known length within the limit needs no wrapper: net/http never
			// reads past Content-Length. Unknown lengths (chunked) are capped
			// as they stream; the proxy maps *http.MaxBytesError to 413.
			if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			return next.ServeHTTP(w, r)
		})
	}, nil
}
