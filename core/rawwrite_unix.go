//go:build unix

package core

import "net"

// enableRawWrites lets the hub's inline writers write c without blocking
// when its connection is a plain TCP socket.
func (c *ConnStream) enableRawWrites() {
	tc, ok := c.conn.(*net.TCPConn)
	if !ok {
		return
	}
	if raw, err := tc.SyscallConn(); err == nil {
		c.raw, c.rawFn = raw, c.rawWrite
	}
}

// rawWrite is one non-blocking write of the chunk being tried. It never
// waits for the socket: the stream's goroutine does that.
func (c *ConnStream) rawWrite(fd uintptr) bool {
	c.rawN = writeNonblocking(fd, c.try) // -1 on an error: tryFlush keeps it all
	return true
}
