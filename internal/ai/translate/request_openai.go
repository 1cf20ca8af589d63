package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// harmlessAnthropic lists top-level Anthropic parameters (kept in Extra)
// that ToOpenAIRequest may drop.
var harmlessAnthropic = map[string]bool{
	"service_tier": true, // Anthropic's capacity tier
}

// ToOpenAIRequest translates an Anthropic messages request into an OpenAI
// chat request.
//
//   - system becomes a leading system message: a string, or text parts
//     when there are several blocks.
//   - tool_result blocks become tool messages, placed before the rest of
//     their user turn because OpenAI wants them right after the assistant's
//     tool_calls; images inside a tool result move to a user message after
//     the tool messages (OpenAI tool messages carry only text).
//   - tool_use blocks become tool_calls with the input as the arguments
//     string.
//   - image blocks become image_url parts: base64 sources as data URLs.
//   - max_tokens becomes max_completion_tokens (max_tokens with
//     Options.LegacyMaxTokens); stop_sequences becomes stop;
//     metadata.user_id becomes user; disable_parallel_tool_use becomes
//     parallel_tool_calls=false; a stream asks for stream_options.include_usage,
//     which the Anthropic stream needs for its final usage.
//
// Dropped because they cannot change the answer: cache_control on blocks
// and tools, service_tier, is_error on tool results (the result's text still
// says what failed), thinking and redacted_thinking blocks in history, and
// the thinking parameter (OpenAI-type models reason or not by model, and
// reasoning_effort would be refused by models that do not reason).
//
// Errors (*ParamError): top_k, server tools, document and other non-text,
// non-image blocks, content in shapes other than string or blocks, and any
// other unknown parameter unless Options.IgnoreUnknown.
func ToOpenAIRequest(r *anthropic.MessagesRequest, o Options) (*openai.ChatRequest, error) {
	out := &openai.ChatRequest{Model: r.Model, Stream: r.Stream}
	if r.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !harmlessAnthropic[k] && !o.IgnoreUnknown {
			return nil, paramErr(k, "unknown parameter; it cannot be translated to OpenAI")
		}
	}
	if r.TopK != nil {
		return nil, paramErr("top_k", "OpenAI chat completions have no top_k")
	}
	if r.MaxTokens > 0 {
		n := r.MaxTokens
		if o.LegacyMaxTokens {
			out.MaxTokens = &n
		} else {
			out.MaxCompletionTokens = &n
		}
	}
	out.Temperature, out.TopP = r.Temperature, r.TopP
	if len(r.StopSequences) > 0 {
		out.Stop = openai.Stop{Values: slices.Clone(r.StopSequences)}
	}
	if r.Metadata != nil && r.Metadata.UserID != "" {
		out.User = r.Metadata.UserID
	}

	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "custom" {
			return nil, paramErr(fmt.Sprintf("tools[%d].type", i), fmt.Sprintf("server tool %q cannot be translated to OpenAI", t.Type))
		}
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{Name: t.Name, Description: t.Description, Parameters: schema}})
	}
	if tc := r.ToolChoice; tc != nil && len(out.Tools) > 0 {
		switch tc.Type {
		case anthropic.ToolChoiceAuto:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceAuto}
		case anthropic.ToolChoiceAny:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceRequired}
		case anthropic.ToolChoiceNone:
			out.ToolChoice = &openai.ToolChoice{Mode: openai.ToolChoiceNone}
		case anthropic.ToolChoiceTool:
			out.ToolChoice = &openai.ToolChoice{Type: "function", Function: &openai.ToolChoiceFun{Name: tc.Name}}
		default:
			return nil, paramErr("tool_choice.type", fmt.Sprintf("unknown type %q", tc.Type))
		}
		if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse && tc.Type != anthropic.ToolChoiceNone {
			f := false
			out.ParallelToolCalls = &f
		}
	}

	if sys, ok, err := systemToOpenAI(r.System); err != nil {
		return nil, err
	} else if ok {
		out.Messages = append(out.Messages, sys)
	}
	for i, m := range r.Messages {
		path := fmt.Sprintf("messages[%d]", i)
		var err error
		switch m.Role {
		case anthropic.RoleUser:
			out.Messages, err = userToOpenAI(out.Messages, m.Content, path)
		case anthropic.RoleAssistant:
			out.Messages, err = assistantToOpenAI(out.Messages, m.Content, path)
		default:
			err = paramErr(path+".role", fmt.Sprintf("unknown role %q", m.Role))
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func systemToOpenAI(c anthropic.Content) (openai.Message, bool, error) {
	switch {
	case c.Raw != nil:
		if string(bytes.TrimSpace(c.Raw)) == "null" {
			return openai.Message{}, false, nil
		}
		return openai.Message{}, false, paramErr("system", "must be a string or text blocks")
	case c.Blocks == nil:
		if c.Text == "" {
			return openai.Message{}, false, nil
		}
		return openai.Message{Role: openai.RoleSystem, Content: openai.TextContent(c.Text)}, true, nil
	}
	parts := make([]openai.ContentPart, 0, len(c.Blocks))
	for j, b := range c.Blocks {
		if b.Type != anthropic.BlockText {
			return openai.Message{}, false, paramErr(fmt.Sprintf("system[%d]", j), fmt.Sprintf("must be a text block, not %q", b.Type))
		}
		parts = append(parts, openai.TextPart(b.Text))
	}
	switch len(parts) {
	case 0:
		return openai.Message{}, false, nil
	case 1:
		return openai.Message{Role: openai.RoleSystem, Content: openai.TextContent(parts[0].Text)}, true, nil
	}
	return openai.Message{Role: openai.RoleSystem, Content: openai.PartsContent(parts...)}, true, nil
}

func userToOpenAI(msgs []openai.Message, c anthropic.Content, path string) ([]openai.Message, error) {
	if c.Raw != nil {
		return nil, paramErr(path+".content", "must be a string or blocks")
	}
	if c.Blocks == nil {
		return append(msgs, openai.Message{Role: openai.RoleUser, Content: openai.TextContent(c.Text)}), nil
	}
	var parts []openai.ContentPart
	for j, b := range c.Blocks {
		bpath := fmt.Sprintf("%s.content[%d]", path, j)
		switch b.Type {
		case anthropic.BlockToolResult:
			tm, images, err := toolResultToOpenAI(b, bpath)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, tm)
			parts = append(parts, images...)
		case anthropic.BlockText, anthropic.BlockImage:
			p, err := blockToPart(b, bpath)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		default:
			return nil, paramErr(bpath, fmt.Sprintf("%q blocks cannot be translated to OpenAI", b.Type))
		}
	}
	switch {
	case len(parts) == 0:
		return msgs, nil
	case len(parts) == 1 && parts[0].Type == openai.PartText:
		return append(msgs, openai.Message{Role: openai.RoleUser, Content: openai.TextContent(parts[0].Text)}), nil
	}
	return append(msgs, openai.Message{Role: openai.RoleUser, Content: openai.PartsContent(parts...)}), nil
}

func blockToPart(b anthropic.ContentBlock, path string) (openai.ContentPart, error) {
	if b.Type == anthropic.BlockText {
		return openai.TextPart(b.Text), nil
	}
	s := b.Source
	switch {
	case s == nil:
		return openai.ContentPart{}, paramErr(path+".source", "required")
	case s.Type == anthropic.SourceBase64:
		return openai.ContentPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: "data:" + s.MediaType + ";base64," + s.Data}}, nil
	case s.Type == anthropic.SourceURL:
		return openai.ContentPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: s.URL}}, nil
	}
	return openai.ContentPart{}, paramErr(path+".source.type", fmt.Sprintf("%q image sources cannot be translated to OpenAI", s.Type))
}

// toolResultToOpenAI returns the tool message for a tool_result block and
// the image parts it held, which go to a user message instead.
func toolResultToOpenAI(b anthropic.ContentBlock, path string) (openai.Message, []openai.ContentPart, error) {
	m := openai.Message{Role: openai.RoleTool, ToolCallID: b.ToolUseID}
	if b.Content == nil {
		return m, nil, nil
	}
	c := *b.Content
	switch {
	case c.Raw != nil:
		return m, nil, paramErr(path+".content", "must be a string or blocks")
	case c.Blocks == nil:
		m.Content = openai.TextContent(c.Text)
		return m, nil, nil
	}
	var texts, images []openai.ContentPart
	for j, cb := range c.Blocks {
		p, err := blockToPart(cb, fmt.Sprintf("%s.content[%d]", path, j))
		if err != nil {
			return m, nil, err
		}
		if p.Type == openai.PartText {
			texts = append(texts, p)
		} else {
			images = append(images, p)
		}
	}
	if len(texts) == 1 {
		m.Content = openai.TextContent(texts[0].Text)
	} else if len(texts) > 1 {
		m.Content = openai.PartsContent(texts...)
	}
	return m, images, nil
}

func assistantToOpenAI(msgs []openai.Message, c anthropic.Content, path string) ([]openai.Message, error) {
	if c.Raw != nil {
		return nil, paramErr(path+".content", "must be a string or blocks")
	}
	if c.Blocks == nil {
		return append(msgs, openai.Message{Role: openai.RoleAssistant, Content: openai.TextContent(c.Text)}), nil
	}
	m := openai.Message{Role: openai.RoleAssistant}
	var texts []openai.ContentPart
	for j, b := range c.Blocks {
		bpath := fmt.Sprintf("%s.content[%d]", path, j)
		switch b.Type {
		case anthropic.BlockText:
			texts = append(texts, openai.TextPart(b.Text))
		case anthropic.BlockToolUse:
			args, err := inputToArguments(b.Input)
			if err != nil {
				return nil, paramErr(bpath+".input", err.Error())
			}
			m.ToolCalls = append(m.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args}})
		case anthropic.BlockThinking, anthropic.BlockRedactedThinking:
			// Dropped: see ToOpenAIRequest.
		default:
			return nil, paramErr(bpath, fmt.Sprintf("%q blocks cannot be translated to OpenAI", b.Type))
		}
	}
	switch {
	case len(texts) == 1:
		m.Content = openai.TextContent(texts[0].Text)
	case len(texts) > 1:
		m.Content = openai.PartsContent(texts...)
	case len(m.ToolCalls) > 0:
		m.Content = openai.Content{Null: true}
	}
	return append(msgs, m), nil
}

// inputToArguments turns a tool input object into a compact arguments
// string.
func inputToArguments(in json.RawMessage) (string, error) {
	if len(bytes.TrimSpace(in)) == 0 {
		return "{}", nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, in); err != nil {
		return "", err
	}
	return b.String(), nil
}
