//go:build unix

package core

import (
	"net"
	"syscall"
)

// peerAlive peeks at the socket without blocking or consuming anything: a
// peer that closed its side reads as end of file, one that reset it as an
// error. Data waiting to be read, or nothing, means alive.
func peerAlive(c net.Conn) bool {
	sc, ok := rawConn(c).(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false // closed already
	}
	alive := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
		case err != nil || n == 0:
			alive = false
		}
		return true // never wait
	})
	return alive && err == nil
}
