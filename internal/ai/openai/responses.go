package openai

import (
	"encoding/json"
	"errors"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/jsonobj"
)

// The Responses API (POST /v1/responses) is passed through to OpenAI-type
// providers, never translated, so only the members Sluice reads or changes
// are modelled: everything else stays in Extra, verbatim.

// ResponsesRequest is the body of POST /v1/responses.
type ResponsesRequest struct {
	Model  string `json:"model"`
	Stream bool   `json:"stream,omitempty"`
	// Instructions is the system prompt, when given as a string.
	Instructions    *string         `json:"instructions,omitempty"`
	Input           json.RawMessage `json:"input,omitempty"` // a string or a list of input items
	MaxOutputTokens *int64          `json:"max_output_tokens,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// ResponsesInputItem is one message item of a Responses input list. Items
// of other types (function_call_output, reasoning ...) keep their type in
// Type and their members in Extra.
type ResponsesInputItem struct {
	Type    string          `json:"type,omitempty"` // "message" or absent for messages
	Role    string          `json:"role,omitempty"`
	Content json.RawMessage `json:"content,omitempty"` // a string or a list of content parts

	Extra map[string]json.RawMessage `json:"-"`
}

// Validate checks what Sluice needs: a model and an input.
func (r *ResponsesRequest) Validate() error {
	if r.Model == "" {
		return errors.New("model: required")
	}
	if len(r.Input) == 0 && r.Extra["previous_response_id"] == nil && r.Extra["conversation"] == nil {
		return errors.New("input: required")
	}
	return nil
}

// DecodeResponsesRequest decodes a Responses request body strictly, as
// DecodeChatRequest does. It does not Validate.
func DecodeResponsesRequest(data []byte) (*ResponsesRequest, error) {
	r := new(ResponsesRequest)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *ResponsesRequest) UnmarshalJSON(b []byte) (err error) {
	type plain ResponsesRequest
	r.Extra, err = jsonobj.Decode(b, (*plain)(r))
	return err
}

func (r ResponsesRequest) MarshalJSON() ([]byte, error) {
	type plain ResponsesRequest
	return jsonobj.Marshal((plain)(r), r.Extra)
}

func (it *ResponsesInputItem) UnmarshalJSON(b []byte) (err error) {
	type plain ResponsesInputItem
	it.Extra, err = jsonobj.Decode(b, (*plain)(it))
	return err
}

func (it ResponsesInputItem) MarshalJSON() ([]byte, error) {
	type plain ResponsesInputItem
	return jsonobj.Marshal((plain)(it), it.Extra)
}

// ResponsesUsage is the usage object of a Responses answer.
type ResponsesUsage struct {
	InputTokens        int64 `json:"input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	TotalTokens        int64 `json:"total_tokens"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details,omitempty"`
	OutputTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"output_tokens_details,omitempty"`
}

// AI returns u in Sluice's form; the Responses API already follows the
// containment rules (cached within input, reasoning within output).
func (u *ResponsesUsage) AI() ai.Usage {
	if u == nil {
		return ai.Usage{}
	}
	out := ai.Usage{Input: u.InputTokens, Output: u.OutputTokens}
	if d := u.InputTokensDetails; d != nil {
		out.CachedInput = d.CachedTokens
	}
	if d := u.OutputTokensDetails; d != nil {
		out.Reasoning = d.ReasoningTokens
	}
	return out
}

// Responses stream event types Sluice acts on.
const (
	ResponseCreated    = "response.created"
	ResponseInProgress = "response.in_progress"
	ResponseQueued     = "response.queued"
	ResponseItemAdded  = "response.output_item.added"
	ResponsePartAdded  = "response.content_part.added"
	ResponseCompleted  = "response.completed"
	ResponseIncomplete = "response.incomplete"
	ResponseFailed     = "response.failed"
	ResponseError      = "error"
)

// ResponsesEvent is the part of a Responses stream event Sluice reads: its
// type, the final response's usage and error, and an error event's fields.
type ResponsesEvent struct {
	Type     string `json:"type"`
	Response *struct {
		Usage *ResponsesUsage `json:"usage"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"response"`
	Code    *string `json:"code"`
	Message string  `json:"message"`
}

// ParseResponsesEvent decodes the data of one Responses stream event.
func ParseResponsesEvent(data []byte) (ResponsesEvent, error) {
	var ev ResponsesEvent
	err := json.Unmarshal(data, &ev)
	if err == nil && ev.Type == "" {
		err = errors.New("the event has no type")
	}
	return ev, err
}
