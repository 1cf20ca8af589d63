// Package anthropic holds Go types for the Anthropic Messages API wire
// format: the request, the response, the stream events and the error body.
// Types mirror the JSON exactly; they carry no behaviour beyond encoding,
// decoding and reading usage.
//
// Requests decode strictly (keys are case-sensitive, duplicates are errors)
// and keep the members they do not model in Extra, so a request proxied to
// Anthropic keeps parameters Sluice does not know about (service_tier,
// container, mcp_servers, context_management, ...).
package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// Roles of a message.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Stop reasons.
const (
	StopEndTurn                    = "end_turn"
	StopMaxTokens                  = "max_tokens"
	StopStopSequence               = "stop_sequence"
	StopToolUse                    = "tool_use"
	StopPauseTurn                  = "pause_turn"
	StopRefusal                    = "refusal"
	StopModelContextWindowExceeded = "model_context_window_exceeded"
)

// MessagesRequest is the body of POST /v1/messages. Optional scalars are
// pointers so an absent parameter stays absent when encoded again.
type MessagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int64           `json:"max_tokens"`
	Messages      []MessageParam  `json:"messages"`
	System        Content         `json:"system,omitzero"` // a string or text blocks
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int64          `json:"top_k,omitempty"`
	Metadata      *Metadata       `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Thinking      *ThinkingConfig `json:"thinking,omitempty"`

	// Extra holds the top-level members not modelled above, verbatim. It is
	// encoded after the modelled members, in key order.
	Extra map[string]json.RawMessage `json:"-"`
}

// MessageParam is one message of a request.
type MessageParam struct {
	Role    string                     `json:"role"`
	Content Content                    `json:"content"`
	Extra   map[string]json.RawMessage `json:"-"`
}

// Metadata is the metadata parameter.
type Metadata struct {
	UserID string                     `json:"user_id,omitempty"`
	Extra  map[string]json.RawMessage `json:"-"`
}

// Tool declares a tool. A client tool has Name, Description and
// InputSchema (a JSON Schema); a server tool (web search, code execution,
// ...) has a versioned Type such as "web_search_20250305" and its options
// in Extra. Type "custom", or empty, is a client tool.
type Tool struct {
	Type        string                     `json:"type,omitempty"`
	Name        string                     `json:"name"`
	Description string                     `json:"description,omitempty"`
	InputSchema json.RawMessage            `json:"input_schema,omitempty"`
	Extra       map[string]json.RawMessage `json:"-"` // cache_control, server tool options
}

// ToolChoice is the tool_choice parameter.
type ToolChoice struct {
	Type                   string                     `json:"type"` // auto, any, tool, none
	Name                   string                     `json:"name,omitempty"`
	DisableParallelToolUse *bool                      `json:"disable_parallel_tool_use,omitempty"`
	Extra                  map[string]json.RawMessage `json:"-"`
}

// Tool choice types.
const (
	ToolChoiceAuto = "auto"
	ToolChoiceAny  = "any"
	ToolChoiceTool = "tool"
	ToolChoiceNone = "none"
)

// ThinkingConfig is the thinking parameter: {"type":"enabled",
// "budget_tokens":N}, {"type":"disabled"} or {"type":"adaptive"}.
type ThinkingConfig struct {
	Type         string                     `json:"type"`
	BudgetTokens int64                      `json:"budget_tokens,omitempty"`
	Extra        map[string]json.RawMessage `json:"-"`
}

// DecodeMessagesRequest decodes a messages request body strictly: keys are
// case-sensitive, duplicate keys are errors, and unknown members are kept
// in the Extra maps. It does not Validate.
func DecodeMessagesRequest(data []byte) (*MessagesRequest, error) {
	r := new(MessagesRequest)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Validate checks what every messages request needs before any upstream
// call: a model, a positive max_tokens and messages with known roles.
func (r *MessagesRequest) Validate() error {
	if r.Model == "" {
		return errors.New("model: required")
	}
	if r.MaxTokens <= 0 {
		return errors.New("max_tokens: required, and must be at least 1")
	}
	if len(r.Messages) == 0 {
		return errors.New("messages: at least one message is required")
	}
	for i, m := range r.Messages {
		if m.Role != RoleUser && m.Role != RoleAssistant {
			return fmt.Errorf("messages[%d].role: must be %q or %q, not %q", i, RoleUser, RoleAssistant, m.Role)
		}
	}
	return nil
}

func (r *MessagesRequest) UnmarshalJSON(b []byte) (err error) {
	type plain MessagesRequest
	r.Extra, err = jsonobj.Decode(b, (*plain)(r))
	return err
}

func (r MessagesRequest) MarshalJSON() ([]byte, error) {
	type plain MessagesRequest
	return jsonobj.Marshal((plain)(r), r.Extra)
}

func (m *MessageParam) UnmarshalJSON(b []byte) (err error) {
	type plain MessageParam
	m.Extra, err = jsonobj.Decode(b, (*plain)(m))
	return err
}

func (m MessageParam) MarshalJSON() ([]byte, error) {
	type plain MessageParam
	return jsonobj.Marshal((plain)(m), m.Extra)
}

func (m *Metadata) UnmarshalJSON(b []byte) (err error) {
	type plain Metadata
	m.Extra, err = jsonobj.Decode(b, (*plain)(m))
	return err
}

func (m Metadata) MarshalJSON() ([]byte, error) {
	type plain Metadata
	return jsonobj.Marshal((plain)(m), m.Extra)
}

func (t *Tool) UnmarshalJSON(b []byte) (err error) {
	type plain Tool
	t.Extra, err = jsonobj.Decode(b, (*plain)(t))
	return err
}

func (t Tool) MarshalJSON() ([]byte, error) {
	type plain Tool
	return jsonobj.Marshal((plain)(t), t.Extra)
}

func (c *ToolChoice) UnmarshalJSON(b []byte) (err error) {
	type plain ToolChoice
	c.Extra, err = jsonobj.Decode(b, (*plain)(c))
	return err
}

func (c ToolChoice) MarshalJSON() ([]byte, error) {
	type plain ToolChoice
	return jsonobj.Marshal((plain)(c), c.Extra)
}

func (c *ThinkingConfig) UnmarshalJSON(b []byte) (err error) {
	type plain ThinkingConfig
	c.Extra, err = jsonobj.Decode(b, (*plain)(c))
	return err
}

func (c ThinkingConfig) MarshalJSON() ([]byte, error) {
	type plain ThinkingConfig
	return jsonobj.Marshal((plain)(c), c.Extra)
}
