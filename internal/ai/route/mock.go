package route

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/sse"
)

// mockTransport is the built-in mock provider: an OpenAI-type API answered
// in process, with no network. Its answers are deterministic: the text
// quotes the last user message, and usage counts words (one token per
// word, plus one per message), so `make run` shows a working chat,
// streaming included, without keys. Anthropic clients reach it through
// the usual translation.
type mockTransport struct{}

// mockCreated is the fixed "created" time of mock answers.
const mockCreated = 1700000000

func (mockTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	switch {
	case strings.HasSuffix(req.URL.Path, "/chat/completions"):
		return mockChat(req, body), nil
	case strings.HasSuffix(req.URL.Path, "/embeddings"):
		return mockEmbeddings(req, body), nil
	case strings.HasSuffix(req.URL.Path, "/responses"):
		return mockResponses(req, body), nil
	}
	return mockError(req, http.StatusNotFound, "the mock provider does not serve "+req.URL.Path), nil
}

func mockResponse(req *http.Request, status int, ctype string, body []byte) *http.Response {
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {ctype}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

func mockError(req *http.Request, status int, msg string) *http.Response {
	b, _ := json.Marshal(openai.ErrorBody{Error: openai.Error{Message: msg, Type: openai.ErrorTypeForStatus(status)}})
	return mockResponse(req, status, "application/json", b)
}

// MockReply returns the mock provider's answer to a chat request and its
// usage, for tests and docs.
func MockReply(r *openai.ChatRequest) (string, ai.Usage) {
	var in int64
	last := ""
	for _, m := range r.Messages {
		in++
		text := contentText(m.Content)
		in += int64(len(strings.Fields(text)))
		if m.Role == openai.RoleUser {
			last = text
		}
	}
	if len(last) > 200 {
		last = last[:200] + "..."
	}
	text := "Hello from Sluice's mock provider. You said: " + strings.Join(strings.Fields(last), " ")
	return text, ai.Usage{Input: in, Output: int64(len(strings.Fields(text)))}
}

func contentText(c openai.Content) string {
	if s, ok := c.String(); ok {
		return s
	}
	var b strings.Builder
	for _, p := range c.Parts {
		if p.Type == openai.PartText {
			b.WriteString(p.Text)
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func mockChat(req *http.Request, body []byte) *http.Response {
	r, err := openai.DecodeChatRequest(body)
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		return mockError(req, http.StatusBadRequest, err.Error())
	}
	text, usage := MockReply(r)
	id := "chatcmpl-mock"
	if !r.Stream {
		b, _ := json.Marshal(openai.ChatCompletion{ID: id, Object: openai.ObjectChatCompletion, Created: mockCreated, Model: r.Model,
			Choices: []openai.Choice{{Message: openai.Message{Role: openai.RoleAssistant, Content: openai.TextContent(text)}, FinishReason: openai.FinishStop}},
			Usage:   openai.FromAI(usage)})
		return mockResponse(req, http.StatusOK, "application/json", b)
	}
	var out []byte
	chunk := func(d openai.Delta, finish string, u *openai.Usage) {
		c := openai.ChatChunk{ID: id, Object: openai.ObjectChunk, Created: mockCreated, Model: r.Model, Usage: u,
			Choices: []openai.ChunkChoice{{Delta: d, FinishReason: finish}}}
		if u != nil {
			c.Choices = []openai.ChunkChoice{}
		}
		data, _ := c.AppendJSON(nil)
		out, _ = sse.AppendEvent(out, sse.Event{Data: data})
	}
	chunk(openai.Delta{Role: openai.RoleAssistant}, "", nil)
	words := strings.Fields(text)
	for i, w := range words {
		if i < len(words)-1 {
			w += " "
		}
		chunk(openai.Delta{Content: w}, "", nil)
	}
	chunk(openai.Delta{}, openai.FinishStop, nil)
	if r.StreamOptions != nil && r.StreamOptions.IncludeUsage {
		chunk(openai.Delta{}, "", openai.FromAI(usage))
	}
	out, _ = sse.AppendEvent(out, sse.Event{Data: openai.DoneData})
	resp := mockResponse(req, http.StatusOK, "text/event-stream", out)
	resp.ContentLength = -1
	return resp
}

func mockEmbeddings(req *http.Request, body []byte) *http.Response {
	r, err := openai.DecodeEmbeddingRequest(body)
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		return mockError(req, http.StatusBadRequest, err.Error())
	}
	var inputs []json.RawMessage
	if json.Unmarshal(r.Input, &inputs) != nil || len(inputs) == 0 || bytes.HasPrefix(bytes.TrimSpace(inputs[0]), []byte("-")) ||
		(len(inputs[0]) > 0 && inputs[0][0] >= '0' && inputs[0][0] <= '9') {
		inputs = []json.RawMessage{r.Input} // one input (a string or one list of token ids)
	}
	resp := openai.EmbeddingResponse{Object: openai.ObjectList, Model: r.Model}
	var tokens int64
	for i, in := range inputs {
		var s string
		if json.Unmarshal(in, &s) == nil {
			tokens += int64(len(strings.Fields(s)))
		} else {
			tokens++
		}
		resp.Data = append(resp.Data, openai.Embedding{Object: openai.ObjectEmbedding, Index: int64(i),
			Embedding: json.RawMessage(fmt.Sprintf("[%d.5,-0.25,0.125]", i))})
	}
	resp.Usage = openai.EmbeddingUsage{PromptTokens: tokens, TotalTokens: tokens}
	b, _ := json.Marshal(resp)
	return mockResponse(req, http.StatusOK, "application/json", b)
}

// mockResponses answers the Responses API: the same text as a chat, as one
// output message, or as the Responses stream events.
func mockResponses(req *http.Request, body []byte) *http.Response {
	r, err := openai.DecodeResponsesRequest(body)
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		return mockError(req, http.StatusBadRequest, err.Error())
	}
	// The chat answer to the same text, so both APIs say the same thing.
	chat := &openai.ChatRequest{Model: r.Model}
	for _, m := range (&request{rsp: r}).Messages() {
		chat.Messages = append(chat.Messages, openai.Message{Role: m.Role, Content: openai.TextContent(m.Text)})
	}
	text, u := MockReply(chat)
	usage := map[string]any{"input_tokens": u.Input, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": u.Output, "output_tokens_details": map[string]any{"reasoning_tokens": 0}, "total_tokens": u.Total()}
	part := map[string]any{"type": "output_text", "text": text, "annotations": []any{}}
	item := map[string]any{"type": "message", "id": "msg_mock", "status": "completed", "role": "assistant", "content": []any{part}}
	response := func(status string, output []any, usage any) map[string]any {
		return map[string]any{"id": "resp_mock", "object": "response", "created_at": mockCreated, "status": status,
			"model": r.Model, "output": output, "usage": usage}
	}
	if !r.Stream {
		b, _ := json.Marshal(response("completed", []any{item}, usage))
		return mockResponse(req, http.StatusOK, "application/json", b)
	}
	var out []byte
	seq := 0
	emit := func(typ string, v map[string]any) {
		v["type"], v["sequence_number"] = typ, seq
		seq++
		data, _ := json.Marshal(v)
		out, _ = sse.AppendEvent(out, sse.Event{Type: typ, Data: data})
	}
	emit("response.created", map[string]any{"response": response("in_progress", []any{}, nil)})
	emit("response.in_progress", map[string]any{"response": response("in_progress", []any{}, nil)})
	emit("response.output_item.added", map[string]any{"output_index": 0,
		"item": map[string]any{"type": "message", "id": "msg_mock", "status": "in_progress", "role": "assistant", "content": []any{}}})
	emit("response.content_part.added", map[string]any{"item_id": "msg_mock", "output_index": 0, "content_index": 0,
		"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}})
	words := strings.Fields(text)
	for i, w := range words {
		if i < len(words)-1 {
			w += " "
		}
		emit("response.output_text.delta", map[string]any{"item_id": "msg_mock", "output_index": 0, "content_index": 0, "delta": w})
	}
	emit("response.output_text.done", map[string]any{"item_id": "msg_mock", "output_index": 0, "content_index": 0, "text": text})
	emit("response.content_part.done", map[string]any{"item_id": "msg_mock", "output_index": 0, "content_index": 0, "part": part})
	emit("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	emit("response.completed", map[string]any{"response": response("completed", []any{item}, usage)})
	resp := mockResponse(req, http.StatusOK, "text/event-stream", out)
	resp.ContentLength = -1
	return resp
}
