package openai

import (
	"encoding/json"
	"errors"

	"github.com/sluicegw/sluice/internal/jsonobj"
)

// EmbeddingRequest is the body of POST /v1/embeddings. Input is kept raw:
// a string, an array of strings, an array of token ids, or an array of
// such arrays.
type EmbeddingRequest struct {
	Model          string                     `json:"model"`
	Input          json.RawMessage            `json:"input"`
	EncodingFormat string                     `json:"encoding_format,omitempty"` // float, base64
	Dimensions     *int64                     `json:"dimensions,omitempty"`
	User           string                     `json:"user,omitempty"`
	Extra          map[string]json.RawMessage `json:"-"`
}

// DecodeEmbeddingRequest decodes an embeddings request body strictly, as
// DecodeChatRequest does. It does not Validate.
func DecodeEmbeddingRequest(data []byte) (*EmbeddingRequest, error) {
	r := new(EmbeddingRequest)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Validate checks that the request names a model and has input.
func (r *EmbeddingRequest) Validate() error {
	if r.Model == "" {
		return errors.New("model: required")
	}
	if len(r.Input) == 0 || string(r.Input) == "null" {
		return errors.New("input: required")
	}
	return nil
}

func (r *EmbeddingRequest) UnmarshalJSON(b []byte) (err error) {
	type plain EmbeddingRequest
	r.Extra, err = jsonobj.Decode(b, (*plain)(r))
	return err
}

func (r EmbeddingRequest) MarshalJSON() ([]byte, error) {
	type plain EmbeddingRequest
	return jsonobj.Marshal((plain)(r), r.Extra)
}

// EmbeddingResponse is the response of POST /v1/embeddings.
type EmbeddingResponse struct {
	Object string         `json:"object"` // "list"
	Data   []Embedding    `json:"data"`
	Model  string         `json:"model"`
	Usage  EmbeddingUsage `json:"usage"`
}

// Embedding is one vector: an array of floats, or a base64 string when
// encoding_format was base64.
type Embedding struct {
	Object    string          `json:"object"` // "embedding"
	Index     int64           `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

// EmbeddingUsage is the usage of an embeddings call; there is no output.
type EmbeddingUsage struct {
	PromptTokens int64 `json:"prompt_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}

// ModelList is the response of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"` // "list"
	Data   []Model `json:"data"`
}

// Model is one entry of the models list.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // "model"
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}
