package aitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/sse"
)

// OpenAI is a fake OpenAI-compatible provider. NewOpenAI plays OpenAI
// itself: POST /v1/chat/completions (streaming or not), POST
// /v1/embeddings and GET /v1/models; point an SDK at URL()+"/v1".
// NewAzure, NewGemini, NewDeepSeek and NewCompatible play the other
// providers that speak OpenAI's API, each on its own paths, with its own
// authentication, error bodies and answer details (see Dialect).
type OpenAI struct {
	core
	// Models lists the ids GET .../models returns. Set it before use.
	Models []string

	dialect     Dialect
	apiVersion  string            // Azure: the api-version accepted
	deployments map[string]string // Azure: deployment name → model it runs
}

// NewOpenAI starts a fake OpenAI provider, closed at the end of the test.
func NewOpenAI(t testing.TB) *OpenAI { return newOpenAI(t, DialectOpenAI, "", nil) }

func newOpenAI(t testing.TB, d Dialect, apiVersion string, deployments map[string]string) *OpenAI {
	f := &OpenAI{Models: d.models(), dialect: d, apiVersion: apiVersion, deployments: deployments}
	mux := http.NewServeMux()
	if d == DialectAzure {
		mux.HandleFunc("POST /openai/deployments/{deployment}/chat/completions", f.deployment(f.chat))
		mux.HandleFunc("POST /openai/deployments/{deployment}/embeddings", f.deployment(f.embeddings))
	}
	for _, p := range d.prefixes() {
		mux.HandleFunc("POST "+p+"/chat/completions", f.chat)
		if d != DialectDeepSeek { // DeepSeek has no embeddings
			mux.HandleFunc("POST "+p+"/embeddings", f.embeddings)
		}
		mux.HandleFunc("GET "+p+"/models", f.models)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.writeError(w, Fault{Status: http.StatusNotFound, Message: "unknown path " + r.URL.Path})
	})
	f.auth = f.authorize
	f.start(t, mux)
	return f
}

// Dialect returns the provider the fake plays.
func (f *OpenAI) Dialect() Dialect { return f.dialect }

func openAIError(w http.ResponseWriter, f Fault) {
	typ, msg := f.Type, f.Message
	if typ == "" {
		typ = openai.ErrorTypeForStatus(f.Status)
	}
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	code := ""
	if f.Status == http.StatusTooManyRequests {
		code = "rate_limit_exceeded"
	}
	b, _ := json.Marshal(openai.ErrorBody{Error: openai.Error{Message: msg, Type: typ, Code: code}})
	writeJSON(w, f.Status, b)
}

// prologue applies the faults that act before an answer; it reports
// whether to answer.
func prologue(w http.ResponseWriter, r *http.Request, f Fault, errFn func(http.ResponseWriter, Fault)) bool {
	if f.Refuse {
		refuse(w)
		return false
	}
	if !wait(r, f.StallHeaders) {
		return false
	}
	if f.Status != 0 {
		errFn(w, f)
		return false
	}
	return true
}

func (f *OpenAI) chat(w http.ResponseWriter, r *http.Request) {
	fault, reply, gate, seq := f.next()
	if !prologue(w, r, fault, f.writeError) {
		return
	}
	body, _ := readBody(r)
	req, err := openai.DecodeChatRequest(body)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		f.writeError(w, Fault{Status: http.StatusBadRequest, Message: err.Error()})
		return
	}
	id := fmt.Sprintf("chatcmpl-fake-%d", seq)
	model := f.answerModel(r, req.Model)
	if !req.Stream {
		if !wait(r, fault.StallFirstToken) {
			return
		}
		writeJSON(w, http.StatusOK, f.completion(id, model, reply))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sw := sse.NewWriter(w)
	_ = sw.Flush()
	if f.dialect == DialectDeepSeek {
		// DeepSeek keeps a waiting stream open with comments.
		_ = sw.WriteComment(" keep-alive")
	}
	s := &stream{w: sw, r: r, f: fault, gate: gate, errEvent: func(f Fault) sse.Event {
		typ, msg := f.Type, f.Message
		if typ == "" {
			typ = openai.ErrServer
		}
		if msg == "" {
			msg = "The server had an error while processing your request."
		}
		b, _ := json.Marshal(openai.ErrorBody{Error: openai.Error{Message: msg, Type: typ}})
		return sse.Event{Data: b}
	}}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	for _, c := range f.chunks(id, model, reply, includeUsage) {
		if c.content && !s.content() {
			return
		}
		if !s.event(sse.Event{Data: c.data}) {
			return
		}
	}
	s.event(sse.Event{Data: openai.DoneData})
}

// openAICompletion is the non-streaming answer for reply.
func openAICompletion(id, model string, reply Reply) *openai.ChatCompletion {
	msg := openai.Message{Role: openai.RoleAssistant, Content: openai.TextContent(reply.Text), ReasoningContent: reply.Reasoning}
	for _, tc := range reply.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: tc.ID, Type: "function", Function: openai.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
	}
	if reply.Text == "" && len(reply.ToolCalls) > 0 {
		msg.Content = openai.Content{Null: true}
	}
	return &openai.ChatCompletion{
		ID: id, Object: openai.ObjectChatCompletion, Created: created, Model: model,
		Choices:           []openai.Choice{{Index: 0, Message: msg, FinishReason: openAIStop(reply)}},
		Usage:             openai.FromAI(reply.Usage),
		SystemFingerprint: "fp_fake",
	}
}

func openAIStop(reply Reply) string {
	switch {
	case reply.Stop != "":
		return reply.Stop
	case len(reply.ToolCalls) > 0:
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// OpenAIChunks returns the chunks OpenAI streams for reply: the role chunk
// (delta {"role":"assistant","content":""}), reasoning and content pieces,
// each tool call's first piece (index, id, type, name, arguments "") and
// its argument pieces, the finish chunk, and, with includeUsage, the
// usage-only chunk with empty choices. [DONE] follows them on the wire.
func OpenAIChunks(id, model string, reply Reply, includeUsage bool) []openai.ChatChunk {
	var out []openai.ChatChunk
	add := func(d openai.Delta, finish string) {
		out = append(out, openai.ChatChunk{ID: id, Object: openai.ObjectChunk, Created: created, Model: model,
			SystemFingerprint: "fp_fake", Choices: []openai.ChunkChoice{{Delta: d, FinishReason: finish}}})
	}
	add(openai.Delta{Role: openai.RoleAssistant}, "")
	for _, p := range pieces(reply.Reasoning, reply.ChunkSize) {
		add(openai.Delta{ReasoningContent: p}, "")
	}
	for _, p := range pieces(reply.Text, reply.ChunkSize) {
		add(openai.Delta{Content: p}, "")
	}
	for i, tc := range reply.ToolCalls {
		add(openai.Delta{ToolCalls: []openai.ToolCallDelta{{Index: int64(i), ID: tc.ID, Type: "function", Function: openai.FunctionDelta{Name: tc.Name}}}}, "")
		for _, p := range pieces(tc.Arguments, reply.ChunkSize) {
			add(openai.Delta{ToolCalls: []openai.ToolCallDelta{{Index: int64(i), Function: openai.FunctionDelta{Arguments: p}}}}, "")
		}
	}
	add(openai.Delta{}, openAIStop(reply))
	if includeUsage {
		out = append(out, openai.ChatChunk{ID: id, Object: openai.ObjectChunk, Created: created, Model: model,
			SystemFingerprint: "fp_fake", Choices: []openai.ChunkChoice{}, Usage: openai.FromAI(reply.Usage)})
	}
	return out
}

func (f *OpenAI) embeddings(w http.ResponseWriter, r *http.Request) {
	fault, reply, _, _ := f.next()
	if !prologue(w, r, fault, f.writeError) {
		return
	}
	body, _ := readBody(r)
	req, err := openai.DecodeEmbeddingRequest(body)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		f.writeError(w, Fault{Status: http.StatusBadRequest, Message: err.Error()})
		return
	}
	n := 1
	if strings.HasPrefix(strings.TrimSpace(string(req.Input)), "[") {
		var list []json.RawMessage
		if json.Unmarshal(req.Input, &list) == nil && len(list) > 0 {
			if s := strings.TrimSpace(string(list[0])); strings.HasPrefix(s, "[") || strings.HasPrefix(s, `"`) {
				n = len(list) // a list of inputs, not one list of token ids
			}
		}
	}
	resp := openai.EmbeddingResponse{Object: openai.ObjectList, Model: f.answerModel(r, req.Model),
		Usage: openai.EmbeddingUsage{PromptTokens: reply.Usage.Input, TotalTokens: reply.Usage.Input}}
	for i := range n {
		vec := json.RawMessage(fmt.Sprintf("[%d.5,-0.25,0.125]", i))
		if req.EncodingFormat == "base64" {
			vec = json.RawMessage(`"AAAAPwAAgL4AAAA+"`) // float32 little-endian 0.5, -0.25, 0.125
		}
		resp.Data = append(resp.Data, openai.Embedding{Object: openai.ObjectEmbedding, Index: int64(i), Embedding: vec})
	}
	b, _ := json.Marshal(resp)
	writeJSON(w, http.StatusOK, b)
}

func (f *OpenAI) models(w http.ResponseWriter, r *http.Request) {
	fault, _, _, _ := f.next()
	if !prologue(w, r, fault, f.writeError) {
		return
	}
	list := openai.ModelList{Object: openai.ObjectList, Data: []openai.Model{}}
	for _, id := range f.Models {
		list.Data = append(list.Data, openai.Model{ID: id, Object: openai.ObjectModel, Created: created, OwnedBy: f.dialect.owner()})
	}
	b, _ := json.Marshal(list)
	writeJSON(w, http.StatusOK, b)
}
