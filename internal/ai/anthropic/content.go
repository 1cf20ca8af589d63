package anthropic

import (
	"bytes"
	"encoding/json"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// Content is a message's (or system's, or tool result's) content: a string
// or an array of blocks. Blocks, when non-nil, wins over Text. Raw keeps
// any other JSON value verbatim (server tool results carry objects), and
// wins over both.
type Content struct {
	Text   string
	Blocks []ContentBlock
	Raw    json.RawMessage
}

// TextContent returns string content.
func TextContent(s string) Content { return Content{Text: s} }

// BlocksContent returns array content.
func BlocksContent(blocks ...ContentBlock) Content {
	if blocks == nil {
		blocks = []ContentBlock{}
	}
	return Content{Blocks: blocks}
}

// IsZero reports whether c is the zero Content, which an omitzero field
// leaves out.
func (c Content) IsZero() bool { return c.Text == "" && c.Blocks == nil && c.Raw == nil }

func (c *Content) UnmarshalJSON(b []byte) error {
	*c = Content{}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &c.Text)
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &c.Blocks); err != nil {
			return err
		}
		if c.Blocks == nil {
			c.Blocks = []ContentBlock{}
		}
		return nil
	}
	c.Raw = bytes.Clone(b)
	return nil
}

func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.Raw != nil:
		return c.Raw, nil
	case c.Blocks != nil:
		return json.Marshal(c.Blocks)
	}
	return jsonobj.AppendString(nil, c.Text), nil
}

// Block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockDocument         = "document"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
	BlockServerToolUse    = "server_tool_use"
)

// ContentBlock is one block of content, of any type; which fields apply
// depends on Type. Members not modelled (cache_control, fields of block
// types not listed above) are kept in Extra.
type ContentBlock struct {
	Type string `json:"type"`

	// text
	Text      string          `json:"text,omitempty"`
	Citations json.RawMessage `json:"citations,omitempty"`

	// image, document
	Source *Source `json:"source,omitempty"`

	// tool_use, server_tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`

	// tool_result
	ToolUseID string   `json:"tool_use_id,omitempty"`
	Content   *Content `json:"content,omitempty"`
	IsError   *bool    `json:"is_error,omitempty"`

	// thinking, redacted_thinking
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Source is an image's or document's source.
type Source struct {
	Type      string                     `json:"type"` // base64, url, text, file
	MediaType string                     `json:"media_type,omitempty"`
	Data      string                     `json:"data,omitempty"`
	URL       string                     `json:"url,omitempty"`
	Extra     map[string]json.RawMessage `json:"-"` // file_id, ...
}

// Source types.
const (
	SourceBase64 = "base64"
	SourceURL    = "url"
)

// TextBlock returns a text block.
func TextBlock(s string) ContentBlock { return ContentBlock{Type: BlockText, Text: s} }

func (b *ContentBlock) UnmarshalJSON(data []byte) (err error) {
	type plain ContentBlock
	b.Extra, err = jsonobj.Decode(data, (*plain)(b))
	return err
}

// emptyObject is the input of a tool_use block that has none yet.
var emptyObject = json.RawMessage(`{}`)

// MarshalJSON writes the fields each block type always has even when empty:
// a text block's text, a thinking block's thinking and signature, a
// tool_use block's input (as {} when unset). These are the shapes of
// content_block_start events.
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	switch b.Type {
	case BlockText:
		return jsonobj.Marshal(struct {
			Type      string          `json:"type"`
			Text      string          `json:"text"`
			Citations json.RawMessage `json:"citations,omitempty"`
		}{b.Type, b.Text, b.Citations}, b.Extra)
	case BlockThinking:
		return jsonobj.Marshal(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature}, b.Extra)
	case BlockToolUse, BlockServerToolUse:
		in := b.Input
		if len(in) == 0 {
			in = emptyObject
		}
		return jsonobj.Marshal(struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		}{b.Type, b.ID, b.Name, in}, b.Extra)
	}
	type plain ContentBlock
	return jsonobj.Marshal((plain)(b), b.Extra)
}

func (s *Source) UnmarshalJSON(b []byte) (err error) {
	type plain Source
	s.Extra, err = jsonobj.Decode(b, (*plain)(s))
	return err
}

func (s Source) MarshalJSON() ([]byte, error) {
	type plain Source
	return jsonobj.Marshal((plain)(s), s.Extra)
}
