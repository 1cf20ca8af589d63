// Package price turns token usage into US dollars, for cost accounting and
// budgets. It knows the public list prices of well-known models (see
// defaults.go); operators override or extend them in the configuration,
// which is why a Table layers overrides on top of the defaults rather than
// replacing them.
package price

import (
	"errors"
	"math"
	"strings"

	"github.com/sluicegw/sluice/internal/ai"
)

// Price is what one model charges, in US dollars per million tokens, the
// unit every provider publishes its prices in. A zero CachedInput or
// CacheWrite means that kind of token costs the same as Input, so a price
// written with only input and output is complete for models without a
// prompt cache, and for providers that bill cache writes at the input rate
// (OpenAI, DeepSeek, Gemini).
type Price struct {
	Input       float64 `json:"input"`        // uncached input tokens
	Output      float64 `json:"output"`       // output tokens, reasoning included
	CachedInput float64 `json:"cached_input"` // input tokens read from the prompt cache; 0 means same as Input
	CacheWrite  float64 `json:"cache_write"`  // input tokens written to the prompt cache; 0 means same as Input
}

// Cost returns the USD cost of u at p.
//
// ai.Usage counts CachedInput and CacheCreation as parts of Input (the
// OpenTelemetry containment rule), so the uncached input billed at p.Input
// is Input - CachedInput - CacheCreation, never below 0: a provider that
// reports more cached than total input tokens is billed for the cached ones
// only. Reasoning is a part of Output and is billed at p.Output, as every
// provider does.
func (p Price) Cost(u ai.Usage) float64 {
	cachedRate, writeRate := p.CachedInput, p.CacheWrite
	if cachedRate == 0 {
		cachedRate = p.Input
	}
	if writeRate == 0 {
		writeRate = p.Input
	}
	uncached := max(u.Input-u.CachedInput-u.CacheCreation, 0)
	// One division at the end keeps whole-number sums exact for longer than
	// dividing each term would.
	return (float64(uncached)*p.Input +
		float64(u.CachedInput)*cachedRate +
		float64(u.CacheCreation)*writeRate +
		float64(u.Output)*p.Output) / 1e6
}

// Validate reports whether p is usable: every rate must be a finite number
// that is not negative. It reports every bad field, each named by its
// configuration key ("input: must not be negative"). Configuration decoders
// accept NaN and infinities (YAML's .nan and .inf), hence the finiteness
// check.
func (p Price) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"input", p.Input},
		{"output", p.Output},
		{"cached_input", p.CachedInput},
		{"cache_write", p.CacheWrite},
	} {
		switch {
		case math.IsNaN(f.v) || math.IsInf(f.v, 0):
			errs = append(errs, errors.New(f.name+": must be a finite number"))
		case f.v < 0:
			errs = append(errs, errors.New(f.name+": must not be negative"))
		}
	}
	return errors.Join(errs...)
}

// Lookup returns the default price of a provider model name, and false for
// models it does not know. It tries the name as given first, so a dated
// snapshot priced differently from its alias (gpt-4o-2024-05-13) keeps its
// own price; then the name lowercased with any provider prefix removed
// ("openai/gpt-4o", "models/gemini-2.5-flash"); then that name without a
// date suffix ("-2024-08-06", "-20241022") or a "-latest" alias suffix
// (Anthropic's claude-3-5-haiku-latest), so every snapshot of a model costs
// what the model costs. Aliases that move between differently priced models
// (mistral-large-latest) have entries of their own, found in the first steps.
func Lookup(model string) (Price, bool) {
	return lookup(defaults, model)
}

// Table is a set of prices with overrides on top of the defaults: what the
// gateway consults when it accounts a call. A nil *Table has no overrides.
// A Table is immutable and safe for concurrent use.
type Table struct {
	overrides map[string]Price
}

// NewTable returns a Table whose overrides take precedence over the
// defaults. Keys are model names matched the way Lookup matches them
// (case-insensitively, after the same normalisation of the looked-up name),
// so a key without a date suffix covers every snapshot of that model. The
// map is copied; the caller validates the prices (Price.Validate) when it
// loads the configuration.
func NewTable(overrides map[string]Price) *Table {
	m := make(map[string]Price, len(overrides))
	for k, p := range overrides {
		m[strings.ToLower(k)] = p
	}
	return &Table{overrides: m}
}

// Lookup returns the price of model: from the overrides if any of them
// matches, under the same normalisation as the package-level Lookup, and
// from the defaults otherwise. Overrides win even over a more exact default,
// because an operator who prices "gpt-4o" means every gpt-4o snapshot.
func (t *Table) Lookup(model string) (Price, bool) {
	if t != nil {
		if p, ok := lookup(t.overrides, model); ok {
			return p, true
		}
	}
	return Lookup(model)
}

// lookup tries each candidate of model in turn against m.
func lookup(m map[string]Price, model string) (Price, bool) {
	if len(m) == 0 {
		return Price{}, false
	}
	if p, ok := m[model]; ok {
		return p, true
	}
	name := strings.ToLower(model)
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if p, ok := m[name]; ok {
		return p, true
	}
	if base := trimVersion(name); base != name {
		if p, ok := m[base]; ok {
			return p, true
		}
	}
	return Price{}, false
}

// trimVersion removes a "-latest" suffix or a trailing date, OpenAI's
// "-YYYY-MM-DD" or Anthropic's "-YYYYMMDD". Only dates are removed: other
// numeric suffixes carry meaning ("-4-1" in claude-opus-4-1, "-0125").
func trimVersion(name string) string {
	if s, ok := strings.CutSuffix(name, "-latest"); ok {
		return s
	}
	n := len(name)
	if n > 11 {
		d := name[n-11:] // -YYYY-MM-DD
		if d[0] == '-' && d[5] == '-' && d[8] == '-' && isDate(d[1:5], d[6:8], d[9:]) {
			return name[:n-11]
		}
	}
	if n > 9 {
		d := name[n-9:] // -YYYYMMDD
		if d[0] == '-' && isDate(d[1:5], d[5:7], d[7:]) {
			return name[:n-9]
		}
	}
	return name
}

// isDate reports whether year, month and day are the digits of a plausible
// date from 2000 to 2099, so that a version number that merely has eight
// digits is left alone.
func isDate(year, month, day string) bool {
	num := func(s string) int {
		v := 0
		for i := range len(s) {
			if s[i] < '0' || s[i] > '9' {
				return -1
			}
			v = v*10 + int(s[i]-'0')
		}
		return v
	}
	y, m, d := num(year), num(month), num(day)
	return y >= 2000 && y <= 2099 && m >= 1 && m <= 12 && d >= 1 && d <= 31
}
