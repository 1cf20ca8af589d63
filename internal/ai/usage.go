// Package ai holds the vocabulary shared by Sluice's AI gateway packages.
// It is the leaf of internal/ai: the wire-format packages (ai/openai,
// ai/anthropic), the translations between them (ai/translate) and later the
// gateway's AI handler all import it, and it imports none of them.
package ai

// Usage counts the tokens of one model call in a provider-neutral form.
//
// The counts follow the OpenTelemetry GenAI containment rules rather than
// either provider's wire format: Input counts every input token, cached or
// not, so CachedInput and CacheCreation are parts of Input, not additions to
// it (Anthropic reports them additively; OpenAI's cached_tokens is already a
// part). Likewise Reasoning is a part of Output. The zero value means no
// usage is known.
type Usage struct {
	Input         int64 // all input (prompt) tokens, cached ones included
	Output        int64 // all output (completion) tokens, reasoning included
	CachedInput   int64 // input tokens read from the provider's prompt cache
	CacheCreation int64 // input tokens written to the provider's prompt cache
	Reasoning     int64 // output tokens spent on hidden reasoning
}

// Total returns Input + Output.
func (u Usage) Total() int64 { return u.Input + u.Output }

// IsZero reports whether no count is set.
func (u Usage) IsZero() bool { return u == Usage{} }

// Add returns the field-by-field sum of u and v, for totals across calls
// (attempts of one request, requests of one consumer).
func (u Usage) Add(v Usage) Usage {
	return Usage{
		Input:         u.Input + v.Input,
		Output:        u.Output + v.Output,
		CachedInput:   u.CachedInput + v.CachedInput,
		CacheCreation: u.CacheCreation + v.CacheCreation,
		Reasoning:     u.Reasoning + v.Reasoning,
	}
}

// Max returns the field-by-field maximum of u and v. It merges two reports
// of the same call in which each count is cumulative, so a later report
// never lowers a count and a field one report omits keeps the other's
// value; adding them would double count.
func (u Usage) Max(v Usage) Usage {
	return Usage{
		Input:         max(u.Input, v.Input),
		Output:        max(u.Output, v.Output),
		CachedInput:   max(u.CachedInput, v.CachedInput),
		CacheCreation: max(u.CacheCreation, v.CacheCreation),
		Reasoning:     max(u.Reasoning, v.Reasoning),
	}
}
