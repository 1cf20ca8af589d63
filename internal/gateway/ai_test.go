package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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

// TestAIRouteObserved: an ai route's usage reaches the access log, the
// GenAI metrics and the plugin-visible Exchange exactly as the provider
// reported it, and a plugin's refusal reaches each SDK in its own API's
// error shape.
func TestAIRouteObserved(t *testing.T) {
	t.Parallel()
	h := start(t, `
listeners: [{addr: 127.0.0.1:0}]
providers:
  - {name: local, type: mock}
routes:
  - name: denied
    match: {paths: ["/denied/*"]}
    plugins: [{name: test-deny}]
    ai:
      models: [{name: demo, targets: [{provider: local, model: mock-1}]}]
  - name: llm
    match: {paths: ["/v1/*"]}
    ai:
      models: [{name: demo, targets: [{provider: local, model: mock-1}]}]
`)
	ctx := context.Background()
	oc := oaisdk.NewClient(oaiopt.WithBaseURL(h.url+"/v1"), oaiopt.WithAPIKey("k"), oaiopt.WithMaxRetries(0))
	res, err := oc.Chat.Completions.New(ctx, oaisdk.ChatCompletionNewParams{
		Model:    "demo",
		Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("count my tokens")},
	})
	if err != nil {
		t.Fatal(err)
	}
	in, out := res.Usage.PromptTokens, res.Usage.CompletionTokens
	if in == 0 || out == 0 {
		t.Fatalf("mock reported no usage: %+v", res.Usage)
	}
	labels := `{consumer="",model="mock-1",provider="local",route="llm",type=`
	for typ, want := range map[string]int64{"input": in, "output": out} {
		got := h.metric(`sluice_ai_tokens_total` + labels + `"` + typ + `"}`)
		if !strings.HasSuffix(got, " "+strconv.FormatInt(want, 10)) {
			t.Errorf("%s tokens metric = %q; want %d", typ, got, want)
		}
	}
	if got := h.metric(`gen_ai_server_request_duration_seconds_count{error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="local",gen_ai_request_model="demo",gen_ai_response_model="mock-1",route="llm"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("duration metric = %q; want count 1", got)
	}
	want := fmt.Sprintf(`"ai_model":"demo","ai_provider":"local","ai_provider_model":"mock-1","ai_stream":false,"tokens_in":%d,"tokens_out":%d`, in, out)
	if !strings.Contains(h.logs.String(), want) {
		t.Errorf("access log lacks %s:\n%s", want, h.logs.String())
	}

	// A plugin's 403 in each SDK's own error type.
	dc := oaisdk.NewClient(oaiopt.WithBaseURL(h.url+"/denied"), oaiopt.WithAPIKey("k"), oaiopt.WithMaxRetries(0))
	_, err = dc.Chat.Completions.New(ctx, oaisdk.ChatCompletionNewParams{
		Model: "demo", Messages: []oaisdk.ChatCompletionMessageParamUnion{oaisdk.UserMessage("x")},
	})
	var oerr *oaisdk.Error
	if !errors.As(err, &oerr) || oerr.StatusCode != 403 || oerr.Type != "permission_error" || oerr.Code != "forbidden" || oerr.Message != "denied by test" {
		t.Errorf("openai client: err = %#v; want a 403 permission_error OpenAI error; raw %s", err, oerr.RawJSON())
	}
	ac := antsdk.NewClient(antopt.WithBaseURL(h.url+"/denied"), antopt.WithAPIKey("k"), antopt.WithMaxRetries(0))
	_, err = ac.Messages.New(ctx, antsdk.MessageNewParams{
		Model: "demo", MaxTokens: 10,
		Messages: []antsdk.MessageParam{antsdk.NewUserMessage(antsdk.NewTextBlock("x"))},
	})
	var aerr *antsdk.Error
	if !errors.As(err, &aerr) || aerr.StatusCode != 403 || !strings.Contains(aerr.RawJSON(), `"type":"permission_error"`) {
		t.Errorf("anthropic client: err = %v; want a 403 permission_error", err)
	}
}
