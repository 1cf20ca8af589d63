package route

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/plugin"
)

// This file is *request seen through plugin.AIRequest: the provider-neutral
// view AI plugins read and change before the request goes upstream. Each
// method that reads more than the model and stream flag calls q.chat()
// first, because an OpenAI chat request may only have been peeked at.

var _ plugin.AIRequest = (*request)(nil)

// errNoMessages is what Prepend and Append say about an embeddings request.
var errNoMessages = errors.New("an embeddings request has no messages to add to")

// Model returns the model name the client asked for.
func (q *request) Model() string { return q.model }

// Stream reports whether the client asked for a stream.
func (q *request) Stream() bool { return q.stream }

// Messages returns the request's text; see plugin.AIRequest.
func (q *request) Messages() []plugin.AIMessage {
	q.chat()
	var out []plugin.AIMessage
	switch {
	case q.emb != nil:
		for _, s := range embeddingInputs(q.emb.Input) {
			out = append(out, plugin.AIMessage{Role: "user", Text: s})
		}
	case q.rsp != nil:
		return responsesMessages(q.rsp)
	case q.ant != nil:
		if s := anthropicText(q.ant.System); s != "" {
			out = append(out, plugin.AIMessage{Role: "system", Text: s})
		}
		for _, m := range q.ant.Messages {
			out = append(out, plugin.AIMessage{Role: m.Role, Text: anthropicText(m.Content)})
		}
	case q.oai != nil:
		for _, m := range q.oai.Messages {
			role := m.Role
			if role == openai.RoleDeveloper {
				role = openai.RoleSystem
			}
			var b strings.Builder
			b.WriteString(openAIText(m.Content))
			for _, tc := range m.ToolCalls {
				sep(&b)
				b.WriteString(tc.Function.Arguments)
			}
			out = append(out, plugin.AIMessage{Role: role, Text: b.String()})
		}
	}
	return out
}

// sep writes a newline between two pieces of one message's text.
func sep(b *strings.Builder) {
	if b.Len() > 0 {
		b.WriteByte('\n')
	}
}

// openAIText joins a content's text parts with newlines, as anthropicText
// does, so a guard's ^ and $ mean the same whichever shape the client used.
func openAIText(c openai.Content) string {
	if c.Parts == nil {
		return c.Text
	}
	var b strings.Builder
	for _, p := range c.Parts {
		if p.Type == openai.PartText || p.Type == openai.PartRefusal {
			sep(&b)
			b.WriteString(p.Text + p.Refusal)
		}
	}
	return b.String()
}

func anthropicText(c anthropic.Content) string {
	if c.Blocks == nil {
		return c.Text
	}
	var b strings.Builder
	for _, bl := range c.Blocks {
		switch {
		case bl.Text != "":
			sep(&b)
			b.WriteString(bl.Text)
		case bl.Type == anthropic.BlockToolUse && len(bl.Input) > 0:
			sep(&b)
			b.Write(bl.Input)
		case bl.Content != nil:
			if s := anthropicText(*bl.Content); s != "" {
				sep(&b)
				b.WriteString(s)
			}
		}
	}
	return b.String()
}

// embeddingInputs returns the text inputs of an embeddings request: a
// string or a list of strings. Token-array inputs have no text.
func embeddingInputs(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

// Prepend adds msgs at the start of the conversation; see plugin.AIRequest.
func (q *request) Prepend(msgs ...plugin.AIMessage) error { return q.add(true, msgs) }

// Append adds msgs at the end of the conversation; see plugin.AIRequest.
func (q *request) Append(msgs ...plugin.AIMessage) error { return q.add(false, msgs) }

func (q *request) add(front bool, msgs []plugin.AIMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	if q.emb != nil {
		return errNoMessages
	}
	for _, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return errors.New("role " + m.Role + " cannot be added (want system, user or assistant)")
		}
	}
	q.chat()
	q.forms, q.edited = [2]*form{}, true // translated forms are stale now
	if q.rsp != nil {
		return responsesAdd(q.rsp, front, msgs)
	}
	if front {
		// Added in reverse so that msgs keep their order at the front.
		for i := len(msgs) - 1; i >= 0; i-- {
			q.insert(true, msgs[i])
		}
		return nil
	}
	for _, m := range msgs {
		q.insert(false, m)
	}
	return nil
}

// insert adds one message. A system message joins the system prompt at
// its start or end; any other goes at the front (after the system
// prompt) or at the end of the conversation.
func (q *request) insert(front bool, m plugin.AIMessage) {
	if q.ant != nil {
		if m.Role == "system" {
			q.ant.System = joinSystem(q.ant.System, m.Text, front)
			return
		}
		mp := anthropic.MessageParam{Role: m.Role, Content: anthropic.TextContent(m.Text)}
		at := len(q.ant.Messages)
		if front {
			at = 0
		}
		q.ant.Messages = insertAt(q.ant.Messages, at, mp)
		return
	}
	msgs := q.oai.Messages
	lead := 0 // the leading system (or developer) messages
	for lead < len(msgs) && (msgs[lead].Role == openai.RoleSystem || msgs[lead].Role == openai.RoleDeveloper) {
		lead++
	}
	at := len(msgs)
	switch {
	case m.Role == "system" && front:
		at = 0
	case m.Role == "system" || front:
		at = lead
	}
	q.oai.Messages = insertAt(msgs, at, openai.Message{Role: m.Role, Content: openai.TextContent(m.Text)})
}

// insertAt returns s with v inserted at i, never sharing the array with
// the caller's slice.
func insertAt[T any](s []T, i int, v T) []T {
	out := make([]T, 0, len(s)+1)
	out = append(out, s[:i]...)
	out = append(out, v)
	return append(out, s[i:]...)
}

// joinSystem adds text to an Anthropic system prompt, as a block of its own.
func joinSystem(c anthropic.Content, text string, front bool) anthropic.Content {
	var blocks []anthropic.ContentBlock
	switch {
	case c.Blocks != nil:
		blocks = c.Blocks
	case c.Text != "":
		blocks = []anthropic.ContentBlock{anthropic.TextBlock(c.Text)}
	default:
		return anthropic.TextContent(text)
	}
	at := len(blocks)
	if front {
		at = 0
	}
	return anthropic.BlocksContent(insertAt(blocks, at, anthropic.TextBlock(text))...)
}

// MaxTokens returns the output limit the request sets, 0 for none. An
// OpenAI request that sets both max_tokens and max_completion_tokens
// reports the larger: the one a cap must bring down.
func (q *request) MaxTokens() int64 {
	q.chat()
	switch {
	case q.rsp != nil:
		if q.rsp.MaxOutputTokens != nil {
			return *q.rsp.MaxOutputTokens
		}
	case q.ant != nil:
		return q.ant.MaxTokens
	case q.oai != nil:
		var n int64
		if q.oai.MaxCompletionTokens != nil {
			n = *q.oai.MaxCompletionTokens
		}
		if q.oai.MaxTokens != nil {
			n = max(n, *q.oai.MaxTokens)
		}
		return n
	}
	return 0
}

// SetMaxTokens sets the output limit. An OpenAI request keeps the
// parameter(s) it used; one that set none gets max_tokens, which every
// OpenAI-compatible provider knows (max_completion_tokens is newer). When
// it set both, a lower one of the two stays as it was: setting a cap never
// raises a limit the client asked for.
func (q *request) SetMaxTokens(n int64) {
	q.chat()
	q.forms, q.edited = [2]*form{}, true
	switch {
	case q.rsp != nil:
		q.rsp.MaxOutputTokens = &n
	case q.ant != nil:
		q.ant.MaxTokens = n
	case q.oai != nil:
		mct, mt := q.oai.MaxCompletionTokens, q.oai.MaxTokens
		switch {
		case mct != nil && mt != nil:
			q.oai.MaxCompletionTokens, q.oai.MaxTokens = ptr(min(*mct, n)), ptr(min(*mt, n))
		case mct != nil:
			q.oai.MaxCompletionTokens = &n
		default:
			q.oai.MaxTokens = &n
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Canonical returns the request as compact JSON in a fixed member order.
// The wire types encode modelled members in declaration order and unknown
// ones sorted by key, and encoding/json compacts raw members, so equal
// requests give equal bytes.
func (q *request) Canonical() []byte {
	q.chat()
	var v any
	switch {
	case q.emb != nil:
		v = q.emb
	case q.rsp != nil:
		v = q.rsp
	case q.ant != nil:
		v = q.ant
	default:
		v = q.oai
	}
	b, _ := json.Marshal(v)
	return b
}

// responsesMessages is the text view of a Responses request: instructions
// as the system prompt, a string input as one user message, and the
// message items of an input list with their text parts.
func responsesMessages(r *openai.ResponsesRequest) []plugin.AIMessage {
	var out []plugin.AIMessage
	if r.Instructions != nil && *r.Instructions != "" {
		out = append(out, plugin.AIMessage{Role: "system", Text: *r.Instructions})
	}
	var one string
	if json.Unmarshal(r.Input, &one) == nil {
		return append(out, plugin.AIMessage{Role: "user", Text: one})
	}
	var items []openai.ResponsesInputItem
	if json.Unmarshal(r.Input, &items) != nil {
		return out
	}
	for _, it := range items {
		if it.Role == "" {
			continue // a tool call, its output, reasoning ...: no message text
		}
		role := it.Role
		if role == openai.RoleDeveloper {
			role = openai.RoleSystem
		}
		out = append(out, plugin.AIMessage{Role: role, Text: responsesText(it.Content)})
	}
	return out
}

// responsesText joins the text of a Responses content: a string, or parts
// of type input_text or output_text.
func responsesText(raw json.RawMessage) string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		if p.Text != "" {
			sep(&b)
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// responsesAdd adds messages to a Responses request: system text joins
// instructions (separated by a blank line), other roles become message
// items at either end of the input list; a string input becomes a list.
func responsesAdd(r *openai.ResponsesRequest, front bool, msgs []plugin.AIMessage) error {
	var items []json.RawMessage
	if len(r.Input) > 0 {
		var one string
		switch {
		case json.Unmarshal(r.Input, &one) == nil:
			b, _ := json.Marshal(openai.ResponsesInputItem{Role: "user", Content: r.Input})
			items = []json.RawMessage{b}
		case json.Unmarshal(r.Input, &items) != nil:
			return errors.New("input: neither a string nor a list")
		}
	}
	var head, tail []json.RawMessage
	order := slices.Clone(msgs)
	if front { // each goes in front of the last: take them last first
		slices.Reverse(order)
	}
	for _, m := range order {
		if m.Role == "system" {
			old := ""
			if r.Instructions != nil {
				old = *r.Instructions
			}
			text := m.Text
			switch {
			case old != "" && front:
				text += "\n\n" + old
			case old != "":
				text = old + "\n\n" + text
			}
			r.Instructions = &text
			continue
		}
		content, _ := json.Marshal(m.Text)
		b, _ := json.Marshal(openai.ResponsesInputItem{Role: m.Role, Content: content})
		if front {
			head = append([]json.RawMessage{b}, head...)
		} else {
			tail = append(tail, b)
		}
	}
	if len(head)+len(tail) == 0 {
		return nil
	}
	all := append(append(head, items...), tail...)
	b, err := json.Marshal(all)
	if err != nil {
		return err
	}
	r.Input = b
	return nil
}
