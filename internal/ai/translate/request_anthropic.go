package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// Thinking budgets for OpenAI's reasoning_effort. Anthropic's minimum
// budget is 1024 tokens.
var thinkingBudgets = map[string]int64{
	"minimal": 1024,
	"low":     2048,
	"medium":  8192,
	"high":    16384,
}

// harmlessOpenAI lists top-level OpenAI parameters (kept in Extra) that
// ToAnthropicRequest may drop, each with a check that its value cannot
// change the answer.
var harmlessOpenAI = map[string]func(json.RawMessage) bool{
	"store":             anyValue, // storing a completion on OpenAI's side
	"service_tier":      anyValue, // OpenAI's processing tier
	"prompt_cache_key":  anyValue, // OpenAI's cache routing hint
	"safety_identifier": anyValue, // OpenAI's abuse-monitoring id
	"logprobs":          isJSON("false", "null"),
	"top_logprobs":      isJSON("0", "null"),
	"frequency_penalty": isZeroNumber,
	"presence_penalty":  isZeroNumber,
	"logit_bias":        isJSON("{}", "null"),
	"modalities":        isJSON(`["text"]`, "null"),
}

func anyValue(json.RawMessage) bool { return true }

func isJSON(values ...string) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			return false
		}
		return slices.Contains(values, b.String())
	}
}

func isZeroNumber(raw json.RawMessage) bool {
	s := string(bytes.TrimSpace(raw))
	if s == "null" {
		return true
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f == 0
}

// ToAnthropicRequest translates an OpenAI chat request into an Anthropic
// messages request.
//
//   - system and developer messages, wherever they are, become the system
//     prompt, in order: one string message stays a string, otherwise each
//     message or text part becomes a text block.
//   - tool messages become tool_result blocks in a user turn; consecutive
//     ones share one turn, and a user message right after them joins it,
//     after the results, as Anthropic requires.
//   - assistant tool_calls become tool_use blocks; arguments must be a JSON
//     object (or empty).
//   - image_url parts become image blocks: a base64 data URL becomes a
//     base64 source, an http(s) URL a url source.
//   - max_completion_tokens, else max_tokens, else Options.DefaultMaxTokens
//     (DefaultMaxTokens) becomes max_tokens.
//   - reasoning_effort becomes thinking with a budget (minimal 1024, low
//     2048, medium 8192, high 16384); max_tokens grows by the budget when it
//     was defaulted, and must exceed it when set.
//   - user becomes metadata.user_id; stop becomes stop_sequences;
//     parallel_tool_calls=false becomes disable_parallel_tool_use; top_k and
//     thinking, which some clients send to OpenAI-compatible gateways, pass
//     through.
//
// Dropped because they cannot change the answer: seed, metadata, store,
// service_tier, prompt_cache_key, safety_identifier, stream_options (Anthropic
// always streams usage), a message's name, an image's detail, a function's
// strict flag, assistant reasoning_content (Anthropic needs signed thinking
// blocks, which OpenAI-side history does not have), empty assistant
// messages, tool_choice without tools, and logprobs, top_logprobs,
// frequency_penalty, presence_penalty, logit_bias and modalities when they
// hold their defaults.
//
// Errors (*ParamError): n other than 1, temperature above 1, response_format
// json_object or json_schema, input_audio and file parts, non-function
// tools, the deprecated function role and functions parameter, and any other
// unknown parameter unless Options.IgnoreUnknown.
func ToAnthropicRequest(r *openai.ChatRequest, o Options) (*anthropic.MessagesRequest, error) {
	out := &anthropic.MessagesRequest{Model: r.Model, Stream: r.Stream}
	if err := extrasToAnthropic(r, out, o); err != nil {
		return nil, err
	}
	if r.N != nil && *r.N != 1 {
		return nil, paramErr("n", "Anthropic returns one choice; only n=1 can be translated")
	}
	if r.Temperature != nil {
		if *r.Temperature > 1 {
			return nil, paramErr("temperature", fmt.Sprintf("Anthropic accepts 0 to 1, got %g", *r.Temperature))
		}
		out.Temperature = r.Temperature
	}
	out.TopP = r.TopP
	if r.Stop.Values != nil {
		out.StopSequences = slices.Clone(r.Stop.Values)
	}
	if r.User != "" {
		out.Metadata = &anthropic.Metadata{UserID: r.User}
	}
	if rf := r.ResponseFormat; rf != nil && rf.Type != "" && rf.Type != "text" {
		return nil, paramErr("response_format", fmt.Sprintf("type %q has no Anthropic equivalent; ask for JSON in the prompt or use a tool", rf.Type))
	}

	maxTokens, defaulted := int64(0), false
	switch {
	case r.MaxCompletionTokens != nil:
		maxTokens = *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		maxTokens = *r.MaxTokens
	default:
		maxTokens, defaulted = o.DefaultMaxTokens, true
		if maxTokens <= 0 {
			maxTokens = DefaultMaxTokens
		}
	}
	if r.ReasoningEffort != "" && r.ReasoningEffort != "none" {
		budget, ok := thinkingBudgets[r.ReasoningEffort]
		if !ok {
			return nil, paramErr("reasoning_effort", fmt.Sprintf("unknown value %q", r.ReasoningEffort))
		}
		if out.Thinking != nil {
			return nil, paramErr("reasoning_effort", "set either reasoning_effort or thinking, not both")
		}
		if defaulted {
			maxTokens += budget
		} else if maxTokens <= budget {
			return nil, paramErr("reasoning_effort", fmt.Sprintf("Anthropic needs max_completion_tokens above the thinking budget of %d for %q", budget, r.ReasoningEffort))
		}
		out.Thinking = &anthropic.ThinkingConfig{Type: "enabled", BudgetTokens: budget}
	}
	out.MaxTokens = maxTokens

	for i, t := range r.Tools {
		if t.Type != "function" || t.Function == nil {
			return nil, paramErr(fmt.Sprintf("tools[%d].type", i), fmt.Sprintf("only function tools translate to Anthropic, not %q", t.Type))
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, anthropic.Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if len(out.Tools) > 0 {
		tc, err := toolChoiceToAnthropic(r.ToolChoice)
		if err != nil {
			return nil, err
		}
		if r.ParallelToolCalls != nil && !*r.ParallelToolCalls {
			if tc == nil {
				tc = &anthropic.ToolChoice{Type: anthropic.ToolChoiceAuto}
			}
			if tc.Type != anthropic.ToolChoiceNone {
				t := true
				tc.DisableParallelToolUse = &t
			}
		}
		out.ToolChoice = tc
	}

	if err := messagesToAnthropic(r.Messages, out); err != nil {
		return nil, err
	}
	return out, nil
}

func extrasToAnthropic(r *openai.ChatRequest, out *anthropic.MessagesRequest, o Options) error {
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := r.Extra[k]
		switch k {
		case "top_k":
			var n int64
			if err := json.Unmarshal(v, &n); err != nil {
				return paramErr("top_k", "must be an integer")
			}
			out.TopK = &n
			continue
		case "thinking":
			var t anthropic.ThinkingConfig
			if err := json.Unmarshal(v, &t); err != nil {
				return paramErr("thinking", err.Error())
			}
			out.Thinking = &t
			continue
		case "functions", "function_call":
			return paramErr(k, "the deprecated functions API is not translated; use tools")
		}
		if ok, known := harmlessOpenAI[k]; known {
			if ok(v) {
				continue
			}
			return paramErr(k, "has no Anthropic equivalent")
		}
		if !o.IgnoreUnknown {
			return paramErr(k, "unknown parameter; it cannot be translated to Anthropic")
		}
	}
	return nil
}

func toolChoiceToAnthropic(tc *openai.ToolChoice) (*anthropic.ToolChoice, error) {
	if tc == nil {
		return nil, nil
	}
	switch tc.Mode {
	case openai.ToolChoiceNone:
		return &anthropic.ToolChoice{Type: anthropic.ToolChoiceNone}, nil
	case openai.ToolChoiceAuto:
		return &anthropic.ToolChoice{Type: anthropic.ToolChoiceAuto}, nil
	case openai.ToolChoiceRequired:
		return &anthropic.ToolChoice{Type: anthropic.ToolChoiceAny}, nil
	case "":
	default:
		return nil, paramErr("tool_choice", fmt.Sprintf("unknown mode %q", tc.Mode))
	}
	if tc.Type == "function" && tc.Function != nil && tc.Function.Name != "" {
		return &anthropic.ToolChoice{Type: anthropic.ToolChoiceTool, Name: tc.Function.Name}, nil
	}
	return nil, paramErr("tool_choice", fmt.Sprintf("type %q has no Anthropic equivalent", tc.Type))
}

func messagesToAnthropic(msgs []openai.Message, out *anthropic.MessagesRequest) error {
	var system []anthropic.ContentBlock
	systemString, systemCount := "", 0
	toolTurn := -1 // index in out.Messages of the user turn tool results go to
	for i, m := range msgs {
		path := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			if m.Content.Parts == nil {
				if m.Content.Text != "" { // Anthropic rejects empty text blocks
					systemCount++
					systemString = m.Content.Text
					system = append(system, anthropic.TextBlock(m.Content.Text))
				}
				continue
			}
			systemCount++
			systemCount++ // parts always make blocks
			for j, p := range m.Content.Parts {
				if p.Type != openai.PartText {
					return paramErr(fmt.Sprintf("%s.content[%d]", path, j), fmt.Sprintf("a system message can hold only text, not %q", p.Type))
				}
				if p.Text != "" {
					system = append(system, withCacheControl(anthropic.TextBlock(p.Text), p.Extra))
				}
			}

		case openai.RoleUser:
			c, err := userContentToAnthropic(m.Content, path)
			if err != nil {
				return err
			}
			if toolTurn >= 0 {
				turn := &out.Messages[toolTurn]
				if c.Blocks == nil {
					c.Blocks = []anthropic.ContentBlock{anthropic.TextBlock(c.Text)}
				}
				turn.Content.Blocks = append(turn.Content.Blocks, c.Blocks...)
				toolTurn = -1
				continue
			}
			out.Messages = append(out.Messages, anthropic.MessageParam{Role: anthropic.RoleUser, Content: c})

		case openai.RoleAssistant:
			toolTurn = -1
			c, err := assistantToAnthropic(m, path)
			if err != nil {
				return err
			}
			if c.Blocks == nil && c.Text == "" {
				continue // nothing said; Anthropic rejects empty turns
			}
			out.Messages = append(out.Messages, anthropic.MessageParam{Role: anthropic.RoleAssistant, Content: c})

		case openai.RoleTool:
			block, err := toolResultToAnthropic(m, path)
			if err != nil {
				return err
			}
			if toolTurn < 0 {
				out.Messages = append(out.Messages, anthropic.MessageParam{Role: anthropic.RoleUser, Content: anthropic.BlocksContent()})
				toolTurn = len(out.Messages) - 1
			}
			turn := &out.Messages[toolTurn]
			turn.Content.Blocks = append(turn.Content.Blocks, block)

		default:
			return paramErr(path+".role", fmt.Sprintf("role %q is not translated to Anthropic", m.Role))
		}
	}
	switch {
	case systemCount == 1:
		out.System = anthropic.TextContent(systemString)
	case systemCount > 1 && len(system) > 0:
		out.System = anthropic.BlocksContent(system...)
	}
	return nil
}

// withCacheControl carries an OpenAI-compatible cache_control extension
// (sent by clients of gateways that support Anthropic prompt caching) over
// to the block.
func withCacheControl(b anthropic.ContentBlock, extra map[string]json.RawMessage) anthropic.ContentBlock {
	if cc, ok := extra["cache_control"]; ok {
		b.Extra = map[string]json.RawMessage{"cache_control": cc}
	}
	return b
}

func userContentToAnthropic(c openai.Content, path string) (anthropic.Content, error) {
	if c.Parts == nil {
		return anthropic.TextContent(c.Text), nil
	}
	blocks := make([]anthropic.ContentBlock, 0, len(c.Parts))
	for j, p := range c.Parts {
		b, err := partToAnthropic(p, fmt.Sprintf("%s.content[%d]", path, j))
		if err != nil {
			return anthropic.Content{}, err
		}
		blocks = append(blocks, b)
	}
	return anthropic.BlocksContent(blocks...), nil
}

func partToAnthropic(p openai.ContentPart, path string) (anthropic.ContentBlock, error) {
	switch p.Type {
	case openai.PartText:
		return withCacheControl(anthropic.TextBlock(p.Text), p.Extra), nil
	case openai.PartImageURL:
		if p.ImageURL == nil {
			return anthropic.ContentBlock{}, paramErr(path+".image_url", "required")
		}
		src, err := imageSource(p.ImageURL.URL)
		if err != nil {
			return anthropic.ContentBlock{}, paramErr(path+".image_url.url", err.Error())
		}
		return withCacheControl(anthropic.ContentBlock{Type: anthropic.BlockImage, Source: src}, p.Extra), nil
	}
	return anthropic.ContentBlock{}, paramErr(path, fmt.Sprintf("%q content is not supported by Anthropic", p.Type))
}

// imageSource turns an image URL into an Anthropic image source.
func imageSource(u string) (*anthropic.Source, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		media, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 {
			return nil, fmt.Errorf("a data URL must be base64-encoded (data:<type>;base64,...)")
		}
		return &anthropic.Source{Type: anthropic.SourceBase64, MediaType: media, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &anthropic.Source{Type: anthropic.SourceURL, URL: u}, nil
	}
	return nil, fmt.Errorf("must be an http(s) URL or a base64 data URL")
}

func assistantToAnthropic(m openai.Message, path string) (anthropic.Content, error) {
	if len(m.ToolCalls) == 0 && m.Content.Parts == nil && m.Refusal == "" {
		return anthropic.TextContent(m.Content.Text), nil
	}
	var blocks []anthropic.ContentBlock
	if m.Content.Parts == nil {
		if m.Content.Text != "" {
			blocks = append(blocks, anthropic.TextBlock(m.Content.Text))
		}
	} else {
		for j, p := range m.Content.Parts {
			switch p.Type {
			case openai.PartText:
				blocks = append(blocks, withCacheControl(anthropic.TextBlock(p.Text), p.Extra))
			case openai.PartRefusal:
				blocks = append(blocks, anthropic.TextBlock(p.Refusal))
			default:
				return anthropic.Content{}, paramErr(fmt.Sprintf("%s.content[%d]", path, j), fmt.Sprintf("an assistant message can hold only text, not %q", p.Type))
			}
		}
	}
	if m.Refusal != "" {
		blocks = append(blocks, anthropic.TextBlock(m.Refusal))
	}
	for j, tc := range m.ToolCalls {
		tpath := fmt.Sprintf("%s.tool_calls[%d]", path, j)
		if tc.Type != "" && tc.Type != "function" {
			return anthropic.Content{}, paramErr(tpath+".type", fmt.Sprintf("only function calls translate to Anthropic, not %q", tc.Type))
		}
		input, err := argumentsToInput(tc.Function.Arguments)
		if err != nil {
			return anthropic.Content{}, paramErr(tpath+".function.arguments", err.Error())
		}
		blocks = append(blocks, anthropic.ContentBlock{Type: anthropic.BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	if blocks == nil {
		return anthropic.Content{}, nil
	}
	return anthropic.BlocksContent(blocks...), nil
}

// argumentsToInput turns a function call's arguments string into a tool
// input object.
func argumentsToInput(args string) (json.RawMessage, error) {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage(`{}`), nil
	}
	b := []byte(args)
	if !json.Valid(b) {
		return nil, fmt.Errorf("not valid JSON")
	}
	b = bytes.TrimSpace(b)
	if b[0] != '{' {
		return nil, fmt.Errorf("must be a JSON object")
	}
	return json.RawMessage(b), nil
}

func toolResultToAnthropic(m openai.Message, path string) (anthropic.ContentBlock, error) {
	if m.ToolCallID == "" {
		return anthropic.ContentBlock{}, paramErr(path+".tool_call_id", "required")
	}
	b := anthropic.ContentBlock{Type: anthropic.BlockToolResult, ToolUseID: m.ToolCallID}
	if m.Content.Parts == nil {
		c := anthropic.TextContent(m.Content.Text)
		b.Content = &c
		return b, nil
	}
	blocks := make([]anthropic.ContentBlock, 0, len(m.Content.Parts))
	for j, p := range m.Content.Parts {
		pb, err := partToAnthropic(p, fmt.Sprintf("%s.content[%d]", path, j))
		if err != nil {
			return anthropic.ContentBlock{}, err
		}
		blocks = append(blocks, pb)
	}
	c := anthropic.BlocksContent(blocks...)
	b.Content = &c
	return b, nil
}
