package accesslog

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestLinesAreBatchedAndFlushed(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	w := New(&out, time.Hour) // only Close flushes
	for i := 0; i < 100; i++ {
		w.Write([]byte("line\n"))
	}
	if s, _ := out.snapshot(); s != "" {
		t.Fatalf("lines reached the writer before a flush: %q", s)
	}
	w.Close()
	s, writes := out.snapshot()
	if got := strings.Count(s, "line\n"); got != 100 {
		t.Fatalf("after Close: %d lines; want 100", got)
	}
	if writes != 1 {
		t.Errorf("underlying writes = %d; want 1 batched write", writes)
	}
}

func TestPeriodicFlush(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	w := New(&out, 10*time.Millisecond)
	defer w.Close()
	w.Write([]byte("x\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _ := out.snapshot(); s == "x\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("line was never flushed by the ticker")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLinesStayWholeAcrossBufferBoundary(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	w := New(&out, time.Hour)
	line := strings.Repeat("a", 1000) + "\n"
	for i := 0; i < 200; i++ { // ~200 KB: several buffer flushes
		w.Write([]byte(line))
	}
	w.Close()
	s, _ := out.snapshot()
	if s != strings.Repeat(line, 200) {
		t.Fatal("lines were reordered or lost")
	}
}

func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	w := New(&out, time.Millisecond)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				w.Write([]byte("0123456789\n"))
			}
		}()
	}
	wg.Wait()
	w.Close()
	s, _ := out.snapshot()
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if l != "0123456789" {
			t.Fatalf("torn line %q", l)
		}
	}
	if n := strings.Count(s, "\n"); n != 4000 {
		t.Fatalf("%d lines; want 4000", n)
	}
}
