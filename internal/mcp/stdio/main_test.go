//go:build unix

package stdio

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The test binary doubles as the stdio server under test: when
// envTestServer is set, TestMain runs a go-sdk server on stdin/stdout
// instead of the tests.
const (
	envTestServer  = "SLUICE_STDIO_TEST_SERVER"
	envTestGarbage = "SLUICE_STDIO_TEST_GARBAGE" // print a non-JSON line first
)

func TestMain(m *testing.M) {
	if os.Getenv(envTestServer) == "1" {
		runTestServer()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type textIn struct {
	Text string `json:"text,omitempty"`
}

type slowIn struct {
	MS  int    `json:"ms,omitempty"` // 0: until cancelled
	Tag string `json:"tag,omitempty"`
}

type exitIn struct {
	Code int `json:"code"`
}

type notifyIn struct {
	N    int    `json:"n"`
	Text string `json:"text"`
}

type sizeIn struct {
	Bytes int `json:"bytes"`
}

type envIn struct {
	Name string `json:"name"`
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func runTestServer() {
	if os.Getenv(envTestGarbage) == "1" {
		fmt.Println("this line is not JSON-RPC")
	}
	var initialized atomic.Int64
	s := mcp.NewServer(&mcp.Implementation{Name: "stdio-test", Version: "v0"}, &mcp.ServerOptions{
		InitializedHandler: func(context.Context, *mcp.InitializedRequest) { initialized.Add(1) },
	})
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		return text(in.Text), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "pid"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return text(strconv.Itoa(os.Getpid())), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, _ *mcp.CallToolRequest, in slowIn) (*mcp.CallToolResult, any, error) {
		// Tests wait for this line before they cancel: a cancellation that
		// arrives before the handler starts would skip it, and its log.
		fmt.Fprintf(os.Stderr, "slow %s: started\n", in.Tag)
		var timer <-chan time.Time
		if in.MS > 0 {
			timer = time.After(time.Duration(in.MS) * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "slow %s: cancelled\n", in.Tag)
			return nil, nil, ctx.Err()
		case <-timer:
			return text("slow " + in.Tag + " done"), nil, nil
		}
	})
	mcp.AddTool(s, &mcp.Tool{Name: "crash"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		fmt.Fprintln(os.Stderr, "crashing on purpose")
		os.Exit(3)
		return nil, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "exit"}, func(_ context.Context, _ *mcp.CallToolRequest, in exitIn) (*mcp.CallToolResult, any, error) {
		os.Exit(in.Code)
		return nil, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "notify"}, func(ctx context.Context, req *mcp.CallToolRequest, in notifyIn) (*mcp.CallToolResult, any, error) {
		token := req.Params.GetProgressToken()
		for i := range in.N {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: token, Progress: float64(i + 1), Total: float64(in.N), Message: in.Text,
			}); err != nil {
				return nil, nil, err
			}
		}
		return text(in.Text), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "sample"}, func(ctx context.Context, req *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			MaxTokens: 10,
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Text}}},
		})
		if err != nil {
			return nil, nil, err
		}
		return text(res.Content.(*mcp.TextContent).Text), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "stderr"}, func(_ context.Context, _ *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		fmt.Fprintln(os.Stderr, in.Text)
		return text("ok"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "big"}, func(_ context.Context, _ *mcp.CallToolRequest, in sizeIn) (*mcp.CallToolResult, any, error) {
		return text(strings.Repeat("x", in.Bytes)), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "env"}, func(_ context.Context, _ *mcp.CallToolRequest, in envIn) (*mcp.CallToolResult, any, error) {
		v, ok := os.LookupEnv(in.Name)
		if !ok {
			v = "<unset>"
		}
		return text(v), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "addtool"}, func(_ context.Context, _ *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		// The go-sdk tells every client of this process: list_changed.
		mcp.AddTool(s, &mcp.Tool{Name: in.Text}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return text("added"), nil, nil
		})
		return text("ok"), nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "initialized"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return text(strconv.FormatInt(initialized.Load(), 10)), nil, nil
	})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "test server:", err)
	}
}
