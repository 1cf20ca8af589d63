package route

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/plugin"
)

func TestChallenges(t *testing.T) {
	auth := &Auth{Resource: "https://gw.example.com/mcp", AuthorizationServers: []string{"https://idp.example.com"}}
	meta := `resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource/mcp"`
	tests := []struct {
		name      string
		scopes    []string
		err       *plugin.Error
		status    int
		challenge string
		rpcCode   float64
	}{
		{"no token", []string{"mcp:tools"}, &plugin.Error{Status: 401, Code: "unauthorized", Header: http.Header{"Www-Authenticate": {`Bearer realm="sluice"`}}},
			401, `Bearer ` + meta + `, scope="mcp:tools"`, -32003},
		{"bad token", nil, &plugin.Error{Status: 401, Code: "unauthorized", Header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}},
			401, `Bearer error="invalid_token", ` + meta, -32003},
		{"step-up", nil, &plugin.Error{Status: 401, Code: "unauthorized", Header: http.Header{"Www-Authenticate": {`Bearer error="insufficient_scope", scope="files:write"`}}},
			403, `Bearer error="insufficient_scope", ` + meta + `, scope="files:write"`, -32003},
		{"rate limited", nil, &plugin.Error{Status: 429, Code: "rate_limited", Public: "too many requests"}, 429, "", -32029},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := *auth
			a.Scopes = tt.scopes
			h := newHandler(t, Config{Server: Server{Name: "s", Handler: http.NotFoundHandler()}, Auth: &a})
			w := httptest.NewRecorder()
			x := &plugin.Exchange{MCP: &plugin.MCP{ID: []byte(`5`)}}
			r := httptest.NewRequest("POST", "/mcp", nil).WithContext(plugin.WithExchange(t.Context(), x))
			h.WriteError(w, r, tt.err, "rid")
			if w.Code != tt.status || w.Header().Get("WWW-Authenticate") != tt.challenge {
				t.Fatalf("status %d, challenge %q; want %d, %q", w.Code, w.Header().Get("WWW-Authenticate"), tt.status, tt.challenge)
			}
			var body struct {
				ID    int
				Error struct{ Code float64 }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.ID != 5 || body.Error.Code != tt.rpcCode {
				t.Fatalf("body %s: want a JSON-RPC error to id 5 with code %v", w.Body, tt.rpcCode)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	if got, want := MetadataPaths("https://gw.example.com/tenant/mcp/"), []string{"/.well-known/oauth-protected-resource/tenant/mcp", "/.well-known/oauth-protected-resource"}; !cmp.Equal(got, want) {
		t.Fatalf("MetadataPaths = %v; want %v", got, want)
	}
	if got := MetadataPaths("https://gw.example.com"); !cmp.Equal(got, []string{"/.well-known/oauth-protected-resource"}) {
		t.Fatalf("MetadataPaths of a root resource = %v", got)
	}
	h := newHandler(t, Config{Server: Server{Name: "s", Handler: http.NotFoundHandler()},
		Auth: &Auth{Resource: "https://gw.example.com/mcp", AuthorizationServers: []string{"https://idp.example.com"}, Scopes: []string{"mcp:tools"}, ResourceName: "Tools"}})
	w := httptest.NewRecorder()
	if err := h.Metadata().ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource/mcp", nil)); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"resource": "https://gw.example.com/mcp", "authorization_servers": []any{"https://idp.example.com"},
		"scopes_supported": []any{"mcp:tools"}, "bearer_methods_supported": []any{"header"}, "resource_name": "Tools"}
	if diff := cmp.Diff(want, doc); diff != "" || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("metadata (-want +got):\n%s", diff)
	}
	err := h.Metadata().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/.well-known/oauth-protected-resource/mcp", nil))
	if pe, ok := err.(*plugin.Error); !ok || pe.Status != 405 {
		t.Fatalf("POST metadata = %v; want 405", err)
	}
}
