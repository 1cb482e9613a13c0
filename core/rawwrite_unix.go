//go:build unix

package core

import "syscall"

// canWriteRaw: ConnStreams on plain sockets may be written without blocking
// by the hub's inline writers.
const canWriteRaw = true

// rawWrite is one non-blocking write of the chunk being tried. It never
// waits for the socket: the stream's goroutine does that.
func (c *ConnStream) rawWrite(fd uintptr) bool {
	c.rawN, _ = syscall.Write(int(fd), c.try) // -1 on an error: tryFlush keeps it all
	return true
}
