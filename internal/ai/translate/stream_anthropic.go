package translate

import (
	"cmp"
	"strconv"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// AnthropicStream translates an OpenAI chat completions stream into an
// Anthropic messages stream, one event at a time:
//
//	first chunk           → message_start (usage: StreamOptions.InputTokens, 0 output)
//	delta.reasoning_content → a thinking block: content_block_start, thinking_delta
//	delta.content, refusal  → a text block: content_block_start, text_delta
//	tool_calls, new index   → a tool_use block: content_block_start {id, name, input {}}
//	tool_calls arguments    → input_json_delta on that call's block
//	finish_reason         → content_block_stop for the open block
//	[DONE]                → message_delta {stop_reason, usage}, message_stop
//	{"error":...}         → an error event; the stream ends
//
// Switching from one kind of content to another closes the open block
// (content_block_stop) and opens the next, so blocks are sequential, as in
// Anthropic's own streams. A tool call fragment that arrives after its
// block was closed (parallel calls interleaved, which OpenAI does not do)
// is a *ProtocolError: Anthropic clients finalize a tool's input at its
// content_block_stop, so a late fragment would be lost or corrupt the call;
// the stream ends with an error event instead. message_delta waits for
// [DONE] because OpenAI sends the usage chunk after the finish_reason
// chunk; its usage has the real input, cache-read and output counts. Only
// choice 0 is translated. A thinking block gets no signature.
//
// An AnthropicStream is not safe for concurrent use. The events Feed and
// Finish return are valid until the next call.
type AnthropicStream struct {
	o        StreamOptions
	state    streamState
	open     bool
	openIdx  int64
	openKind blockKind
	next     int64 // index of the next block
	tools    []toolBlock
	finish   string
	refusal  bool
	usage    openai.StreamUsage
	err      error

	out    []anthropic.StreamEvent
	nd, nb int
	deltas [8]anthropic.Delta
	blocks [4]anthropic.ContentBlock
	msg    anthropic.Message
	du     anthropic.DeltaUsage
	counts [2]int64
}

type toolBlock struct {
	index int64  // OpenAI tool call index
	id    string // tool call id
	block int64  // Anthropic block index
}

// NewAnthropicStream returns a translator for one stream.
func NewAnthropicStream(o StreamOptions) *AnthropicStream {
	return &AnthropicStream{o: o}
}

// Usage returns the usage the upstream reported so far, and whether it
// reported any.
func (s *AnthropicStream) Usage() (ai.Usage, bool) { return s.usage.Usage() }

// Err returns why the stream failed: a *ProtocolError, an *UpstreamError,
// ErrTruncated, or nil while it has not failed.
func (s *AnthropicStream) Err() error { return s.err }

// Feed translates one upstream event.
func (s *AnthropicStream) Feed(ev openai.StreamEvent) ([]anthropic.StreamEvent, error) {
	s.out, s.nd, s.nb = s.out[:0], 0, 0
	if s.err != nil {
		return nil, s.err
	}
	if s.state == stateDone {
		return nil, ErrFinished
	}
	switch {
	case ev.Error != nil:
		e := ev.Error.Error
		s.err = &UpstreamError{Type: e.Type, Message: e.Message}
		s.closeBlock()
		s.out = append(s.out, anthropic.StreamEvent{Type: anthropic.EventError, Error: &anthropic.Error{Type: errorTypeToAnthropic(e.Type), Message: e.Message}})
		s.state = stateDone
	case ev.Done:
		s.end()
	case ev.Chunk != nil:
		if err := s.chunk(ev.Chunk); err != nil {
			s.err = err
			return s.out, err
		}
	}
	return s.out, nil
}

// Finish ends the translation when the upstream stream has ended. A stream
// that ended after its finish_reason but without [DONE] is finished
// normally; one cut earlier gets an error event (after closing the open
// block), and Finish returns ErrTruncated; write the events anyway.
func (s *AnthropicStream) Finish() ([]anthropic.StreamEvent, error) {
	s.out, s.nd, s.nb = s.out[:0], 0, 0
	switch {
	case s.state == stateDone:
		return nil, nil
	case s.err == nil && s.finish != "":
		s.end()
		return s.out, nil
	}
	if s.err == nil {
		s.err = ErrTruncated
	}
	if s.state == stateNew {
		s.start("", "")
	}
	s.closeBlock()
	s.out = append(s.out, anthropic.StreamEvent{Type: anthropic.EventError, Error: &anthropic.Error{Type: anthropic.ErrAPI, Message: s.err.Error()}})
	s.state = stateDone
	return s.out, s.err
}

func (s *AnthropicStream) chunk(c *openai.ChatChunk) error {
	if s.state == stateNew {
		if c.ID == "" && len(c.Choices) == 0 && c.Usage == nil {
			// Azure opens with a chunk that has only its prompt filter
			// results: no id, no model. message_start waits for a chunk
			// that names the message.
			return nil
		}
		s.start(c.ID, c.Model)
	}
	s.usage.Observe(openai.StreamEvent{Chunk: c})
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		d := &ch.Delta
		if d.ReasoningContent != "" {
			s.ensure(blockThinking)
			s.emitDelta(s.openIdx, anthropic.Delta{Type: anthropic.DeltaThinking, Thinking: d.ReasoningContent})
		}
		if d.Content != "" {
			s.ensure(blockText)
			s.emitDelta(s.openIdx, anthropic.Delta{Type: anthropic.DeltaText, Text: d.Content})
		}
		if d.Refusal != "" {
			s.refusal = true
			s.ensure(blockText)
			s.emitDelta(s.openIdx, anthropic.Delta{Type: anthropic.DeltaText, Text: d.Refusal})
		}
		for j := range d.ToolCalls {
			if err := s.toolCall(&d.ToolCalls[j]); err != nil {
				return err
			}
		}
		if ch.FinishReason != "" && s.finish == "" {
			s.finish = FinishReasonToAnthropic(ch.FinishReason)
			if s.refusal && ch.FinishReason == openai.FinishStop {
				s.finish = anthropic.StopRefusal
			}
			s.closeBlock()
		}
	}
	return nil
}

func (s *AnthropicStream) start(id, model string) {
	s.state = stateStarted
	if s.o.Model != "" {
		model = s.o.Model
	}
	if id == "" {
		// Anthropic clients key messages by id; a provider that sends none
		// still gets one.
		id = cmp.Or(s.o.MessageID, "msg_sluice")
	}
	s.msg = anthropic.Message{ID: id, Type: "message", Role: anthropic.RoleAssistant, Model: model,
		Usage: anthropic.Usage{InputTokens: s.o.InputTokens}}
	s.out = append(s.out, anthropic.StreamEvent{Type: anthropic.EventMessageStart, Message: &s.msg})
}

func (s *AnthropicStream) toolCall(tc *openai.ToolCallDelta) error {
	b := -1
	for i := range s.tools {
		if s.tools[i].index == tc.Index {
			b = i
		}
	}
	// A new index, or a new id on a known index (some providers number
	// every call 0), starts a new tool_use block.
	if b < 0 || (tc.ID != "" && tc.ID != s.tools[b].id) {
		id := tc.ID
		if id == "" {
			id = "toolu_sluice_" + strconv.Itoa(len(s.tools))
		}
		s.closeBlock()
		blk := s.block()
		*blk = anthropic.ContentBlock{Type: anthropic.BlockToolUse, ID: id, Name: tc.Function.Name}
		s.out = append(s.out, anthropic.StreamEvent{Type: anthropic.EventContentBlockStart, Index: s.next, ContentBlock: blk})
		s.open, s.openIdx, s.openKind = true, s.next, blockTool
		s.tools = append(s.tools, toolBlock{index: tc.Index, id: id, block: s.next})
		s.next++
		b = len(s.tools) - 1
	}
	if tc.Function.Arguments != "" {
		if blk := s.tools[b].block; !s.open || s.openIdx != blk {
			return &ProtocolError{Reason: "arguments for tool call " + strconv.FormatInt(tc.Index, 10) + " arrived after another block started; interleaved tool calls cannot be translated"}
		}
		s.emitDelta(s.tools[b].block, anthropic.Delta{Type: anthropic.DeltaInputJSON, PartialJSON: tc.Function.Arguments})
	}
	return nil
}

// ensure makes an open block of kind k the current one.
func (s *AnthropicStream) ensure(k blockKind) {
	if s.open && s.openKind == k {
		return
	}
	s.closeBlock()
	blk := s.block()
	switch k {
	case blockThinking:
		*blk = anthropic.ContentBlock{Type: anthropic.BlockThinking}
	default:
		*blk = anthropic.ContentBlock{Type: anthropic.BlockText}
	}
	s.out = append(s.out, anthropic.StreamEvent{Type: anthropic.EventContentBlockStart, Index: s.next, ContentBlock: blk})
	s.open, s.openIdx, s.openKind = true, s.next, k
	s.next++
}

func (s *AnthropicStream) closeBlock() {
	if s.open {
		s.out = append(s.out, anthropic.StreamEvent{Type: anthropic.EventContentBlockStop, Index: s.openIdx})
		s.open = false
	}
}

func (s *AnthropicStream) end() {
	if s.state == stateNew {
		s.start("", "")
	}
	s.closeBlock()
	if s.finish == "" {
		s.finish = anthropic.StopEndTurn
	}
	s.du = anthropic.DeltaUsage{}
	if u, ok := s.usage.Usage(); ok {
		w := anthropic.UsageFromAI(u)
		s.counts = [2]int64{w.InputTokens, w.CacheReadInputTokens}
		s.du = anthropic.DeltaUsage{InputTokens: &s.counts[0], CacheReadInputTokens: &s.counts[1], OutputTokens: w.OutputTokens}
	}
	d := s.delta()
	*d = anthropic.Delta{StopReason: s.finish}
	s.out = append(s.out,
		anthropic.StreamEvent{Type: anthropic.EventMessageDelta, Delta: d, Usage: &s.du},
		anthropic.StreamEvent{Type: anthropic.EventMessageStop})
	s.state = stateDone
}

func (s *AnthropicStream) emitDelta(index int64, d anthropic.Delta) {
	p := s.delta()
	*p = d
	s.out = append(s.out, anthropic.StreamEvent{Type: anthropic.EventContentBlockDelta, Index: index, Delta: p})
}

func (s *AnthropicStream) delta() *anthropic.Delta {
	if s.nd < len(s.deltas) {
		s.nd++
		return &s.deltas[s.nd-1]
	}
	return new(anthropic.Delta)
}

func (s *AnthropicStream) block() *anthropic.ContentBlock {
	if s.nb < len(s.blocks) {
		s.nb++
		return &s.blocks[s.nb-1]
	}
	return new(anthropic.ContentBlock)
}
