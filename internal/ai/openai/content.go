package openai

import (
	"encoding/json"
	"errors"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// Content is a message's content: a string, an array of parts, or null
// (an assistant message that only calls tools). Parts, when non-nil, wins;
// otherwise Null encodes null and anything else encodes Text.
//
// The zero Content is absent: a message leaves the member out. Content
// decoded from any JSON value, or made by TextContent or PartsContent, is
// present even when empty.
type Content struct {
	Text    string
	Parts   []ContentPart
	Null    bool
	present bool
}

// TextContent returns string content.
func TextContent(s string) Content { return Content{Text: s, present: true} }

// IsZero reports whether the content is absent.
func (c Content) IsZero() bool { return c.Text == "" && c.Parts == nil && !c.Null && !c.present }

// PartsContent returns array content.
func PartsContent(parts ...ContentPart) Content {
	if parts == nil {
		parts = []ContentPart{}
	}
	return Content{Parts: parts, present: true}
}

// Content part types.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartRefusal    = "refusal"
	PartFile       = "file"
)

// ContentPart is one element of array content. Members of types not
// modelled here (file, ...) and extensions such as cache_control stay in
// Extra.
type ContentPart struct {
	Type       string                     `json:"type"`
	Text       string                     `json:"text,omitempty"`
	Refusal    string                     `json:"refusal,omitempty"`
	ImageURL   *ImageURL                  `json:"image_url,omitempty"`
	InputAudio *InputAudio                `json:"input_audio,omitempty"`
	Extra      map[string]json.RawMessage `json:"-"`
}

// ImageURL is an image part's image: an http(s) URL or a data URL
// ("data:image/png;base64,...").
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"` // auto, low, high
}

// InputAudio is an audio part's audio, base64-encoded.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"` // wav, mp3
}

// TextPart returns a text part.
func TextPart(s string) ContentPart { return ContentPart{Type: PartText, Text: s} }

// String returns the content's text: Text, or the text (and refusal) parts
// concatenated. ok is false when the content holds parts that are not text.
func (c Content) String() (s string, ok bool) {
	if c.Parts == nil {
		return c.Text, true
	}
	if len(c.Parts) == 1 && c.Parts[0].Type == PartText {
		return c.Parts[0].Text, true
	}
	var b []byte
	ok = true
	for _, p := range c.Parts {
		switch p.Type {
		case PartText:
			b = append(b, p.Text...)
		case PartRefusal:
			b = append(b, p.Refusal...)
		default:
			ok = false
		}
	}
	return string(b), ok
}

func (c *Content) UnmarshalJSON(b []byte) error {
	*c = Content{present: true}
	switch {
	case string(b) == "null":
		c.Null = true
		return nil
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &c.Text)
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &c.Parts); err != nil {
			return err
		}
		if c.Parts == nil {
			c.Parts = []ContentPart{}
		}
		return nil
	}
	return errors.New("content: want a string, an array of parts or null")
}

func (c Content) MarshalJSON() ([]byte, error) {
	switch {
	case c.Parts != nil:
		return json.Marshal(c.Parts)
	case c.Null:
		return []byte("null"), nil
	}
	return jsonobj.AppendString(nil, c.Text), nil
}

func (p *ContentPart) UnmarshalJSON(b []byte) (err error) {
	type plain ContentPart
	p.Extra, err = jsonobj.Decode(b, (*plain)(p))
	return err
}

// MarshalJSON always writes a text part's text, even when empty.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	if p.Type == PartText {
		v := struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{p.Type, p.Text}
		return jsonobj.Marshal(v, p.Extra)
	}
	type plain ContentPart
	return jsonobj.Marshal((plain)(p), p.Extra)
}
