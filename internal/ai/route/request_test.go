package route

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/plugin"
)

// TestLazyChat: an OpenAI chat request that passes through as it came is
// never decoded; anything that needs more than its model and stream flag
// decodes it then.
func TestLazyChat(t *testing.T) {
	t.Parallel()
	const body = `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}],"max_tokens":5,"x_vendor":{"k":1}}`
	q, perr := decodeRequest(APIOpenAI, opChat, []byte(body))
	if perr != nil {
		t.Fatal(perr)
	}
	if !q.lazy || q.oai != nil || q.model != "m" || q.stream || !q.clientUsage {
		t.Fatalf("decodeRequest = lazy %v, decoded %v, model %q, stream %v, clientUsage %v; want lazy, not decoded, m, false, true",
			q.lazy, q.oai != nil, q.model, q.stream, q.clientUsage)
	}
	f, err := q.upstream(wireOpenAI)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := f.body("m"); err != nil || string(b) != body {
		t.Errorf("body(m) = %s, %v; want the client's bytes", b, err)
	}
	if q.oai != nil {
		t.Error("passing the body through decoded it")
	}
	// Another model name needs the request encoded again.
	b, err := f.body("other")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil || got["model"] != "other" || got["x_vendor"] == nil {
		t.Errorf("body(other) = %s, %v; want model other and the unknown member kept", b, err)
	}
	if q.oai == nil || q.lazy {
		t.Error("encoding for another model did not decode the request")
	}

	// The plugin view decodes on its first use.
	q, _ = decodeRequest(APIOpenAI, opChat, []byte(body))
	want := []plugin.AIMessage{{Role: "system", Text: "s"}, {Role: "user", Text: "hi"}}
	if d := cmp.Diff(want, q.Messages()); d != "" {
		t.Errorf("Messages (-want +got):\n%s", d)
	}
	q, _ = decodeRequest(APIOpenAI, opChat, []byte(body))
	if n := q.MaxTokens(); n != 5 {
		t.Errorf("MaxTokens = %d; want 5", n)
	}
	q, _ = decodeRequest(APIOpenAI, opChat, []byte(body))
	q.SetMaxTokens(3)
	f, _ = q.upstream(wireOpenAI)
	if b, _ := f.body("m"); !json.Valid(b) || string(b) == body || q.MaxTokens() != 3 {
		t.Errorf("after SetMaxTokens(3), body(m) = %s; want the request changed", b)
	}

	// Translation decodes too.
	q, _ = decodeRequest(APIOpenAI, opChat, []byte(`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}`))
	f, err = q.upstream(wireAnthropic)
	if err != nil || f.ant == nil || f.ant.System.Text != "s" {
		t.Errorf("upstream(anthropic) = %+v, %v; want the translated request", f, err)
	}

	// A stream whose client did not ask for usage is sent with the usage
	// chunk asked for, so it is encoded again even under its own name.
	q, _ = decodeRequest(APIOpenAI, opChat, []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`))
	if !q.lazy || !q.stream || q.clientUsage {
		t.Fatalf("stream request: lazy %v, stream %v, clientUsage %v; want true, true, false", q.lazy, q.stream, q.clientUsage)
	}
	f, _ = q.upstream(wireOpenAI)
	b, err = f.body("m")
	if err != nil {
		t.Fatal(err)
	}
	var so struct {
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(b, &so); err != nil || !so.StreamOptions.IncludeUsage {
		t.Errorf("stream body = %s; want stream_options.include_usage true", b)
	}
}
