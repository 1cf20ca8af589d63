package openai

import "encoding/json"

// Object names.
const (
	ObjectChatCompletion = "chat.completion"
	ObjectChunk          = "chat.completion.chunk"
	ObjectList           = "list"
	ObjectEmbedding      = "embedding"
	ObjectModel          = "model"
)

// ChatCompletion is the response of a non-streaming chat request.
type ChatCompletion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
	SystemFingerprint string   `json:"system_fingerprint,omitempty"`
	ServiceTier       string   `json:"service_tier,omitempty"`
}

// Choice is one generated message. A nil Logprobs encodes null.
type Choice struct {
	Index        int64           `json:"index"`
	Message      Message         `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}
