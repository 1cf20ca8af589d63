//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package h1server

import "syscall"

// awaitReadable waits, in the background reader, until the client sends
// more or goes away, with the read buffer back in its pool meanwhile when
// it holds nothing: the background read of a long response (an SSE
// stream) would otherwise keep 4 KiB for the stream's whole life. The read
// that follows takes what came. Errors (a deadline, a close) are left for
// that read to report.
func (c *conn) awaitReadable() {
	if c.raw == nil || c.w != 0 || len(c.rbuf) != readBufSize {
		return
	}
	c.releaseRbuf()
	_ = c.raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK // bytes, EOF or an error
	})
	c.rbuf = rbufPool.Get().(*[readBufSize]byte)[:]
}
