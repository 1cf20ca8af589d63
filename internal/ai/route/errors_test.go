package route_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicegw/sluice/internal/ai/route"
	"github.com/sluicegw/sluice/plugin"
)

// TestWriteError pins how a plugin's error is rendered on an ai route, in
// the client's API shape.
func TestWriteError(t *testing.T) {
	t.Parallel()
	h, err := route.New(route.Config{
		Providers: []route.Provider{{Name: "mock", Type: route.TypeMock}},
		Models:    []route.Model{{Name: "*", Targets: []route.Target{{Provider: "mock"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	limited := &plugin.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Public: "slow down",
		Header: http.Header{"Retry-After": {"3"}}}
	tests := []struct {
		name, method, path string
		err                *plugin.Error
		status             int
		header             http.Header
		body               string
	}{{
		name: "openai", method: http.MethodPost, path: "/v1/chat/completions", err: limited,
		status: http.StatusTooManyRequests,
		header: http.Header{"Retry-After": {"3"}, "Content-Type": {"application/json"}, "X-Content-Type-Options": {"nosniff"}, "Content-Length": {"94"}},
		body:   `{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"rate_limited"}}`,
	}, {
		name: "anthropic", method: http.MethodPost, path: "/v1/messages", err: limited,
		status: http.StatusTooManyRequests,
		header: http.Header{"Retry-After": {"3"}, "Content-Type": {"application/json"}, "X-Content-Type-Options": {"nosniff"}, "Content-Length": {"95"}},
		body:   `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"req-1"}`,
	}, {
		name: "head", method: http.MethodHead, path: "/v1/models",
		err:    &plugin.Error{Status: http.StatusUnauthorized, Code: "invalid_api_key", Public: "who are you"},
		status: http.StatusUnauthorized,
		header: http.Header{"Content-Type": {"application/json"}, "X-Content-Type-Options": {"nosniff"}, "Content-Length": {"103"}},
	}, {
		name: "client gone", method: http.MethodPost, path: "/v1/chat/completions",
		err:    &plugin.Error{Status: 499, Code: "client_closed", Public: "gone"},
		status: http.StatusOK, header: http.Header{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, tt.path, nil)
			w := httptest.NewRecorder()
			h.WriteError(w, r, tt.err, "req-1")
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("WriteError wrote %d %s; want %d %s", w.Code, w.Body, tt.status, tt.body)
			}
			if d := cmp.Diff(tt.header, w.Header()); d != "" {
				t.Errorf("headers (-want +got):\n%s", d)
			}
		})
	}
}
