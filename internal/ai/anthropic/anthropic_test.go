package anthropic_test

import (
	"encoding/json"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/anthropic"
)

func jsonDiff(t *testing.T, want, got []byte) string {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	return cmp.Diff(w, g)
}

func sdkRequest() sdk.MessageNewParams {
	return sdk.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 2048,
		System: []sdk.TextBlockParam{
			{Text: "be brief", CacheControl: sdk.NewCacheControlEphemeralParam()},
			{Text: "and kind"},
		},
		Messages: []sdk.MessageParam{
			sdk.NewUserMessage(
				sdk.NewTextBlock("what is this?"),
				sdk.NewImageBlockBase64("image/png", "iVBORw0KGgo="),
				sdk.NewImageBlock(sdk.URLImageSourceParam{URL: "https://example.org/cat.png"}),
			),
			sdk.NewAssistantMessage(
				sdk.NewThinkingBlock("sig", "let me look"),
				sdk.NewTextBlock("looking"),
				sdk.NewToolUseBlock("toolu_1", map[string]any{"q": "cat"}, "look"),
			),
			sdk.NewUserMessage(sdk.NewToolResultBlock("toolu_1", "a cat", false)),
		},
		Tools: []sdk.ToolUnionParam{{OfTool: &sdk.ToolParam{
			Name: "look", Description: sdk.String("look it up"),
			InputSchema: sdk.ToolInputSchemaParam{Properties: map[string]any{"q": map[string]any{"type": "string"}}, Required: []string{"q"}},
		}}},
		ToolChoice:    sdk.ToolChoiceUnionParam{OfTool: &sdk.ToolChoiceToolParam{Name: "look", DisableParallelToolUse: sdk.Bool(true)}},
		Thinking:      sdk.ThinkingConfigParamOfEnabled(1024),
		Metadata:      sdk.MetadataParam{UserID: sdk.String("u-1")},
		StopSequences: []string{"END"},
		Temperature:   sdk.Float(1),
		TopK:          sdk.Int(40),
		ServiceTier:   sdk.MessageNewParamsServiceTierAuto,
	}
}

// TestDecodeSDKRequest decodes what the official SDK sends and checks that
// encoding it again gives the same JSON.
func TestDecodeSDKRequest(t *testing.T) {
	t.Parallel()
	body, err := json.Marshal(sdkRequest())
	if err != nil {
		t.Fatal(err)
	}
	r, err := anthropic.DecodeMessagesRequest(body)
	if err != nil {
		t.Fatalf("DecodeMessagesRequest(%s) error = %v", body, err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.Model != "claude-sonnet-4-5" || r.MaxTokens != 2048 || len(r.System.Blocks) != 2 || *r.TopK != 40 || r.Metadata.UserID != "u-1" ||
		r.Thinking.Type != "enabled" || r.Thinking.BudgetTokens != 1024 || r.ToolChoice.Type != "tool" || !*r.ToolChoice.DisableParallelToolUse {
		t.Errorf("scalars wrong: %+v", r)
	}
	if _, ok := r.System.Blocks[0].Extra["cache_control"]; !ok {
		t.Errorf("system[0] lost cache_control: %+v", r.System.Blocks[0])
	}
	if _, ok := r.Extra["service_tier"]; !ok {
		t.Errorf("Extra lacks service_tier: %v", r.Extra)
	}
	user := r.Messages[0].Content.Blocks
	if user[1].Source.Type != "base64" || user[1].Source.MediaType != "image/png" || user[2].Source.URL != "https://example.org/cat.png" {
		t.Errorf("images = %+v %+v", user[1].Source, user[2].Source)
	}
	asst := r.Messages[1].Content.Blocks
	if asst[0].Type != "thinking" || asst[0].Signature != "sig" || asst[2].Type != "tool_use" || string(asst[2].Input) != `{"q":"cat"}` {
		t.Errorf("assistant = %+v", asst)
	}
	tr := r.Messages[2].Content.Blocks[0]
	if tr.Type != "tool_result" || tr.ToolUseID != "toolu_1" || tr.Content.Blocks[0].Text != "a cat" {
		t.Errorf("tool result = %+v", tr)
	}
	again, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := jsonDiff(t, body, again); diff != "" {
		t.Errorf("re-encoded request differs (-sdk +ours):\n%s", diff)
	}
}

func TestDecodeKeepsUnknownAndForms(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","max_tokens":5,"system":"sys","messages":[{"role":"user","content":"plain"},{"role":"user","content":[],"x":1},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"s","is_error":true},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"d"},"title":"T"},` +
		`{"type":"text","text":"","citations":null}]}],"mcp_servers":[{"type":"url","url":"u","name":"n"}],"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}],"context_management":{}}`
	r, err := anthropic.DecodeMessagesRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.System.Text != "sys" || r.Messages[0].Content.Text != "plain" || r.Messages[1].Content.Blocks == nil || len(r.Messages[1].Content.Blocks) != 0 {
		t.Errorf("forms wrong: %+v", r)
	}
	again, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := jsonDiff(t, []byte(body), again); diff != "" {
		t.Errorf("re-encoded request differs (-in +out):\n%s", diff)
	}
}

func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, err string }{
		{"duplicate", `{"model":"a","model":"b"}`, `duplicate key "model"`},
		{"case variant", `{"model":"a","Max_Tokens":3}`, `key "Max_Tokens" must be spelled "max_tokens"`},
		{"nested block", `{"messages":[{"role":"user","content":[{"type":"text","Text":"x"}]}]}`, `key "Text" must be spelled "text"`},
		{"nested duplicate", `{"tools":[{"name":"a","name":"b"}]}`, `duplicate key "name"`},
		{"bad max_tokens", `{"max_tokens":"many"}`, "cannot unmarshal string"},
	}
	for _, tt := range tests {
		if _, err := anthropic.DecodeMessagesRequest([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error = %v; want %q", tt.name, err, tt.err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, err string }{
		{`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, ""},
		{`{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, "model: required"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens: required"},
		{`{"model":"m","max_tokens":1,"messages":[]}`, "messages: at least one"},
		{`{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, `not "system"`},
	}
	for _, tt := range tests {
		r, err := anthropic.DecodeMessagesRequest([]byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		err = r.Validate()
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("Validate(%s) = %v; want %q", tt.body, err, tt.err)
		}
	}
}

func int64p(n int64) *int64 { return &n }

// TestStreamEventEncoding pins the exact bytes of each event shape and
// checks that the SDK reads them.
func TestStreamEventEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ev    anthropic.StreamEvent
		want  string
		check func(t *testing.T, e sdk.MessageStreamEventUnion)
	}{
		{"message_start", anthropic.StreamEvent{Type: "message_start", Message: &anthropic.Message{ID: "msg_1", Type: "message", Role: "assistant", Model: "claude",
			Usage: anthropic.Usage{InputTokens: 10, CacheReadInputTokens: 5, OutputTokens: 1}}},
			`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":5,"output_tokens":1}}}`,
			func(t *testing.T, e sdk.MessageStreamEventUnion) {
				m := e.AsMessageStart().Message
				if m.ID != "msg_1" || m.Usage.CacheReadInputTokens != 5 || m.JSON.StopReason.Raw() != "null" || m.JSON.Content.Raw() != "[]" {
					t.Errorf("message = %s", m.RawJSON())
				}
			}},
		{"text start", anthropic.StreamEvent{Type: "content_block_start", Index: 0, ContentBlock: &anthropic.ContentBlock{Type: "text"}},
			`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			func(t *testing.T, e sdk.MessageStreamEventUnion) {
				if cb := e.AsContentBlockStart().ContentBlock; cb.Type != "text" || !cb.JSON.Text.Valid() {
					t.Errorf("block = %s", cb.RawJSON())
				}
			}},
		{"thinking start", anthropic.StreamEvent{Type: "content_block_start", Index: 0, ContentBlock: &anthropic.ContentBlock{Type: "thinking"}},
			`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`, nil},
		{"tool start", anthropic.StreamEvent{Type: "content_block_start", Index: 2, ContentBlock: &anthropic.ContentBlock{Type: "tool_use", ID: "toolu_1", Name: "f"}},
			`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`,
			func(t *testing.T, e sdk.MessageStreamEventUnion) {
				cb := e.AsContentBlockStart().ContentBlock
				if e.Index != 2 || cb.ID != "toolu_1" || cb.Name != "f" || cb.JSON.Input.Raw() != "{}" {
					t.Errorf("block = %s", cb.RawJSON())
				}
			}},
		{"text delta", anthropic.StreamEvent{Type: "content_block_delta", Index: 1, Delta: &anthropic.Delta{Type: "text_delta", Text: "héllo\n"}},
			`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"héllo\n"}}`,
			func(t *testing.T, e sdk.MessageStreamEventUnion) {
				if d := e.AsContentBlockDelta().Delta; d.Type != "text_delta" || d.Text != "héllo\n" {
					t.Errorf("delta = %s", d.RawJSON())
				}
			}},
		{"input json delta", anthropic.StreamEvent{Type: "content_block_delta", Index: 1, Delta: &anthropic.Delta{Type: "input_json_delta", PartialJSON: `{"a":`}},
			`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`, nil},
		{"empty input json delta", anthropic.StreamEvent{Type: "content_block_delta", Index: 1, Delta: &anthropic.Delta{Type: "input_json_delta"}},
			`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`, nil},
		{"thinking delta", anthropic.StreamEvent{Type: "content_block_delta", Delta: &anthropic.Delta{Type: "thinking_delta", Thinking: "hm"}},
			`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`, nil},
		{"signature delta", anthropic.StreamEvent{Type: "content_block_delta", Delta: &anthropic.Delta{Type: "signature_delta", Signature: "c2ln"}},
			`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}`, nil},
		{"block stop", anthropic.StreamEvent{Type: "content_block_stop", Index: 3}, `{"type":"content_block_stop","index":3}`, nil},
		{"message delta", anthropic.StreamEvent{Type: "message_delta", Delta: &anthropic.Delta{StopReason: "tool_use"}, Usage: &anthropic.DeltaUsage{InputTokens: int64p(10), OutputTokens: 42}},
			`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":10,"output_tokens":42}}`,
			func(t *testing.T, e sdk.MessageStreamEventUnion) {
				md := e.AsMessageDelta()
				if md.Delta.StopReason != "tool_use" || md.Usage.OutputTokens != 42 || md.Usage.InputTokens != 10 || md.Usage.JSON.CacheReadInputTokens.Valid() {
					t.Errorf("message_delta = %s", md.RawJSON())
				}
			}},
		{"message stop", anthropic.StreamEvent{Type: "message_stop"}, `{"type":"message_stop"}`, nil},
		{"ping", anthropic.StreamEvent{Type: "ping"}, `{"type":"ping"}`, nil},
		{"error", anthropic.StreamEvent{Type: "error", Error: &anthropic.Error{Type: "overloaded_error", Message: "Overloaded"}},
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("encoding =\n%s\nwant\n%s", got, tt.want)
			}
			var e sdk.MessageStreamEventUnion
			if err := json.Unmarshal(got, &e); err != nil {
				t.Fatal(err)
			}
			if e.Type != tt.ev.Type {
				t.Errorf("SDK type = %q", e.Type)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
			back, err := anthropic.ParseStreamEvent(got)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := back.AppendJSON(nil)
			if string(again) != tt.want {
				t.Errorf("parse then encode =\n%s\nwant\n%s", again, tt.want)
			}
		})
	}
}

func TestMessageEncoding(t *testing.T) {
	t.Parallel()
	m := anthropic.Message{ID: "msg_1", Type: "message", Role: "assistant", Model: "claude", StopReason: "end_turn",
		Content: []anthropic.ContentBlock{{Type: "thinking", Thinking: "t", Signature: "s"}, anthropic.TextBlock("hi"), {Type: "tool_use", ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":1}`)}},
		Usage:   anthropic.Usage{InputTokens: 3, CacheCreationInputTokens: 2, CacheReadInputTokens: 1, OutputTokens: 4}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"hi"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"cache_creation_input_tokens":2,"cache_read_input_tokens":1,"output_tokens":4}}`
	if string(b) != want {
		t.Errorf("encoding =\n%s\nwant\n%s", b, want)
	}
	var s sdk.Message
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.StopReason != sdk.StopReasonEndTurn || s.Content[2].AsToolUse().Name != "f" || s.Content[0].AsThinking().Signature != "s" || s.Usage.CacheCreationInputTokens != 2 {
		t.Errorf("SDK read %s", s.RawJSON())
	}
	if got, want := m.Usage.AI(), (ai.Usage{Input: 6, Output: 4, CachedInput: 1, CacheCreation: 2}); got != want {
		t.Errorf("AI() = %+v; want %+v", got, want)
	}
	if got := anthropic.UsageFromAI(m.Usage.AI()); !cmp.Equal(got, m.Usage) {
		t.Errorf("UsageFromAI(AI()) = %+v; want %+v", got, m.Usage)
	}
}

// TestStreamUsage checks the field-by-field merge of message_start and
// message_delta usage, the source of several gateways' accounting bugs.
func TestStreamUsage(t *testing.T) {
	t.Parallel()
	start := `{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2,"cache_creation_input_tokens":22,"cache_read_input_tokens":13993,"output_tokens":5}}}`
	tests := []struct {
		name   string
		events []string
		want   ai.Usage
	}{
		{"delta with output only", []string{start, `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":120}}`},
			ai.Usage{Input: 2 + 22 + 13993, Output: 120, CachedInput: 13993, CacheCreation: 22}},
		{"delta repeats every count", []string{start, `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":2,"cache_creation_input_tokens":22,"cache_read_input_tokens":13993,"output_tokens":120}}`},
			ai.Usage{Input: 2 + 22 + 13993, Output: 120, CachedInput: 13993, CacheCreation: 22}},
		{"start with zero input, delta has it", []string{
			`{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":0,"output_tokens":0}}}`,
			`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":849,"output_tokens":47}}`},
			ai.Usage{Input: 849, Output: 47}},
		{"two deltas are cumulative, not added", []string{start,
			`{"type":"message_delta","delta":{},"usage":{"output_tokens":60}}`,
			`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":120}}`},
			ai.Usage{Input: 2 + 22 + 13993, Output: 120, CachedInput: 13993, CacheCreation: 22}},
		{"other events carry none", []string{`{"type":"ping"}`, `{"type":"content_block_stop","index":0}`}, ai.Usage{}},
	}
	for _, tt := range tests {
		var su anthropic.StreamUsage
		for _, data := range tt.events {
			ev, err := anthropic.ParseStreamEvent([]byte(data))
			if err != nil {
				t.Fatal(err)
			}
			su.Observe(ev)
		}
		if got, _ := su.Usage(); got != tt.want {
			t.Errorf("%s: Usage() = %+v; want %+v", tt.name, got, tt.want)
		}
	}
}

func TestErrorBody(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(anthropic.NewErrorBody(anthropic.StatusOverloaded, "Overloaded"))
	if want := `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`; string(b) != want {
		t.Errorf("encoding = %s; want %s", b, want)
	}
	for status, typ := range map[int]string{400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
		404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"} {
		if got := anthropic.ErrorTypeForStatus(status); got != typ {
			t.Errorf("ErrorTypeForStatus(%d) = %q; want %q", status, got, typ)
		}
		if got := anthropic.StatusForErrorType(typ); got != status {
			t.Errorf("StatusForErrorType(%q) = %d; want %d", typ, got, status)
		}
	}
}
