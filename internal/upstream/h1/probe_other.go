//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package h1

// alive is a no-op here: a closed idle connection is caught by the
// stale-connection retry instead.
func (c *conn) alive() bool { return true }
