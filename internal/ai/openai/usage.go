package openai

import (
	"bytes"
	"encoding/json"

	"github.com/sluicegw/sluice/internal/ai"
)

// Usage is the usage object of a response or of a stream's final chunk.
type Usage struct {
	PromptTokens            int64                    `json:"prompt_tokens"`
	CompletionTokens        int64                    `json:"completion_tokens"`
	TotalTokens             int64                    `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
	// DeepSeek reports its context cache with these two instead of
	// prompt_tokens_details; hit + miss = prompt_tokens.
	PromptCacheHitTokens  *int64 `json:"prompt_cache_hit_tokens,omitempty"`
	PromptCacheMissTokens *int64 `json:"prompt_cache_miss_tokens,omitempty"`
}

// PromptTokensDetails breaks prompt_tokens down. CachedTokens is a part of
// prompt_tokens, not an addition to it.
type PromptTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
	AudioTokens  int64 `json:"audio_tokens,omitempty"`
}

// CompletionTokensDetails breaks completion_tokens down. ReasoningTokens is
// a part of completion_tokens.
type CompletionTokensDetails struct {
	ReasoningTokens          int64 `json:"reasoning_tokens"`
	AudioTokens              int64 `json:"audio_tokens,omitempty"`
	AcceptedPredictionTokens int64 `json:"accepted_prediction_tokens,omitempty"`
	RejectedPredictionTokens int64 `json:"rejected_prediction_tokens,omitempty"`
}

// AI returns u in Sluice's provider-neutral form. OpenAI's counts already
// follow its containment rules, so only the names change; DeepSeek's
// prompt_cache_hit_tokens counts as cached input when
// prompt_tokens_details is absent. A nil u is zero usage.
func (u *Usage) AI() ai.Usage {
	if u == nil {
		return ai.Usage{}
	}
	out := ai.Usage{Input: u.PromptTokens, Output: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CachedInput = d.CachedTokens
	} else if u.PromptCacheHitTokens != nil {
		out.CachedInput = *u.PromptCacheHitTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.Reasoning = d.ReasoningTokens
	}
	return out
}

// FromAI returns the OpenAI usage object for u, with details always
// present so clients find cached_tokens and reasoning_tokens.
func FromAI(u ai.Usage) *Usage {
	return &Usage{
		PromptTokens:            u.Input,
		CompletionTokens:        u.Output,
		TotalTokens:             u.Input + u.Output,
		PromptTokensDetails:     &PromptTokensDetails{CachedTokens: u.CachedInput},
		CompletionTokensDetails: &CompletionTokensDetails{ReasoningTokens: u.Reasoning},
	}
}

// StreamUsage collects the usage of a chat completions stream. OpenAI sends
// it once, in the usage-only chunk that stream_options.include_usage asks
// for; some compatible providers repeat a cumulative usage on several
// chunks, so each report is merged with ai.Usage.Max rather than added.
// The zero value is ready to use.
type StreamUsage struct {
	u    ai.Usage
	seen bool
}

// Observe records the usage an event carries, if any.
func (s *StreamUsage) Observe(ev StreamEvent) {
	if ev.Chunk != nil && ev.Chunk.Usage != nil {
		s.u, s.seen = s.u.Max(ev.Chunk.Usage.AI()), true
	}
}

// Usage returns the usage collected so far, and whether any was reported.
func (s *StreamUsage) Usage() (ai.Usage, bool) { return s.u, s.seen }

// ForceIncludeUsage makes a streaming request ask for the final usage
// chunk, which exact accounting needs, and reports whether the client had
// asked for it itself. When it had not, the gateway must drop the usage
// chunk (see ChatChunk.UsageOnly) so the client sees the stream it asked
// for. A non-streaming request is left alone and reports true: its usage is
// always in the response.
func ForceIncludeUsage(r *ChatRequest) (clientAsked bool) {
	if !r.Stream {
		return true
	}
	if r.StreamOptions == nil {
		r.StreamOptions = &StreamOptions{}
	}
	clientAsked = r.StreamOptions.IncludeUsage
	r.StreamOptions.IncludeUsage = true
	return clientAsked
}

var usageKey = []byte(`"usage"`)

// PeekUsage reads the usage of one stream event's data without decoding
// the whole chunk, for a gateway that relays an OpenAI-type stream as it
// is: it returns the usage, if the chunk carries one, and whether the chunk
// is the usage-only chunk (no choices) that ForceIncludeUsage asked for and
// the client may not want. Chunks without a usage member, the common case,
// cost one byte search; "[DONE]" and error events return nil, false.
func PeekUsage(data []byte) (u *Usage, usageOnly bool, err error) {
	if !hasUsageObject(data) {
		return nil, false, nil
	}
	var w struct {
		Choices []struct{} `json:"choices"`
		Usage   *Usage     `json:"usage"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, false, err
	}
	return w.Usage, w.Usage != nil && len(w.Choices) == 0, nil
}

// hasUsageObject reports whether data may have a "usage" member whose value
// is not null. Inside JSON strings quotes are escaped, so the bytes
// "usage" followed by a colon can only be a key.
func hasUsageObject(data []byte) bool {
	for {
		i := bytes.Index(data, usageKey)
		if i < 0 {
			return false
		}
		rest := bytes.TrimLeft(data[i+len(usageKey):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			rest = bytes.TrimLeft(rest[1:], " \t\r\n")
			if !bytes.HasPrefix(rest, []byte("null")) {
				return true
			}
		}
		data = data[i+len(usageKey):]
	}
}
