package message

import (
	"encoding/json"
	"testing"
)

// FuzzParse checks that Parse never panics, that what it accepts is valid
// JSON, and that an accepted message is self-consistent: the gateway routes
// on these fields, so a message it cannot classify must be refused.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":"x","result":{"tools":[]}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("Parse accepted invalid JSON %q", body)
		}
		switch m.Kind {
		case Request:
			if m.Method == "" || m.ID == nil {
				t.Fatalf("request without method or id: %+v", m)
			}
		case Notification:
			if m.Method == "" || m.ID != nil {
				t.Fatalf("bad notification: %+v", m)
			}
		case Response:
			if m.Method != "" || (m.Result == nil) == (m.Error == nil) {
				t.Fatalf("bad response: %+v", m)
			}
		default:
			t.Fatalf("accepted message of kind %v", m.Kind)
		}
		if !json.Valid(ErrorResponse(m.ID, CodeInternalError, m.Method+m.Name, nil)) {
			t.Fatalf("ErrorResponse for %+v is not JSON", m)
		}
	})
}
