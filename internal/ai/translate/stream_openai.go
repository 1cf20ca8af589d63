package translate

import (
	"fmt"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// OpenAIStream translates an Anthropic messages stream into an OpenAI chat
// completions stream, one event at a time:
//
//	message_start          → a chunk with delta {"role":"assistant","content":""}
//	text_delta             → a chunk with delta.content
//	thinking_delta         → a chunk with delta.reasoning_content
//	tool_use block start   → a chunk with tool_calls[{index, id, type, function{name, arguments:""}}]
//	input_json_delta       → a chunk with tool_calls[{index, function{arguments}}]
//	message_delta          → a chunk with an empty delta and finish_reason
//	message_stop           → the usage chunk (if StreamOptions.IncludeUsage), then [DONE]
//	error                  → an error event; the stream ends
//	ping, content_block_stop, signature_delta, citations_delta, unknown events → nothing
//
// Tool call indexes count tool_use blocks from 0, whatever their block
// index. A stream that ends after message_delta but before message_stop is
// finished normally by Finish; one that ends earlier gets an error event.
//
// An OpenAIStream is not safe for concurrent use. The events Feed and
// Finish return are valid until the next call.
type OpenAIStream struct {
	o       StreamOptions
	state   streamState
	id      string
	model   string
	created int64
	finish  string
	usage   anthropic.StreamUsage
	blocks  []blockInfo // by Anthropic block index
	tools   int64       // tool calls so far
	err     error

	out     []openai.StreamEvent
	n       int
	chunks  [3]openai.ChatChunk
	choices [3][1]openai.ChunkChoice
	calls   [3][1]openai.ToolCallDelta
}

type blockKind int8

const (
	blockOther blockKind = iota
	blockText
	blockThinking
	blockTool
)

type blockInfo struct {
	kind blockKind
	tool int64 // OpenAI tool call index, for blockTool
}

// NewOpenAIStream returns a translator for one stream.
func NewOpenAIStream(o StreamOptions) *OpenAIStream {
	return &OpenAIStream{o: o}
}

// Usage returns the usage reported so far (message_start merged with
// message_delta), and whether any was.
func (s *OpenAIStream) Usage() (ai.Usage, bool) { return s.usage.Usage() }

// Err returns why the stream failed: a *ProtocolError, an *UpstreamError,
// ErrTruncated, or nil while it has not failed.
func (s *OpenAIStream) Err() error { return s.err }

// Feed translates one upstream event.
func (s *OpenAIStream) Feed(ev *anthropic.StreamEvent) ([]openai.StreamEvent, error) {
	s.out, s.n = s.out[:0], 0
	if s.err != nil {
		return nil, s.err
	}
	if s.state == stateDone {
		return nil, ErrFinished
	}
	s.usage.Observe(ev)
	switch ev.Type {
	case anthropic.EventPing:
		return nil, nil
	case anthropic.EventError:
		var e anthropic.Error
		if ev.Error != nil {
			e = *ev.Error
		}
		s.err = &UpstreamError{Type: e.Type, Message: e.Message}
		s.state = stateDone
		s.out = append(s.out, openai.StreamEvent{Error: &openai.ErrorBody{Error: openai.Error{
			Message: e.Message, Type: errorTypeToOpenAI(e.Type), Code: e.Type,
		}}})
		return s.out, nil
	case anthropic.EventMessageStart:
		if s.state != stateNew {
			return nil, s.fail("a second message_start")
		}
		s.state = stateStarted
		if m := ev.Message; m != nil {
			s.id, s.model = m.ID, m.Model
		}
		if s.o.Model != "" {
			s.model = s.o.Model
		}
		s.created = s.o.created()
		s.chunk().Choices[0].Delta.Role = openai.RoleAssistant
		return s.out, nil
	}
	if s.state == stateNew {
		if !isKnownEvent(ev.Type) {
			return nil, nil
		}
		return nil, s.fail(ev.Type + " before message_start")
	}
	switch ev.Type {
	case anthropic.EventContentBlockStart:
		if ev.Index != int64(len(s.blocks)) {
			return nil, s.fail(fmt.Sprintf("content_block_start for index %d; want %d", ev.Index, len(s.blocks)))
		}
		var info blockInfo
		cb := ev.ContentBlock
		if cb == nil {
			cb = &anthropic.ContentBlock{}
		}
		switch cb.Type {
		case anthropic.BlockText:
			info.kind = blockText
			if cb.Text != "" {
				s.chunk().Choices[0].Delta.Content = cb.Text
			}
		case anthropic.BlockThinking:
			info.kind = blockThinking
			if cb.Thinking != "" {
				s.chunk().Choices[0].Delta.ReasoningContent = cb.Thinking
			}
		case anthropic.BlockToolUse:
			info = blockInfo{kind: blockTool, tool: s.tools}
			s.tools++
			args := ""
			if in := string(cb.Input); in != "" && in != "{}" {
				args = in // some compatible providers send the whole input here
			}
			s.toolChunk(openai.ToolCallDelta{Index: info.tool, ID: cb.ID, Type: "function", Function: openai.FunctionDelta{Name: cb.Name, Arguments: args}})
		}
		s.blocks = append(s.blocks, info)
	case anthropic.EventContentBlockDelta:
		if ev.Index < 0 || ev.Index >= int64(len(s.blocks)) {
			return nil, s.fail(fmt.Sprintf("content_block_delta for unknown index %d", ev.Index))
		}
		info, d := s.blocks[ev.Index], ev.Delta
		if d == nil {
			return nil, nil
		}
		switch {
		case d.Type == anthropic.DeltaText && d.Text != "":
			s.chunk().Choices[0].Delta.Content = d.Text
		case d.Type == anthropic.DeltaThinking && d.Thinking != "":
			s.chunk().Choices[0].Delta.ReasoningContent = d.Thinking
		case d.Type == anthropic.DeltaInputJSON && d.PartialJSON != "" && info.kind == blockTool:
			s.toolChunk(openai.ToolCallDelta{Index: info.tool, Function: openai.FunctionDelta{Arguments: d.PartialJSON}})
		}
	case anthropic.EventMessageDelta:
		if ev.Delta != nil && ev.Delta.StopReason != "" && s.finish == "" {
			s.finish = StopReasonToOpenAI(ev.Delta.StopReason)
			s.chunk().Choices[0].FinishReason = s.finish
		}
	case anthropic.EventMessageStop:
		s.end()
	}
	return s.out, nil
}

// Finish ends the translation when the upstream stream has ended. If the
// stream was cut before it finished (or failed in Feed), the returned
// events close the client's stream with an error event, and the error says
// why; write the events anyway.
func (s *OpenAIStream) Finish() ([]openai.StreamEvent, error) {
	s.out, s.n = s.out[:0], 0
	switch {
	case s.state == stateDone:
		return nil, nil
	case s.err == nil && s.finish != "":
		s.end() // message_delta arrived; only message_stop is missing
		return s.out, nil
	}
	if s.err == nil {
		s.err = ErrTruncated
	}
	s.state = stateDone
	s.out = append(s.out, openai.StreamEvent{Error: &openai.ErrorBody{Error: openai.Error{
		Message: s.err.Error(), Type: openai.ErrServer, Code: "stream_truncated",
	}}})
	return s.out, s.err
}

func (s *OpenAIStream) end() {
	if s.finish == "" {
		s.finish = openai.FinishStop
		s.chunk().Choices[0].FinishReason = s.finish
	}
	if s.o.IncludeUsage {
		c := s.chunk()
		c.Choices = c.Choices[:0]
		u, _ := s.usage.Usage()
		c.Usage = openai.FromAI(u)
	}
	s.out = append(s.out, openai.StreamEvent{Done: true})
	s.state = stateDone
}

func (s *OpenAIStream) fail(reason string) error {
	s.err = &ProtocolError{Reason: reason}
	return s.err
}

// chunk appends a new chunk with one empty choice to s.out.
func (s *OpenAIStream) chunk() *openai.ChatChunk {
	var c *openai.ChatChunk
	var choices []openai.ChunkChoice
	if s.n < len(s.chunks) {
		c, choices = &s.chunks[s.n], s.choices[s.n][:]
		s.n++
	} else {
		c, choices = new(openai.ChatChunk), make([]openai.ChunkChoice, 1)
	}
	choices[0] = openai.ChunkChoice{}
	*c = openai.ChatChunk{ID: s.id, Object: openai.ObjectChunk, Created: s.created, Model: s.model, Choices: choices}
	s.out = append(s.out, openai.StreamEvent{Chunk: c})
	return c
}

func (s *OpenAIStream) toolChunk(tc openai.ToolCallDelta) {
	i := s.n
	c := s.chunk()
	calls := make([]openai.ToolCallDelta, 1)
	if i < len(s.calls) {
		calls = s.calls[i][:]
	}
	calls[0] = tc
	c.Choices[0].Delta.ToolCalls = calls
}

func isKnownEvent(t string) bool {
	switch t {
	case anthropic.EventContentBlockStart, anthropic.EventContentBlockDelta, anthropic.EventContentBlockStop,
		anthropic.EventMessageDelta, anthropic.EventMessageStop:
		return true
	}
	return false
}
