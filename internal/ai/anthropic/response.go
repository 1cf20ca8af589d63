package anthropic

import (
	"encoding/json"

	"github.com/sluicegw/sluice/internal/ai"
)

// Message is the response of a messages request, and the message of a
// message_start event (with empty content and no stop reason yet).
type Message struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"` // "message"
	Role         string         `json:"role"` // "assistant"
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   string         `json:"stop_reason"`   // "" encodes null
	StopSequence string         `json:"stop_sequence"` // "" encodes null
	Usage        Usage          `json:"usage"`
}

// MarshalJSON writes null for an empty stop_reason and stop_sequence and
// [] for nil content, as the API does.
func (m Message) MarshalJSON() ([]byte, error) {
	content := m.Content
	if content == nil {
		content = []ContentBlock{}
	}
	return json.Marshal(struct {
		ID           string         `json:"id"`
		Type         string         `json:"type"`
		Role         string         `json:"role"`
		Model        string         `json:"model"`
		Content      []ContentBlock `json:"content"`
		StopReason   *string        `json:"stop_reason"`
		StopSequence *string        `json:"stop_sequence"`
		Usage        Usage          `json:"usage"`
	}{m.ID, m.Type, m.Role, m.Model, content, nullable(m.StopReason), nullable(m.StopSequence), m.Usage})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Usage is the usage of a response or a message_start event. Anthropic's
// counts are additive: input_tokens excludes the cache reads and writes.
type Usage struct {
	InputTokens              int64           `json:"input_tokens"`
	CacheCreationInputTokens int64           `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64           `json:"cache_read_input_tokens"`
	OutputTokens             int64           `json:"output_tokens"`
	CacheCreation            json.RawMessage `json:"cache_creation,omitempty"`
	ServerToolUse            json.RawMessage `json:"server_tool_use,omitempty"`
	ServiceTier              string          `json:"service_tier,omitempty"`
}

// AI returns u in Sluice's provider-neutral form, where cached and
// cache-creation tokens are parts of Input rather than additions to it.
func (u Usage) AI() ai.Usage {
	return ai.Usage{
		Input:         u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		Output:        u.OutputTokens,
		CachedInput:   u.CacheReadInputTokens,
		CacheCreation: u.CacheCreationInputTokens,
	}
}

// UsageFromAI returns the Anthropic usage for u, splitting Input back into
// the additive fields. Reasoning has no Anthropic field; it stays inside
// output_tokens.
func UsageFromAI(u ai.Usage) Usage {
	return Usage{
		InputTokens:              max(u.Input-u.CachedInput-u.CacheCreation, 0),
		CacheCreationInputTokens: u.CacheCreation,
		CacheReadInputTokens:     u.CachedInput,
		OutputTokens:             u.Output,
	}
}

// DeltaUsage is the usage of a message_delta event. Every count in it is
// cumulative for the whole message. output_tokens is always sent; the
// others only by some versions and compatible providers, so they are
// pointers: an absent count must not overwrite one from message_start.
type DeltaUsage struct {
	InputTokens              *int64          `json:"input_tokens,omitempty"`
	CacheCreationInputTokens *int64          `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64          `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             int64           `json:"output_tokens"`
	ServerToolUse            json.RawMessage `json:"server_tool_use,omitempty"`
}

// StreamUsage collects the usage of a messages stream: message_start
// carries the input and cache counts (and a first output count), and each
// message_delta carries cumulative counts, output at least. Counts are
// merged field by field, keeping the largest, so a count sent twice is not
// double counted and one a later event leaves out is not lost. The zero
// value is ready to use.
type StreamUsage struct {
	in, cacheCreate, cacheRead, out int64
	seen                            bool
}

// Observe records the usage an event carries, if any.
func (s *StreamUsage) Observe(ev *StreamEvent) {
	switch {
	case ev.Type == EventMessageStart && ev.Message != nil:
		u := &ev.Message.Usage
		s.in, s.cacheCreate = max(s.in, u.InputTokens), max(s.cacheCreate, u.CacheCreationInputTokens)
		s.cacheRead, s.out = max(s.cacheRead, u.CacheReadInputTokens), max(s.out, u.OutputTokens)
		s.seen = true
	case ev.Type == EventMessageDelta && ev.Usage != nil:
		u := ev.Usage
		if u.InputTokens != nil {
			s.in = max(s.in, *u.InputTokens)
		}
		if u.CacheCreationInputTokens != nil {
			s.cacheCreate = max(s.cacheCreate, *u.CacheCreationInputTokens)
		}
		if u.CacheReadInputTokens != nil {
			s.cacheRead = max(s.cacheRead, *u.CacheReadInputTokens)
		}
		s.out = max(s.out, u.OutputTokens)
		s.seen = true
	}
}

// Wire returns the merged counts as an Anthropic Usage.
func (s *StreamUsage) Wire() Usage {
	return Usage{InputTokens: s.in, CacheCreationInputTokens: s.cacheCreate, CacheReadInputTokens: s.cacheRead, OutputTokens: s.out}
}

// Usage returns the usage collected so far, and whether any was reported.
func (s *StreamUsage) Usage() (ai.Usage, bool) { return s.Wire().AI(), s.seen }
