package route

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log destination safe for the auditor's goroutine and
// the callers' fallback writes at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAuditorLosesNothing: lines queued beyond the queue, from many
// goroutines, and after close are all written.
func TestAuditorLosesNothing(t *testing.T) {
	var out lockedBuffer
	a := newAuditor(slog.New(slog.NewJSONHandler(&out, nil)))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				a.line([]slog.Attr{slog.Int("g", g), slog.Int("i", i)})
			}
		})
	}
	wg.Wait()
	a.close()
	a.line([]slog.Attr{slog.String("after", "close")}) // written at once
	a.close()                                          // twice is fine
	if got := strings.Count(out.String(), `"msg":"mcp tool call"`); got != 8*500+1 {
		t.Fatalf("%d audit lines; want %d", got, 8*500+1)
	}
	if !strings.Contains(out.String(), `"after":"close"`) {
		t.Fatal("the line after close was lost")
	}
}
