package price

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/ai"
)

// near reports whether got and want agree to within a relative 1e-12, which
// is far below a millionth of a cent on any realistic bill.
func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want))
}

func TestCost(t *testing.T) {
	t.Parallel()
	gpt4o := Price{Input: 2.50, CachedInput: 1.25, Output: 10}
	sonnet := Price{Input: 3, CachedInput: 0.30, CacheWrite: 3.75, Output: 15}
	flat := Price{Input: 1, Output: 2} // no cache rates: cached and written tokens cost Input
	tests := []struct {
		name  string
		price Price
		usage ai.Usage
		want  float64
	}{
		{"zero usage", gpt4o, ai.Usage{}, 0},
		{"one million input tokens", gpt4o, ai.Usage{Input: 1_000_000}, 2.50},
		{"one million output tokens", gpt4o, ai.Usage{Output: 1_000_000}, 10},
		// OpenAI reports cached_tokens as a part of prompt_tokens: 600
		// uncached at 2.50, 400 cached at 1.25, 500 out at 10.
		{"openai cached part", gpt4o, ai.Usage{Input: 1000, CachedInput: 400, Output: 500}, (600*2.50 + 400*1.25 + 500*10) / 1e6},
		// Anthropic reports input_tokens=100, cache_read=2000,
		// cache_creation=500 additively; ai.Usage holds Input=2600.
		{"anthropic read and write", sonnet, ai.Usage{Input: 2600, CachedInput: 2000, CacheCreation: 500, Output: 300}, (100*3 + 2000*0.30 + 500*3.75 + 300*15) / 1e6},
		{"reasoning is part of output", gpt4o, ai.Usage{Output: 1000, Reasoning: 800}, 1000 * 10 / 1e6},
		{"zero cache rates mean input rate", flat, ai.Usage{Input: 10, CachedInput: 4, CacheCreation: 3, Output: 5}, (10*1 + 5*2) / 1e6},
		{"cached above input bills cached only", gpt4o, ai.Usage{Input: 5, CachedInput: 10}, 10 * 1.25 / 1e6},
		{"zero price", Price{}, ai.Usage{Input: 1000, Output: 1000}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.price.Cost(tt.usage); !near(got, tt.want) {
				t.Errorf("%+v.Cost(%+v) = %v; want %v", tt.price, tt.usage, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		price Price
		want  []string // substrings of the error, one per bad field; none means valid
	}{
		{"zero", Price{}, nil},
		{"typical", Price{Input: 3, CachedInput: 0.3, CacheWrite: 3.75, Output: 15}, nil},
		{"negative input", Price{Input: -1}, []string{"input: must not be negative"}},
		{"negative output", Price{Output: -0.01}, []string{"output: must not be negative"}},
		{"negative cached_input", Price{CachedInput: -1}, []string{"cached_input: must not be negative"}},
		{"negative cache_write", Price{CacheWrite: -1}, []string{"cache_write: must not be negative"}},
		{"NaN", Price{Input: math.NaN()}, []string{"input: must be a finite number"}},
		{"infinite", Price{Output: math.Inf(1)}, []string{"output: must be a finite number"}},
		{"every problem reported", Price{Input: -1, Output: math.Inf(-1), CacheWrite: -2}, []string{
			"input: must not be negative", "output: must be a finite number", "cache_write: must not be negative",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.price.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil; want %q", tt.want)
			}
			if got := strings.Split(err.Error(), "\n"); len(got) != len(tt.want) {
				t.Errorf("Validate() = %q; want %d problems %q", err, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model string
		want  string // key in defaults; "" means not found
	}{
		{"gpt-4o", "gpt-4o"},
		{"GPT-4o", "gpt-4o"},
		{"openai/gpt-4o-mini", "gpt-4o-mini"},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4o-2024-08-06", "gpt-4o"},
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13"}, // exact match beats the stripped alias
		{"openai/gpt-4o-2024-05-13", "gpt-4o-2024-05-13"},
		{"gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"},
		{"o3-mini-2025-01-31", "o3-mini"},
		{"gpt-5-2025-08-07", "gpt-5"},
		{"text-embedding-3-small", "text-embedding-3-small"},
		{"anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-3-5-haiku-latest", "claude-3-5-haiku"},
		{"claude-3-5-haiku-20241022", "claude-3-5-haiku"},
		{"claude-3-7-sonnet-latest", "claude-3-7-sonnet"},
		{"claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"claude-opus-4-20250514", "claude-opus-4"},
		{"claude-opus-4-0", "claude-opus-4-0"},
		{"claude-haiku-4-5-20251001", "claude-haiku-4-5"},
		{"models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"google/gemini-2.5-pro", "gemini-2.5-pro"},
		{"deepseek/deepseek-chat", "deepseek-chat"},
		{"mistral-large-latest", "mistral-large-latest"},
		{"mistral/mistral-large-latest", "mistral-large-latest"},

		{"", ""},
		{"mock", ""},
		{"demo", ""},
		{"llama3.1:8b", ""},
		{"openai/", ""},
		{"gpt-4o-2024-13-45", ""},        // not a date: month 13
		{"claude-opus-4-1-2025080", ""},  // seven digits
		{"claude-opus-4-1-19990101", ""}, // outside 2000-2099
		{"gpt-4o-mini-2024-07-18x", ""},
		{"gpt-4o-mini-2024_07_18", ""},
		{"xgpt-4o", ""},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			t.Parallel()
			got, ok := Lookup(tt.model)
			want, wantOK := defaults[tt.want]
			if ok != wantOK || got != want {
				t.Errorf("Lookup(%q) = %+v, %v; want %+v, %v (%q)", tt.model, got, ok, want, wantOK, tt.want)
			}
		})
	}
}

// TestDefaults guards the table against typos: every entry is valid, is
// found under its own key, and orders its rates the way every provider's do.
func TestDefaults(t *testing.T) {
	t.Parallel()
	required := []string{
		"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini", "gpt-5-nano",
		"o3", "o3-mini", "o4-mini", "text-embedding-3-small", "text-embedding-3-large",
		"claude-opus-4-1", "claude-opus-4", "claude-sonnet-4-5", "claude-sonnet-4", "claude-haiku-4-5",
		"claude-3-5-haiku", "claude-3-7-sonnet", "deepseek-chat", "deepseek-reasoner",
		"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash", "mistral-large-latest",
	}
	for _, m := range required {
		if _, ok := Lookup(m); !ok {
			t.Errorf("Lookup(%q) not found; the default table must cover it", m)
		}
	}
	for model, p := range defaults {
		if err := p.Validate(); err != nil {
			t.Errorf("defaults[%q].Validate() = %v", model, err)
		}
		if got, ok := Lookup(model); !ok || got != p {
			t.Errorf("Lookup(%q) = %+v, %v; want its own entry %+v", model, got, ok, p)
		}
		if model != strings.ToLower(model) || strings.Contains(model, "/") {
			t.Errorf("defaults key %q: want lowercase without a provider prefix", model)
		}
		if p.Input <= 0 {
			t.Errorf("defaults[%q].Input = %v; want positive", model, p.Input)
		}
		if p.CachedInput > p.Input {
			t.Errorf("defaults[%q]: cached input %v costs more than input %v", model, p.CachedInput, p.Input)
		}
		if p.CacheWrite != 0 && p.CacheWrite < p.Input {
			t.Errorf("defaults[%q]: cache write %v costs less than input %v", model, p.CacheWrite, p.Input)
		}
		if p.Output != 0 && p.Output < p.Input {
			t.Errorf("defaults[%q]: output %v costs less than input %v", model, p.Output, p.Input)
		}
	}
}

func TestTable(t *testing.T) {
	t.Parallel()
	cheap := Price{Input: 1, Output: 2}
	local := Price{Input: 0.01, Output: 0.02}
	overrides := map[string]Price{
		"gpt-4o":           cheap,
		"Claude-Haiku-4-5": cheap, // keys match case-insensitively
		"llama-3.3-70b":    local, // a model the defaults do not know
	}
	tab := NewTable(overrides)
	overrides["gpt-4o-mini"] = cheap // NewTable copied the map

	tests := []struct {
		model string
		want  Price
		ok    bool
	}{
		{"gpt-4o", cheap, true},
		{"openai/gpt-4o-2024-08-06", cheap, true},
		{"gpt-4o-2024-05-13", cheap, true}, // overrides win even over an exact default
		{"claude-haiku-4-5-20251001", cheap, true},
		{"llama-3.3-70b", local, true},
		{"groq/llama-3.3-70b", local, true},
		{"gpt-4o-mini", defaults["gpt-4o-mini"], true},
		{"claude-sonnet-4-5", defaults["claude-sonnet-4-5"], true},
		{"mock", Price{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			t.Parallel()
			if got, ok := tab.Lookup(tt.model); ok != tt.ok || got != tt.want {
				t.Errorf("Table.Lookup(%q) = %+v, %v; want %+v, %v", tt.model, got, ok, tt.want, tt.ok)
			}
		})
	}

	for _, tab := range []*Table{nil, NewTable(nil)} {
		if got, ok := tab.Lookup("gpt-4o"); !ok || got != defaults["gpt-4o"] {
			t.Errorf("(%v).Lookup(%q) = %+v, %v; want the default", tab, "gpt-4o", got, ok)
		}
	}
}

func TestPriceJSON(t *testing.T) {
	t.Parallel()
	var p Price
	if err := json.Unmarshal([]byte(`{"input":3,"output":15,"cached_input":0.3,"cache_write":3.75}`), &p); err != nil {
		t.Fatal(err)
	}
	if want := (Price{Input: 3, Output: 15, CachedInput: 0.3, CacheWrite: 3.75}); p != want {
		t.Errorf("decoded %+v; want %+v", p, want)
	}
}

func BenchmarkTableLookup(b *testing.B) {
	tab := NewTable(map[string]Price{"llama-3.3-70b": {Input: 1}})
	for b.Loop() {
		tab.Lookup("anthropic/claude-sonnet-4-5-20250929")
	}
}
