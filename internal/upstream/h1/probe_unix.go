//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package h1

import "syscall"

// awaitReadable blocks until the connection has bytes or its end pending,
// or its read deadline passes (an abort sets one in the past). It reads
// nothing, so it needs no buffer.
func (c *conn) awaitReadable() {
	if c.raw == nil {
		return
	}
	_ = c.raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK // bytes, EOF or an error
	})
}

// canPark reports whether awaitReadable can wait on the connection.
func (c *conn) canPark() bool { return c.raw != nil }

// alive peeks at an idle connection without blocking: EOF, an error or
// unsolicited bytes mean it must not carry a request.
func (c *conn) alive() bool {
	if c.raw == nil {
		return true
	}
	ok := true
	err := c.raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true // never wait for readiness
	})
	return ok && err == nil
}
