// Command mcpupstream is the MCP benchmark's server: the Go SDK's
// (github.com/modelcontextprotocol/go-sdk) Streamable HTTP handler serving
// one tool, echo, which returns its "text" argument as text content.
//
// It serves the same server three ways, on three paths:
//
//	/mcp          stateless, answers as text/event-stream (the SDK's default)
//	/mcp-json     stateless, answers as application/json
//	/mcp-session  stateful: initialize opens a session; a GET with its
//	              Mcp-Session-Id holds the session's SSE stream open
//
// Stateless paths take both protocol eras: 2026-07-28 requests with _meta
// and routing headers, and older ones without initialize. Everything else
// (tools/list, server/discover, ping) is the SDK's own.
//
// A fourth path, /mcp-raw, is not the SDK: a hand-written handler that
// answers tools/call and tools/list with fixed event-stream bytes (the
// request's id and text copied in), at a small fraction of the SDK's CPU.
// Behind it, a gateway's own cost per call is most of the total, as with
// the API benchmark's 2-byte upstream.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to send back"`
}

func newServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "sluice-bench-upstream", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns its text argument."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	return s
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18900", "listen address")
	flag.Parse()

	srv := newServer()
	get := func(*http.Request) *mcp.Server { return srv }
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true}))
	mux.Handle("/mcp-json", mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}))
	// Sessions of the idle-stream test live until their client leaves;
	// the 10-minute timeout only bounds a client that vanished.
	mux.Handle("/mcp-session", mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{SessionTimeout: 10 * time.Minute}))
	mux.HandleFunc("/mcp-raw", raw)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		os.Exit(0)
	}()
	log.Printf("mcpupstream on %s", ln.Addr())
	if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// rawCall is what raw reads of a request.
type rawCall struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name      string `json:"name"`
		Arguments struct {
			Text string `json:"text"`
		} `json:"arguments"`
	} `json:"params"`
}

// raw is a minimal stateless MCP endpoint: tools/list and tools/call of
// echo, answered as one SSE event; anything else gets a JSON-RPC error.
func raw(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var m rawCall
	if err == nil {
		err = json.Unmarshal(body, &m)
	}
	if err != nil || len(m.ID) == 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	b := make([]byte, 0, 256)
	b = append(b, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":"...)
	b = append(b, m.ID...)
	switch {
	case m.Method == "tools/call" && m.Params.Name == "echo":
		text, _ := json.Marshal(m.Params.Arguments.Text)
		b = append(b, `,"result":{"content":[{"type":"text","text":`...)
		b = append(b, text...)
		b = append(b, "}]}}\n\n"...)
	case m.Method == "tools/list":
		b = append(b, `,"result":{"tools":[{"name":"echo","description":"Returns its text argument.","inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}}]}}`+"\n\n"...)
	default:
		b = append(b, `,"error":{"code":-32601,"message":"method not found"}}`+"\n\n"...)
	}
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	_, _ = w.Write(b)
}
