package aitest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/ai"
	"github.com/sluicegw/sluice/internal/ai/openai"
)

// Dialect is the provider a fake OpenAI plays. All of them speak OpenAI's
// chat completions API; they differ in paths, authentication, error bodies
// and the details of their answers, as listed with each constant. The
// wire details follow the providers' documentation and answers captured
// from them; where a provider's behaviour is not documented the fake
// answers as OpenAI does, and says so below.
type Dialect int8

const (
	// DialectOpenAI is api.openai.com: paths under /v1, "Authorization:
	// Bearer <key>". A wrong key gets 401 {"error":{"message":"Incorrect
	// API key provided: ...","type":"invalid_request_error","param":null,
	// "code":"invalid_api_key"}}. Streams start with the role chunk
	// (delta {"role":"assistant","content":""}); usage carries
	// prompt_tokens_details.cached_tokens and
	// completion_tokens_details.reasoning_tokens. Reply.Reasoning is sent
	// as reasoning_content, as OpenAI-compatible reasoning servers do.
	DialectOpenAI Dialect = iota

	// DialectAzure is an Azure OpenAI resource:
	// /openai/deployments/{deployment}/chat/completions (and /embeddings)
	// with the query api-version, and the header "api-key: <key>". A wrong
	// or missing key gets 401 {"error":{"code":"401","message":"Access
	// denied due to invalid subscription key or wrong API endpoint. ..."}};
	// a Bearer token instead of api-key gets Azure's 401 about an invalid
	// access token. A missing or other api-version gets 404 {"error":
	// {"code":"404","message":"Resource not found"}}, an unknown deployment
	// 404 {"error":{"code":"DeploymentNotFound",...}}. Other errors are
	// {"error":{"code":"<status>","message":...}}, except 400, which is
	// OpenAI's shape. Answers name the deployment's model, not the model
	// in the request, and carry content filter results: a stream starts
	// with a chunk whose choices are empty and whose id, model and object
	// are "" (prompt_filter_results only), and each choice has
	// content_filter_results. Reply.Reasoning is not sent.
	DialectAzure

	// DialectGemini is Gemini's OpenAI-compatible endpoint: paths under
	// /v1beta/openai, "Authorization: Bearer <key>". Google errors are a
	// JSON array: a wrong key gets 400 [{"error":{"code":400,"message":
	// "API key not valid. Please pass a valid API key.","status":
	// "INVALID_ARGUMENT","details":[{... "reason":"API_KEY_INVALID" ...}]}}],
	// a missing one 401 with status UNAUTHENTICATED (not verified against
	// the live API). Keys are sorted, there is no system_fingerprint and no
	// role-only chunk: every delta has role and content, the last chunk
	// has the finish_reason and, with include_usage, the usage. Usage is
	// prompt_tokens, completion_tokens and total_tokens only, so
	// Reply.Usage.CachedInput and Reasoning are not sent; neither is
	// Reply.Reasoning. Tool calls stream whole, in one chunk.
	DialectGemini

	// DialectDeepSeek is api.deepseek.com: /chat/completions and
	// /v1/chat/completions (and /models), no embeddings, "Authorization:
	// Bearer <key>". A wrong key gets 401 {"error":{"message":
	// "Authentication Fails, Your api key: ****abcd is invalid","type":
	// "authentication_error","param":null,"code":"invalid_request_error"}}.
	// A stream starts with the comment ": keep-alive"; when Reply.Reasoning
	// is set (deepseek-reasoner) the role chunk is {"role":"assistant",
	// "content":null,"reasoning_content":""}, reasoning pieces are
	// {"content":null,"reasoning_content":...} and content pieces
	// {"content":...,"reasoning_content":null}; every choice has
	// "logprobs":null. A non-streaming answer starts with blank lines, as
	// DeepSeek writes while it waits, and its message has
	// reasoning_content. Usage is DeepSeek's documented shape:
	// prompt_cache_hit_tokens and prompt_cache_miss_tokens (hit + miss =
	// prompt_tokens) instead of prompt_tokens_details, and
	// completion_tokens_details.reasoning_tokens when there was reasoning.
	DialectDeepSeek

	// DialectCompatible is a self-hosted OpenAI-compatible server: paths
	// under /v1; without RequireKey it ignores credentials, as Ollama does,
	// and with it it wants "Authorization: Bearer <key>" and answers a
	// wrong one with vLLM's 401 {"error":"Unauthorized"}. Streams have no
	// role-only chunk (every delta has role and content, as Ollama's), tool
	// calls stream whole, usage is prompt, completion and total tokens
	// only, system_fingerprint is "fp_ollama". Reply.Reasoning is not sent.
	DialectCompatible
)

var dialectNames = [...]string{"openai", "azure-openai", "gemini", "deepseek", "openai-compatible"}

// String returns the provider type of d as Sluice names it.
func (d Dialect) String() string { return dialectNames[d] }

// NewAzure starts a fake Azure OpenAI resource, closed at the end of the
// test. It accepts requests with api-version=apiVersion to the deployments
// given, each mapped to the model it runs. Point a provider at URL().
func NewAzure(t testing.TB, apiVersion string, deployments map[string]string) *OpenAI {
	return newOpenAI(t, DialectAzure, apiVersion, deployments)
}

// NewGemini starts a fake of Gemini's OpenAI-compatible endpoint, closed at
// the end of the test. Point a provider at URL()+"/v1beta/openai".
func NewGemini(t testing.TB) *OpenAI { return newOpenAI(t, DialectGemini, "", nil) }

// NewDeepSeek starts a fake DeepSeek API, closed at the end of the test.
// Point a provider at URL() or URL()+"/v1"; DeepSeek serves both.
func NewDeepSeek(t testing.TB) *OpenAI { return newOpenAI(t, DialectDeepSeek, "", nil) }

// NewCompatible starts a fake self-hosted OpenAI-compatible server (Ollama,
// or vLLM with RequireKey), closed at the end of the test. Point a
// provider at URL()+"/v1".
func NewCompatible(t testing.TB) *OpenAI { return newOpenAI(t, DialectCompatible, "", nil) }

// prefixes are the path prefixes the dialect serves chat, embeddings and
// models under (Azure's deployment paths are separate).
func (d Dialect) prefixes() []string {
	switch d {
	case DialectAzure:
		return nil
	case DialectGemini:
		return []string{"/v1beta/openai"}
	case DialectDeepSeek:
		return []string{"", "/v1"}
	}
	return []string{"/v1"}
}

func (d Dialect) models() []string {
	switch d {
	case DialectGemini:
		return []string{"models/gemini-2.5-flash", "models/text-embedding-004"}
	case DialectDeepSeek:
		return []string{"deepseek-chat", "deepseek-reasoner"}
	}
	return []string{"gpt-4o-mini", "text-embedding-3-small"}
}

func (d Dialect) owner() string {
	switch d {
	case DialectGemini:
		return "google"
	case DialectDeepSeek:
		return "deepseek"
	case DialectCompatible:
		return "library"
	}
	return "fake"
}

// authorize checks a request's key the way the dialect's provider does.
func (f *OpenAI) authorize(w http.ResponseWriter, r *http.Request, key string) bool {
	auth := r.Header.Get("Authorization")
	bearer, isBearer := strings.CutPrefix(auth, "Bearer ")
	switch {
	case f.dialect == DialectAzure:
		got := r.Header.Get("Api-Key")
		switch {
		case got == key:
			return true
		case got == "" && isBearer:
			writeJSON(w, http.StatusUnauthorized, []byte(`{"error":{"code":"PermissionDenied","message":"Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}}`))
		default:
			writeJSON(w, http.StatusUnauthorized, []byte(`{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`))
		}
		return false
	case isBearer && bearer == key:
		return true
	}
	switch f.dialect {
	case DialectGemini:
		if auth == "" {
			f.writeError(w, Fault{Status: http.StatusUnauthorized, Message: "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential."})
			return false
		}
		writeJSON(w, http.StatusBadRequest, []byte(`[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}]`))
	case DialectDeepSeek:
		b, _ := json.Marshal(openai.ErrorBody{Error: openai.Error{Type: openai.ErrAuthentication, Code: openai.ErrInvalidRequest,
			Message: "Authentication Fails, Your api key: ****" + last4(bearer) + " is invalid"}})
		writeJSON(w, http.StatusUnauthorized, b)
	case DialectCompatible:
		writeJSON(w, http.StatusUnauthorized, []byte(`{"error":"Unauthorized"}`))
	default:
		e := openai.Error{Type: openai.ErrInvalidRequest, Code: "invalid_api_key",
			Message: "Incorrect API key provided: " + redact(bearer) + ". You can find your API key at https://platform.openai.com/account/api-keys."}
		if auth == "" {
			e = openai.Error{Type: openai.ErrInvalidRequest,
				Message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."}
		}
		b, _ := json.Marshal(openai.ErrorBody{Error: e})
		writeJSON(w, http.StatusUnauthorized, b)
	}
	return false
}

func last4(s string) string { return s[max(len(s)-4, 0):] }

// redact shows a key as OpenAI's errors do: its ends only.
func redact(s string) string {
	if len(s) < 8 {
		return "****"
	}
	return s[:3] + "*****" + last4(s)
}

// writeError answers a Fault (or the fake's own refusal) in the dialect's
// error shape.
func (f *OpenAI) writeError(w http.ResponseWriter, fl Fault) {
	msg := fl.Message
	if msg == "" {
		msg = http.StatusText(fl.Status)
	}
	switch {
	case f.dialect == DialectAzure && fl.Status != http.StatusBadRequest:
		if fl.RetryAfter != "" {
			w.Header().Set("Retry-After", fl.RetryAfter)
		}
		code := fl.Type
		if code == "" {
			code = strconv.Itoa(fl.Status)
		}
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg}})
		writeJSON(w, fl.Status, b)
	case f.dialect == DialectGemini:
		if fl.RetryAfter != "" {
			w.Header().Set("Retry-After", fl.RetryAfter)
		}
		status := fl.Type
		if status == "" {
			status = googleStatus(fl.Status)
		}
		b, _ := json.Marshal([]any{map[string]any{"error": map[string]any{"code": fl.Status, "message": msg, "status": status}}})
		writeJSON(w, fl.Status, b)
	default:
		openAIError(w, fl)
	}
}

// googleStatus is the google.rpc status Google APIs send with an HTTP
// status.
func googleStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// deployment checks Azure's api-version and deployment before next.
func (f *OpenAI) deployment(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("api-version"); v == "" || v != f.apiVersion {
			writeJSON(w, http.StatusNotFound, []byte(`{"error":{"code":"404","message":"Resource not found"}}`))
			return
		}
		if _, ok := f.deployments[r.PathValue("deployment")]; !ok {
			writeJSON(w, http.StatusNotFound, []byte(`{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}`))
			return
		}
		next(w, r)
	}
}

// answerModel is the model an answer names: Azure names the deployment's
// model, the others the model asked for.
func (f *OpenAI) answerModel(r *http.Request, asked string) string {
	if f.dialect == DialectAzure {
		return f.deployments[r.PathValue("deployment")]
	}
	return asked
}

// obj is a JSON object; encoding/json writes its keys sorted, as Azure and
// Gemini do.
type obj = map[string]any

// usage is the usage object of the dialect for u.
func (f *OpenAI) usage(u ai.Usage, reasoned bool) any {
	switch f.dialect {
	case DialectOpenAI, DialectAzure:
		return openai.FromAI(u)
	case DialectDeepSeek:
		o := obj{"prompt_tokens": u.Input, "completion_tokens": u.Output, "total_tokens": u.Input + u.Output,
			"prompt_cache_hit_tokens": u.CachedInput, "prompt_cache_miss_tokens": u.Input - u.CachedInput}
		if reasoned || u.Reasoning > 0 {
			o["completion_tokens_details"] = obj{"reasoning_tokens": u.Reasoning}
		}
		return o
	}
	return obj{"prompt_tokens": u.Input, "completion_tokens": u.Output, "total_tokens": u.Input + u.Output}
}

func toolCalls(tcs []ToolCall, indexed bool) []obj {
	out := make([]obj, 0, len(tcs))
	for i, tc := range tcs {
		c := obj{"id": tc.ID, "type": "function", "function": obj{"name": tc.Name, "arguments": tc.Arguments}}
		if indexed {
			c["index"] = i
		}
		out = append(out, c)
	}
	return out
}

// Azure's content filter verdicts for a harmless prompt and answer.
var (
	safe         = obj{"filtered": false, "severity": "safe"}
	azureFilters = obj{"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}
	azurePrompt  = []obj{{"prompt_index": 0, "content_filter_results": obj{"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe,
		"jailbreak": obj{"filtered": false, "detected": false}}}}
)

// completion is the non-streaming answer for reply in the dialect.
func (f *OpenAI) completion(id, model string, reply Reply) []byte {
	if f.dialect == DialectOpenAI {
		b, _ := json.Marshal(openAICompletion(id, model, reply))
		return b
	}
	msg := obj{"role": "assistant", "content": reply.Text}
	if len(reply.ToolCalls) > 0 {
		msg["tool_calls"] = toolCalls(reply.ToolCalls, false)
	}
	choice := obj{"index": 0, "message": msg, "finish_reason": openAIStop(reply)}
	out := obj{"id": id, "object": openai.ObjectChatCompletion, "created": created, "model": model,
		"choices": []obj{choice}, "usage": f.usage(reply.Usage, reply.Reasoning != "")}
	switch f.dialect {
	case DialectAzure:
		msg["refusal"] = nil
		if reply.Text == "" && len(reply.ToolCalls) > 0 {
			msg["content"] = nil
		}
		choice["content_filter_results"] = azureFilters
		choice["logprobs"] = nil
		out["prompt_filter_results"] = azurePrompt
		out["system_fingerprint"] = "fp_fake"
	case DialectDeepSeek:
		if reply.Reasoning != "" {
			msg["reasoning_content"] = reply.Reasoning
		}
		choice["logprobs"] = nil
		out["system_fingerprint"] = "fp_fake"
	case DialectCompatible:
		out["system_fingerprint"] = "fp_ollama"
	}
	b, _ := json.Marshal(out)
	if f.dialect == DialectDeepSeek {
		b = append([]byte("\n\n"), b...)
	}
	return b
}

// chunk is one stream event's data; content marks the end of the
// preamble (a StallFirstToken fault waits before the first such chunk).
type chunk struct {
	data    []byte
	content bool
}

// chunks returns the data of the events the dialect streams for reply,
// [DONE] excluded.
func (f *OpenAI) chunks(id, model string, reply Reply, includeUsage bool) []chunk {
	var out []chunk
	if f.dialect == DialectOpenAI {
		for _, c := range OpenAIChunks(id, model, reply, includeUsage) {
			b, _ := c.AppendJSON(nil)
			out = append(out, chunk{data: b, content: len(c.Choices) > 0 && c.Choices[0].Delta.Role == ""})
		}
		return out
	}
	add := func(content bool, choices []obj, extra obj) obj {
		c := obj{"id": id, "object": openai.ObjectChunk, "created": created, "model": model, "choices": choices}
		switch f.dialect {
		case DialectAzure, DialectDeepSeek:
			c["system_fingerprint"] = "fp_fake"
		case DialectCompatible:
			c["system_fingerprint"] = "fp_ollama"
		}
		for k, v := range extra {
			c[k] = v
		}
		b, _ := json.Marshal(c)
		out = append(out, chunk{data: b, content: content})
		return c
	}
	usage := f.usage(reply.Usage, reply.Reasoning != "")
	texts := pieces(reply.Text, reply.ChunkSize)

	switch f.dialect {
	case DialectAzure:
		out = append(out, chunk{data: mustJSON(obj{"choices": []obj{}, "created": 0, "id": "", "model": "", "object": "",
			"prompt_filter_results": azurePrompt})})
		choice := func(delta obj, finish any, filters obj) []obj {
			return []obj{{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil, "content_filter_results": filters}}
		}
		add(false, choice(obj{"role": "assistant", "content": "", "refusal": nil}, nil, obj{}), nil)
		for _, p := range texts {
			add(true, choice(obj{"content": p}, nil, azureFilters), nil)
		}
		for i, tc := range reply.ToolCalls {
			add(true, choice(obj{"tool_calls": []obj{{"index": i, "id": tc.ID, "type": "function", "function": obj{"name": tc.Name, "arguments": ""}}}}, nil, obj{}), nil)
			for _, p := range pieces(tc.Arguments, reply.ChunkSize) {
				add(true, choice(obj{"tool_calls": []obj{{"index": i, "function": obj{"arguments": p}}}}, nil, obj{}), nil)
			}
		}
		add(true, choice(obj{}, openAIStop(reply), obj{}), nil)
		if includeUsage {
			add(false, []obj{}, obj{"usage": usage})
		}

	case DialectDeepSeek:
		reasoner := reply.Reasoning != ""
		choice := func(delta obj, finish any) []obj {
			return []obj{{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}
		}
		if reasoner {
			add(false, choice(obj{"role": "assistant", "content": nil, "reasoning_content": ""}, nil), nil)
		} else {
			add(false, choice(obj{"role": "assistant", "content": ""}, nil), nil)
		}
		for _, p := range pieces(reply.Reasoning, reply.ChunkSize) {
			add(true, choice(obj{"content": nil, "reasoning_content": p}, nil), nil)
		}
		delta := func(d obj) obj {
			if reasoner {
				d["reasoning_content"] = nil
			}
			return d
		}
		for _, p := range texts {
			add(true, choice(delta(obj{"content": p}), nil), nil)
		}
		for i, tc := range reply.ToolCalls {
			add(true, choice(delta(obj{"tool_calls": []obj{{"index": i, "id": tc.ID, "type": "function", "function": obj{"name": tc.Name, "arguments": ""}}}}), nil), nil)
			for _, p := range pieces(tc.Arguments, reply.ChunkSize) {
				add(true, choice(delta(obj{"tool_calls": []obj{{"index": i, "function": obj{"arguments": p}}}}), nil), nil)
			}
		}
		add(true, choice(delta(obj{"content": ""}), openAIStop(reply)), nil)
		if includeUsage {
			add(false, []obj{}, obj{"usage": usage})
		}

	default: // Gemini, Ollama: no role-only chunk, tool calls whole
		type piece struct{ delta obj }
		var ps []piece
		for _, p := range texts {
			ps = append(ps, piece{obj{"role": "assistant", "content": p}})
		}
		if len(reply.ToolCalls) > 0 {
			ps = append(ps, piece{obj{"role": "assistant", "tool_calls": toolCalls(reply.ToolCalls, true)}})
		}
		gemini := f.dialect == DialectGemini
		if len(ps) == 0 || !gemini {
			ps = append(ps, piece{obj{"role": "assistant", "content": ""}})
		}
		for i, p := range ps {
			ch := obj{"index": 0, "delta": p.delta}
			var extra obj
			if i == len(ps)-1 {
				ch["finish_reason"] = openAIStop(reply)
				if gemini && includeUsage {
					extra = obj{"usage": usage}
				}
			} else if !gemini {
				ch["finish_reason"] = nil
			}
			add(true, []obj{ch}, extra)
		}
		if !gemini && includeUsage {
			add(false, []obj{}, obj{"usage": usage})
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
