package aitest

import (
	"context"
	"errors"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
)

func anthropicClient(url string) *sdk.Client {
	c := sdk.NewClient(option.WithBaseURL(url), option.WithAPIKey("sk-ant-test"), option.WithMaxRetries(0))
	return &c
}

var anthropicParams = sdk.MessageNewParams{
	Model:     "claude-haiku-4-5",
	MaxTokens: 100,
	Messages:  []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("weather?"))},
}

func TestAnthropicMessage(t *testing.T) {
	t.Parallel()
	f := NewAnthropic(t)
	f.SetReply(toolReply)
	res, err := anthropicClient(f.URL()).Messages.New(context.Background(), anthropicParams)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "msg_fake_1" || res.Model != "claude-haiku-4-5" || res.StopReason != sdk.StopReasonToolUse || res.Role != "assistant" || res.Type != "message" {
		t.Errorf("envelope = %+v", res)
	}
	if len(res.Content) != 4 {
		t.Fatalf("content = %d blocks; want thinking, text and two tool_use", len(res.Content))
	}
	if b := res.Content[0]; b.Type != "thinking" || b.Thinking != toolReply.Reasoning || b.Signature == "" {
		t.Errorf("block 0 = %s", b.RawJSON())
	}
	if b := res.Content[2]; b.Type != "tool_use" || b.ID != "call_1" || b.Name != "get_weather" || string(b.Input) != `{"city":"Paris"}` {
		t.Errorf("block 2 = %s", b.RawJSON())
	}
	// Anthropic's usage is additive: 50 input of which 32 cached → 18 + 32.
	u := res.Usage
	if u.InputTokens != 18 || u.CacheReadInputTokens != 32 || u.CacheCreationInputTokens != 0 || u.OutputTokens != 20 {
		t.Errorf("usage = %+v", u)
	}
	if !res.JSON.StopSequence.Valid() && res.JSON.StopSequence.Raw() != "null" {
		t.Errorf("stop_sequence = %q; want null", res.JSON.StopSequence.Raw())
	}
	h := f.Requests()[0].Header
	if h.Get("X-Api-Key") != "sk-ant-test" || h.Get("Anthropic-Version") == "" {
		t.Errorf("request headers = %v", h)
	}
}

func TestAnthropicStream(t *testing.T) {
	t.Parallel()
	f := NewAnthropic(t)
	f.SetReply(toolReply)
	stream := anthropicClient(f.URL()).Messages.NewStreaming(context.Background(), anthropicParams)
	var msg sdk.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	// The SDK swallows ping events.
	if got := strings.Join(types[:2], ","); got != "message_start,content_block_start" {
		t.Errorf("first events = %s", got)
	}
	if got := strings.Join(types[len(types)-2:], ","); got != "message_delta,message_stop" {
		t.Errorf("last events = %s", got)
	}
	if len(msg.Content) != 4 || msg.Content[0].Signature != fakeSignature || msg.Content[1].Text != "Let me check." ||
		string(msg.Content[3].Input) != `{"tz":"CET"}` || msg.StopReason != sdk.StopReasonToolUse {
		t.Errorf("accumulated = %s", msg.RawJSON())
	}
	if u := msg.Usage; u.InputTokens != 18 || u.CacheReadInputTokens != 32 || u.OutputTokens != 20 {
		t.Errorf("usage = %+v", u)
	}
}

func TestAnthropicErrors(t *testing.T) {
	t.Parallel()
	f := NewAnthropic(t)
	f.Enqueue(Fault{Status: 529}, Fault{Status: 429, RetryAfter: "3"}, Fault{ErrorAfter: 4})
	c := anthropicClient(f.URL())
	_, err := c.Messages.New(context.Background(), anthropicParams)
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || apiErr.Type() != "overloaded_error" || apiErr.RequestID != "req_fake" {
		t.Fatalf("first error = %v", err)
	}
	if !strings.Contains(apiErr.RawJSON(), `"type":"error"`) || !strings.Contains(apiErr.RawJSON(), `"message":"Overloaded"`) {
		t.Errorf("529 body = %s", apiErr.RawJSON())
	}
	_, err = c.Messages.New(context.Background(), anthropicParams)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type() != "rate_limit_error" || apiErr.Response.Header.Get("Retry-After") != "3" {
		t.Fatalf("second error = %v", err)
	}
	stream := c.Messages.NewStreaming(context.Background(), anthropicParams)
	n := 0
	for stream.Next() {
		n++
	}
	// Four events before the error, one of them the ping the SDK swallows.
	if n != 3 || stream.Err() == nil || !strings.Contains(stream.Err().Error(), "overloaded_error") {
		t.Errorf("mid-stream error: %d events, %v; want 3 and overloaded_error", n, stream.Err())
	}
	// Bad requests are refused in Anthropic's shape.
	_, err = c.Messages.New(context.Background(), sdk.MessageNewParams{Model: "m", Messages: anthropicParams.Messages})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" {
		t.Fatalf("bad request error = %v", err)
	}
}

func TestAnthropicCutAndStall(t *testing.T) {
	t.Parallel()
	f := NewAnthropic(t)
	release := make(chan struct{})
	f.Enqueue(Fault{StallFirstToken: release, CutAfter: 4})
	stream := anthropicClient(f.URL()).Messages.NewStreaming(context.Background(), anthropicParams)
	if !stream.Next() || stream.Current().Type != "message_start" {
		t.Fatalf("preamble = %v, %v; want message_start before the stall", stream.Current().Type, stream.Err())
	}
	close(release)
	types := []string{"message_start"}
	for stream.Next() {
		types = append(types, stream.Current().Type)
	}
	// Four events were sent: message_start, ping (which the SDK swallows),
	// content_block_start and one delta.
	if strings.Join(types, ",") != "message_start,content_block_start,content_block_delta" || stream.Err() == nil {
		t.Errorf("events %v, error %v; want 3 events then an error", types, stream.Err())
	}
}

func TestAnthropicStepMode(t *testing.T) {
	t.Parallel()
	f := NewAnthropic(t)
	gate := f.Step()
	stream := anthropicClient(f.URL()).Messages.NewStreaming(context.Background(), anthropicParams)
	// message_start and the ping the SDK swallows.
	gate.Release(2)
	if !stream.Next() {
		t.Fatal(stream.Err())
	}
	<-gate.Sent()
	<-gate.Sent()
	for i := 3; ; i++ {
		gate.Release(1)
		if !stream.Next() {
			break
		}
		if n := <-gate.Sent(); n != i {
			t.Fatalf("server sent %d events; want %d", n, i)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
}
