package translate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// ToOpenAIResponse translates an Anthropic message into an OpenAI chat
// completion with one choice. Text blocks are joined into content (null
// when there is none and the model called tools); thinking blocks are
// joined into reasoning_content, as DeepSeek reports reasoning; tool_use
// blocks become tool_calls. Usage follows OpenAI's containment rules:
// prompt_tokens = input + cache reads + cache writes, cached_tokens = cache
// reads.
//
// Dropped: signatures and redacted_thinking (OpenAI has no place for them),
// citations, and server tool blocks (server_tool_use and their results),
// whose outcome the text already carries.
func ToOpenAIResponse(m *anthropic.Message, o Options) (*openai.ChatCompletion, error) {
	var text, reasoning strings.Builder
	msg := openai.Message{Role: openai.RoleAssistant}
	for _, b := range m.Content {
		switch b.Type {
		case anthropic.BlockText:
			text.WriteString(b.Text)
		case anthropic.BlockThinking:
			reasoning.WriteString(b.Thinking)
		case anthropic.BlockToolUse:
			args, err := inputToArguments(b.Input)
			if err != nil {
				return nil, fmt.Errorf("content: tool_use %q input: %w", b.ID, err)
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: args}})
		}
	}
	msg.Content = openai.TextContent(text.String())
	if text.Len() == 0 && len(msg.ToolCalls) > 0 {
		msg.Content = openai.Content{Null: true}
	}
	msg.ReasoningContent = reasoning.String()
	return &openai.ChatCompletion{
		ID:      m.ID,
		Object:  openai.ObjectChatCompletion,
		Created: o.created(),
		Model:   m.Model,
		Choices: []openai.Choice{{Index: 0, Message: msg, FinishReason: StopReasonToOpenAI(m.StopReason)}},
		Usage:   openai.FromAI(m.Usage.AI()),
	}, nil
}

// ToAnthropicResponse translates the first choice of an OpenAI chat
// completion into an Anthropic message: reasoning_content becomes a
// thinking block (unsigned), content and refusal become text blocks, and
// tool_calls become tool_use blocks, whose arguments must be a JSON object.
// A refusal makes the stop reason "refusal". Usage is split back into
// Anthropic's additive fields: input_tokens = prompt_tokens − cached_tokens,
// cache_read_input_tokens = cached_tokens. OpenAI does not report cache
// writes, so cache_creation_input_tokens is 0.
func ToAnthropicResponse(c *openai.ChatCompletion) (*anthropic.Message, error) {
	if len(c.Choices) == 0 {
		return nil, errors.New("choices: the response has none")
	}
	ch := c.Choices[0]
	out := &anthropic.Message{ID: c.ID, Type: "message", Role: anthropic.RoleAssistant, Model: c.Model, Content: []anthropic.ContentBlock{}}
	if ch.Message.ReasoningContent != "" {
		out.Content = append(out.Content, anthropic.ContentBlock{Type: anthropic.BlockThinking, Thinking: ch.Message.ReasoningContent})
	}
	text, ok := ch.Message.Content.String()
	if !ok {
		return nil, errors.New("choices[0].message.content: holds parts other than text")
	}
	if text != "" {
		out.Content = append(out.Content, anthropic.TextBlock(text))
	}
	if ch.Message.Refusal != "" {
		out.Content = append(out.Content, anthropic.TextBlock(ch.Message.Refusal))
	}
	for j, tc := range ch.Message.ToolCalls {
		input, err := argumentsToInput(tc.Function.Arguments)
		if err != nil {
			return nil, fmt.Errorf("choices[0].message.tool_calls[%d].function.arguments: %w", j, err)
		}
		out.Content = append(out.Content, anthropic.ContentBlock{Type: anthropic.BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	out.StopReason = FinishReasonToAnthropic(ch.FinishReason)
	if ch.Message.Refusal != "" && ch.FinishReason == openai.FinishStop {
		out.StopReason = anthropic.StopRefusal
	}
	out.Usage = anthropic.UsageFromAI(c.Usage.AI())
	return out, nil
}
