package route

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/sluicegw/sluice/internal/ai/anthropic"
	"github.com/sluicegw/sluice/internal/ai/openai"
	"github.com/sluicegw/sluice/internal/ai/translate"
)

// request is a decoded, validated client request and its upstream forms.
type request struct {
	api    string
	op     operation
	model  string
	stream bool
	// clientUsage says an OpenAI client asked for the usage chunk itself;
	// when it did not, the one Sluice asks for is not relayed.
	clientUsage bool

	oai *openai.ChatRequest // nil while lazy: read it through chat
	ant *anthropic.MessagesRequest
	emb *openai.EmbeddingRequest
	rsp *openai.ResponsesRequest
	// lazy says an OpenAI chat request was only peeked at: oai is decoded
	// from raw when first needed (see chat).
	lazy bool

	forms [2]*form // by wire

	// raw is the client's body; edited says a plugin changed the request
	// since, so raw no longer says what it asks.
	raw    []byte
	edited bool
}

// form is the request in one provider API, or why it cannot be.
type form struct {
	oai *openai.ChatRequest
	ant *anthropic.MessagesRequest
	emb *openai.EmbeddingRequest
	rsp *openai.ResponsesRequest
	err error
	// raw, when set, is the client's own body, sent as it is to a target
	// whose model name is the client's: re-encoding it would change
	// nothing but cost a fifth of the route's CPU.
	raw []byte
	// rawModel is the model name raw carries.
	rawModel string
	// chat, when set, is the OpenAI chat request this form sends to an
	// OpenAI-type provider; oai is built from it when raw will not do.
	chat *request
}

// paramError is a client error about one parameter.
type paramError struct {
	param, msg string
}

func (e *paramError) Error() string { return e.msg }

// decodeRequest decodes and validates a request body of api and op.
func decodeRequest(api string, op operation, body []byte) (*request, *paramError) {
	q := &request{api: api, op: op, raw: body}
	var err error
	switch {
	case op == opResponses:
		if q.rsp, err = openai.DecodeResponsesRequest(body); err == nil {
			err = q.rsp.Validate()
			q.model, q.stream = q.rsp.Model, q.rsp.Stream
		}
	case op == opEmbeddings:
		if q.emb, err = openai.DecodeEmbeddingRequest(body); err == nil {
			err = q.emb.Validate()
			q.model = q.emb.Model
		}
	case api == APIAnthropic:
		if q.ant, err = anthropic.DecodeMessagesRequest(body); err == nil {
			err = q.ant.Validate()
			q.model, q.stream = q.ant.Model, q.ant.Stream
		}
	default:
		if p, ok := openai.PeekChatRequest(body); ok {
			// Model and stream are all the route needs of a request it
			// passes through as it came; the rest is decoded if a plugin
			// or a translation asks for it, and the peek has checked that
			// the decoding succeeds. A full decode was a fifth of the
			// route's CPU.
			q.model, q.stream, q.lazy = p.Model, p.Stream, true
			q.clientUsage = !p.Stream || p.IncludeUsage
			return q, nil
		}
		if q.oai, err = openai.DecodeChatRequest(body); err == nil {
			err = q.oai.Validate()
			q.model, q.stream = q.oai.Model, q.oai.Stream
			// Whether the client wants the usage chunk: Sluice asks every
			// OpenAI-type upstream for it (in upstream), and drops it on the
			// way back when the client did not. The request itself keeps
			// the client's choice, so plugins (the cache key) see it.
			so := q.oai.StreamOptions
			q.clientUsage = !q.oai.Stream || (so != nil && so.IncludeUsage)
		}
	}
	if err == nil {
		return q, nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return nil, &paramError{msg: "the request body is not valid JSON: " + err.Error()}
	case errors.As(err, &te):
		return nil, &paramError{param: te.Field, msg: "the request body has the wrong type at " + te.Field + ": " + err.Error()}
	}
	msg := err.Error()
	param, _, _ := strings.Cut(msg, ":")
	if strings.ContainsAny(param, " \"") {
		param = ""
	}
	return nil, &paramError{param: param, msg: msg}
}

// chat returns the OpenAI chat request, decoding it on the first call
// when decodeRequest only peeked at it.
func (q *request) chat() *openai.ChatRequest {
	if q.lazy {
		q.lazy = false
		r, err := openai.DecodeChatRequest(q.raw)
		if err != nil {
			panic("route: a chat request openai.PeekChatRequest vouched for does not decode: " + err.Error())
		}
		q.oai = r
	}
	return q.oai
}

// upstream returns the request in the API w speaks, translating once.
func (q *request) upstream(w wire) (*form, error) {
	if f := q.forms[w]; f != nil {
		return f, f.err
	}
	f := &form{}
	oaiChat := q.op == opChat && q.api == APIOpenAI
	switch {
	case q.op == opEmbeddings:
		f.emb = q.emb
	case q.op == opResponses:
		f.rsp = q.rsp
	case oaiChat && w == wireOpenAI:
		f.chat = q // not decoded until body needs it
	case q.ant != nil && w == wireAnthropic:
		f.ant = q.ant
	case oaiChat:
		f.ant, f.err = translate.ToAnthropicRequest(q.chat(), translate.Options{})
	default:
		f.oai, f.err = translate.ToOpenAIRequest(q.ant, translate.Options{})
	}
	passThrough := f.emb != nil || f.rsp != nil || f.chat != nil || (f.ant != nil && q.ant != nil)
	// The usage chunk Sluice asks for changes an OpenAI stream request the
	// client made without it.
	if passThrough && !q.edited && f.err == nil && (!oaiChat || q.clientUsage) {
		f.raw, f.rawModel = q.raw, q.model
	}
	var pe *translate.ParamError
	if errors.As(f.err, &pe) {
		f.err = &paramError{param: pe.Param, msg: pe.Error()}
	}
	q.forms[w] = f
	return f, f.err
}

// body encodes the form for one provider model.
func (f *form) body(model string) ([]byte, error) {
	if f.raw != nil && model == f.rawModel {
		return f.raw, nil
	}
	switch {
	case f.emb != nil:
		r := *f.emb
		r.Model = model
		return json.Marshal(r)
	case f.rsp != nil:
		r := *f.rsp
		r.Model = model
		return json.Marshal(r)
	case f.ant != nil:
		r := *f.ant
		r.Model = model
		return json.Marshal(r)
	default:
		if f.oai == nil {
			// A copy that asks for exact stream usage; the client's
			// request is left as it sent it.
			c := *f.chat.chat()
			if c.StreamOptions != nil {
				so := *c.StreamOptions
				c.StreamOptions = &so
			}
			openai.ForceIncludeUsage(&c)
			f.oai = &c
		}
		r := *f.oai
		r.Model = model
		return json.Marshal(r)
	}
}
