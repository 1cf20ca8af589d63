package route

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// auditor writes the audit line of each tool call from its own goroutine,
// in order. A log write is a system call (tens of microseconds on a busy
// VM); made on the request's goroutine it would delay the answer, since
// the handler's last bytes go out only when it returns. Lines are never
// dropped: when the queue is full, or the auditor closed, the caller
// writes its line itself.
type auditor struct {
	log  *slog.Logger
	mu   sync.RWMutex // held to send, taken to close
	ch   chan []slog.Attr
	done chan struct{}
	shut bool
}

func newAuditor(log *slog.Logger) *auditor {
	a := &auditor{log: log, ch: make(chan []slog.Attr, 1024), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *auditor) run() {
	defer close(a.done)
	for attrs := range a.ch {
		a.write(attrs)
	}
}

func (a *auditor) write(attrs []slog.Attr) {
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "mcp tool call", attrs...)
}

// line queues one audit line.
func (a *auditor) line(attrs []slog.Attr) {
	a.mu.RLock()
	if !a.shut {
		select {
		case a.ch <- attrs:
			a.mu.RUnlock()
			return
		default:
		}
	}
	a.mu.RUnlock()
	a.write(attrs)
}

// close writes the queued lines and stops the goroutine.
func (a *auditor) close() {
	a.mu.Lock()
	if !a.shut {
		a.shut = true
		close(a.ch)
	}
	a.mu.Unlock()
	<-a.done
}

// audit writes the tool call's audit line.
func (h *Handler) audit(x *plugin.Exchange, st *state, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("request_id", x.RequestID),
		slog.String("consumer", x.Consumer),
		slog.String("server", x.MCP.Server),
		slog.String("tool", st.msg.Name),
		slog.Int("arg_bytes", len(st.msg.Arguments)),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("outcome", x.MCP.Outcome),
		slog.String("session", x.MCP.Session),
	}
	if h.auditor == nil {
		h.log.LogAttrs(context.Background(), slog.LevelInfo, "mcp tool call", attrs...)
		return
	}
	h.auditor.line(attrs)
}
