package jwtverify

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"
)

// Duration is a time.Duration written as seconds (a JSON number, APISIX's
// form) or as a Go duration string ("30s", "5m"). A malformed string is kept
// for Check to report, so that Validate can return every problem at once.
type Duration struct {
	D    time.Duration
	text string // the string form when it did not parse
}

// Dur returns a Duration of d.
func Dur(d time.Duration) Duration { return Duration{D: d} }

// UnmarshalJSON accepts 1.5 or "1500ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			*d = Duration{text: s}
			return nil
		}
		*d = Duration{D: v}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return &json.UnmarshalTypeError{Value: "non-number", Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration{D: time.Duration(f * float64(time.Second))}
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.D.String()) }

// Check reports a malformed string, or a value outside [lo, hi], as a
// problem of key.
func (d Duration) Check(key string, lo, hi time.Duration) error {
	if d.text != "" {
		return fmt.Errorf("%s: %q is not a duration (use seconds, or a string like \"30s\")", key, d.text)
	}
	if d.D < lo || d.D > hi {
		return fmt.Errorf("%s: %v is out of range (%v to %v)", key, d.D, lo, hi)
	}
	return nil
}

// StringList is a list of strings that may also be written as one string,
// so that `audience: api` and `audience: [api, admin]` both work.
type StringList []string

// UnmarshalJSON accepts "a" or ["a", "b"].
func (l *StringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = StringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[StringList]()}
	}
	*l = list
	return nil
}

// Secret is a string that never prints: fmt, slog and JSON show it as
// "[redacted]", so a config dumped by mistake leaks nothing.
type Secret string

const redacted = "[redacted]"

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue is String, for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Reveal returns the secret itself, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// truncate shortens attacker-controlled text (a claim, a kid) before it goes
// into a log line.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}

// Quote returns s quoted and shortened for a log line; s may come from the
// client.
func Quote(s string) string { return fmt.Sprintf("%q", truncate(s)) }
