package route

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

// BenchmarkFederatedToolCall is a 2026 tools/call through a federated
// route to an in-process server: the federation's own cost (envelope
// parse, name split, body rewrite, routing, answer inspection).
func BenchmarkFederatedToolCall(b *testing.B) {
	// A fixed answer, not the go-sdk: its server's own cost would hide
	// the federation's.
	var servers []Server
	for _, name := range []string{"alpha", "beta"} {
		answer := []byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"` + name + `:hi"}]}}`)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
		})
		servers = append(servers, Server{Name: name, Handler: h})
	}
	h := newHandler(b, Config{Federation: &Federation{Servers: servers}})
	chain := h.Wrap(h)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"beta__echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("Mcp-Protocol-Version", "2026-07-28")
		r.Header.Set("Mcp-Method", "tools/call")
		r.Header.Set("Mcp-Name", "beta__echo")
		r = r.WithContext(plugin.WithExchange(r.Context(), &plugin.Exchange{Route: "mcp"}))
		w := httptest.NewRecorder()
		if err := chain.ServeHTTP(w, r); err != nil || w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "beta:hi") {
			b.Fatalf("call: %v %d %s", err, w.Code, w.Body)
		}
	}
}
