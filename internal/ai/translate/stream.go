package translate

import (
	"fmt"
	"time"
)

// StreamOptions configure a stream translator. The zero value is valid.
type StreamOptions struct {
	// IncludeUsage says the client asked for stream_options.include_usage:
	// OpenAIStream then sends the usage-only chunk before [DONE]. (The
	// upstream side is not affected: Anthropic always reports usage, and
	// ToOpenAIRequest always asks an OpenAI-type upstream for it.)
	IncludeUsage bool
	// Model, when set, is the model name written to the client instead of
	// the upstream's, e.g. the alias the client asked for.
	Model string
	// InputTokens is the input count AnthropicStream reports in
	// message_start, typically an estimate: an OpenAI-type upstream reports
	// usage only at the end, where message_delta carries the real counts.
	InputTokens int64
	// MessageID is the message id AnthropicStream writes when the upstream
	// names none (Azure's first chunk has no id); empty means "msg_sluice".
	MessageID string
	// Now returns the time used for the "created" field of OpenAI chunks.
	// Nil means time.Now.
	Now func() time.Time
}

func (o *StreamOptions) created() int64 {
	if o.Now != nil {
		return o.Now().Unix()
	}
	return time.Now().Unix()
}

// UpstreamError is what a stream translator's Err returns after the
// upstream sent an error event.
type UpstreamError struct {
	Type    string // the upstream's error type
	Message string
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("upstream stream error (%s): %s", e.Type, e.Message)
}

// ProtocolError is what a stream translator's Feed and Err return when the
// upstream's events do not form a valid stream.
type ProtocolError struct {
	Reason string
}

func (e *ProtocolError) Error() string { return "invalid upstream stream: " + e.Reason }

type streamState int8

const (
	stateNew streamState = iota
	stateStarted
	stateDone // ended normally or with an error event already written
)
