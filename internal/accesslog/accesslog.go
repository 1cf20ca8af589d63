// Package accesslog buffers access-log lines so that logging a request does
// not cost a write system call on the request path. Lines reach the
// underlying writer when the buffer fills, at every flush interval, and on
// Close, so at most one interval of lines is lost if the process is killed
// hard (SIGTERM drains and flushes).
package accesslog

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer is a goroutine-safe buffered writer with a periodic flush. Each
// Write is kept whole: a line is never split between two flushes unless it
// is larger than the buffer.
type Writer struct {
	mu    sync.Mutex
	buf   *bufio.Writer
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

// New returns a Writer over w with a 64 KiB buffer, flushed every interval
// (200ms if interval <= 0). Close it to flush and stop the flusher.
func New(w io.Writer, interval time.Duration) *Writer {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	lw := &Writer{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go lw.loop(interval)
	return lw
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.Flush()
		case <-w.stop:
			_ = w.Flush()
			return
		}
	}
}

// Write buffers p.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Available() < len(p) && w.buf.Buffered() > 0 {
		if err := w.buf.Flush(); err != nil {
			return 0, err
		}
	}
	return w.buf.Write(p)
}

// Flush writes buffered lines out now.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}

// Close flushes and stops the periodic flusher. Writes after Close are
// still accepted and reach w on the next explicit Flush.
func (w *Writer) Close() error {
	w.close.Do(func() { close(w.stop) })
	<-w.done
	return w.Flush()
}
