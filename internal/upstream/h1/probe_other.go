//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package h1

// awaitReadable returns at once here: the read that follows waits, with
// its buffer.
func (c *conn) awaitReadable() {}

// canPark is false here: awaitReadable cannot wait.
func (c *conn) canPark() bool { return false }

// alive is a no-op here: a closed idle connection is caught by the
// stale-connection retry instead.
func (c *conn) alive() bool { return true }
