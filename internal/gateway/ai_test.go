package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	antsdk "github.com/anthropics/anthropic-sdk-go"
	antopt "github.com/anthropics/anthropic-sdk-go/option"
	oaisdk "github.com/openai/openai-go/v3"
	oaiopt "github.com/openai/openai-go/v3/option"
)

// TestAIRoute: an ai route from YAML, through the whole gateway, on the
// built-in mock provider, with both official SDKs as clients, streaming
// and not, behind key-auth like any other route.
func TestAIRoute(t *testing.T) {
	t.Parallel()
	h := start(t, `
listeners: [{addr: 127.0.0.1:0}]
providers:
  - {name: local, type: mock}
routes:
  - name: llm
    match: {paths: ["/v1/*"]}
    ai:
      models:
        - name: demo
          targets: [{provider: local, model: mock-1}]
`)
	ctx := context.Background()
	oc := oaisdk.NewClient(oaiopt.WithBaseURL(h.url+"/v1"), oaiopt.WithAPIKey("client-key"), oaiopt.WithMaxRetries(0))
	var raw *http.Response
	res, err := oc.Chat.Completions.New(ctx, oaisdk.ChatCompletionNewParams{
		Model:    "demo",
		Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("hello gateway")},
	}, oaiopt.WithResponseInto(&raw))
	if err != nil {
		t.Fatalf("chat completion: %v", err)
	}
	if len(res.Choices) != 1 || res.Choices[0].Message.Content == "" || res.Usage.TotalTokens == 0 {
		t.Errorf("completion = %+v", res)
	}
	if got := raw.Header.Get("X-Sluice-Provider"); got != "local" {
		t.Errorf("x-sluice-provider = %q; want local", got)
	}

	stream := oc.Chat.Completions.NewStreaming(ctx, oaisdk.ChatCompletionNewParams{
		Model:    "demo",
		Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("stream please")},
	})
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		chunks++
		if c := stream.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil || chunks < 2 || text.Len() == 0 {
		t.Errorf("stream: %d chunks, text %q, err %v", chunks, text.String(), err)
	}

	ac := antsdk.NewClient(antopt.WithBaseURL(h.url), antopt.WithAPIKey("client-key"), antopt.WithMaxRetries(0))
	msg, err := ac.Messages.New(ctx, antsdk.MessageNewParams{
		Model:     "demo",
		MaxTokens: 100,
		Messages:  []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("hello from anthropic"))},
	})
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	if len(msg.Content) == 0 || msg.Usage.OutputTokens == 0 {
		t.Errorf("message = %+v", msg)
	}

	// An unknown model is the ingress API's own error, from the route.
	_, err = oc.Chat.Completions.New(ctx, oaisdk.ChatCompletionNewParams{
		Model: "nope", Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("x")},
	})
	var apiErr *oaisdk.Error
	if err == nil || !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("unknown model: err = %v; want a 404 OpenAI error", err)
	}
	if !strings.Contains(h.logs.String(), `"route":"llm"`) {
		t.Error("access log has no line for the ai route")
	}
}
