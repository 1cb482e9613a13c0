//go:build unix

package core

import (
	"net"
	"syscall"
)

// peerAlive reads the socket without blocking: a peer that closed its side
// reads as end of file, one that reset it as an error; nothing to read means
// alive. On a connection the stream owns (drain), bytes the client sent are
// read and dropped, so that they cannot hide a close behind them; otherwise
// they are only peeked at, and count as alive.
func peerAlive(c net.Conn, drain bool) bool {
	sc, ok := rawConn(c).(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false // closed already
	}
	alive := true
	var buf [512]byte
	flags := syscall.MSG_DONTWAIT
	if !drain {
		flags |= syscall.MSG_PEEK
	}
	err = rc.Read(func(fd uintptr) bool {
		for range 64 { // at most 32 KiB of stray bytes per check
			n, _, err := syscall.Recvfrom(int(fd), buf[:], flags)
			switch {
			case err == syscall.EAGAIN || err == syscall.EINTR:
				return true
			case err != nil || n == 0:
				alive = false
				return true
			case !drain:
				return true // data waits: alive, and left for its reader
			}
		}
		return true // never wait
	})
	return alive && err == nil
}
