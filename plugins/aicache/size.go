package aicache

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Size is a byte count written as a JSON number or as a string of an
// integer and a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB
// (powers of 1024), case-insensitive, with an optional space.
type Size struct {
	N    int64
	text string // the string form when it did not parse, for Validate
}

// UnmarshalJSON accepts 1048576 or "1MiB".
func (s *Size) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // keep the default
	}
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		if n, err := parseSize(str); err == nil {
			*s = Size{N: n}
		} else {
			*s = Size{text: strconv.Quote(str)}
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

// MarshalJSON writes the byte count.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(s.N) }

// Check returns a problem with s under key, or nil: s must have parsed
// and lie in [min, max].
func (s Size) Check(key string, min, max int64) error {
	if s.text != "" {
		return fmt.Errorf("%s: %s is not a size (a whole number with an optional unit: B, KB, MB, GB, KiB, MiB, GiB)", key, s.text)
	}
	if s.N < min || s.N > max {
		return fmt.Errorf("%s: must be from %d to %d bytes, got %d", key, min, max, s.N)
	}
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

func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}
