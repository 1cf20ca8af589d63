//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package h1server

// awaitReadable waits for nothing here: the background read keeps its
// buffer while it waits.
func (c *conn) awaitReadable() {}
