//go:build unix && !linux

package core

import "syscall"

// writeNonblocking makes one write to a non-blocking socket, returning what
// write(2) returns, -1 on any error.
func writeNonblocking(fd uintptr, p []byte) int {
	n, err := syscall.Write(int(fd), p)
	if err != nil {
		return -1
	}
	return n
}
