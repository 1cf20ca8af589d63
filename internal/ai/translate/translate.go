// Package translate converts between the OpenAI Chat Completions and the
// Anthropic Messages wire formats, in both directions, so that either
// ingress API can front either kind of provider:
//
//	ToAnthropicRequest   OpenAI chat request      → Anthropic messages request
//	ToOpenAIRequest      Anthropic messages request → OpenAI chat request
//	ToOpenAIResponse     Anthropic message        → OpenAI chat completion
//	ToAnthropicResponse  OpenAI chat completion   → Anthropic message
//	OpenAIStream         Anthropic stream events  → OpenAI chunks
//	AnthropicStream      OpenAI chunks            → Anthropic stream events
//	ToOpenAIError, ToAnthropicError                error bodies
//
// A parameter that has no equivalent on the other side is an error
// (*ParamError, naming the parameter) unless dropping it cannot change the
// answer; each such drop is listed on the function that makes it. The
// stream translators are state machines fed one event at a time: they
// never hold back more than the current event, except that the Anthropic
// message_delta is emitted when the OpenAI stream ends, because OpenAI
// sends usage after finish_reason.
package translate

import (
	"errors"
	"time"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// DefaultMaxTokens is the max_tokens sent to Anthropic, which requires one,
// when an OpenAI request sets neither max_completion_tokens nor max_tokens.
// 4096 is the largest output every Claude model accepts.
const DefaultMaxTokens = 4096

// Options tune the translations. The zero value is valid.
type Options struct {
	// DefaultMaxTokens replaces the package's DefaultMaxTokens when
	// positive.
	DefaultMaxTokens int64
	// LegacyMaxTokens makes ToOpenAIRequest send max_tokens rather than
	// max_completion_tokens, for OpenAI-compatible targets that only know
	// the older name.
	LegacyMaxTokens bool
	// IgnoreUnknown makes the request translations drop top-level
	// parameters they do not know instead of failing. Known parameters
	// that cannot be translated still fail.
	IgnoreUnknown bool
	// Now returns the time used for OpenAI "created" fields. Nil means
	// time.Now.
	Now func() time.Time
}

func (o *Options) created() int64 {
	if o.Now != nil {
		return o.Now().Unix()
	}
	return time.Now().Unix()
}

// ParamError reports a request parameter that cannot be translated.
type ParamError struct {
	Param  string // the parameter's path in the request, e.g. "messages[2].content[1]"
	Reason string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Reason }

// OpenAI returns the error as an OpenAI error body, for status 400.
func (e *ParamError) OpenAI() openai.ErrorBody {
	return openai.ErrorBody{Error: openai.Error{Message: e.Error(), Type: openai.ErrInvalidRequest, Param: e.Param, Code: "unsupported_parameter"}}
}

// Anthropic returns the error as an Anthropic error body, for status 400.
func (e *ParamError) Anthropic() anthropic.ErrorBody {
	return anthropic.NewErrorBody(400, e.Error())
}

func paramErr(param, reason string) error { return &ParamError{Param: param, Reason: reason} }

// ErrTruncated is returned by the stream translators' Finish when the
// upstream stream ended before it was complete. The events Finish returns
// with it close the client's stream with an error event.
var ErrTruncated = errors.New("upstream stream ended before it was complete")

// ErrFinished is returned by Feed after the stream has ended.
var ErrFinished = errors.New("stream already finished")

// StopReasonToOpenAI maps an Anthropic stop_reason to an OpenAI
// finish_reason. stop_sequence and pause_turn become "stop"; the context
// window running out becomes "length", as max_tokens does. An unknown or
// empty reason becomes "stop".
func StopReasonToOpenAI(reason string) string {
	switch reason {
	case anthropic.StopMaxTokens, anthropic.StopModelContextWindowExceeded:
		return openai.FinishLength
	case anthropic.StopToolUse:
		return openai.FinishToolCalls
	case anthropic.StopRefusal:
		return openai.FinishContentFilter
	}
	return openai.FinishStop
}

// FinishReasonToAnthropic maps an OpenAI finish_reason to an Anthropic
// stop_reason. OpenAI does not say which stop sequence matched, so "stop"
// is always end_turn. An unknown or empty reason becomes end_turn.
func FinishReasonToAnthropic(reason string) string {
	switch reason {
	case openai.FinishLength:
		return anthropic.StopMaxTokens
	case openai.FinishToolCalls, openai.FinishFunctionCall:
		return anthropic.StopToolUse
	case openai.FinishContentFilter:
		return anthropic.StopRefusal
	}
	return anthropic.StopEndTurn
}

// ToOpenAIError converts an Anthropic error body, received with status,
// into the OpenAI shape. The type follows the status as OpenAI would set
// it; the Anthropic type is kept as the code (e.g. "overloaded_error").
func ToOpenAIError(status int, e *anthropic.ErrorBody) openai.ErrorBody {
	return openai.ErrorBody{Error: openai.Error{
		Message: e.Error.Message,
		Type:    openai.ErrorTypeForStatus(status),
		Code:    e.Error.Type,
	}}
}

// ToAnthropicError converts an OpenAI error body, received with status,
// into the Anthropic shape; the type follows the status.
func ToAnthropicError(status int, e *openai.ErrorBody) anthropic.ErrorBody {
	return anthropic.NewErrorBody(status, e.Error.Message)
}

// errorTypeToAnthropic maps an OpenAI error type seen in a stream, where
// there is no status, to an Anthropic error type.
func errorTypeToAnthropic(typ string) string {
	switch typ {
	case openai.ErrInvalidRequest:
		return anthropic.ErrInvalidRequest
	case openai.ErrAuthentication:
		return anthropic.ErrAuthentication
	case openai.ErrPermission:
		return anthropic.ErrPermission
	case openai.ErrNotFound:
		return anthropic.ErrNotFound
	case openai.ErrRateLimit, "tokens", "requests":
		return anthropic.ErrRateLimit
	}
	return anthropic.ErrAPI
}

// errorTypeToOpenAI maps an Anthropic error type seen in a stream to an
// OpenAI error type.
func errorTypeToOpenAI(typ string) string {
	return openai.ErrorTypeForStatus(anthropic.StatusForErrorType(typ))
}
