package core

import (
	"net"
	"time"
)

// livenessEvery is how often the hub checks the sockets of streams that
// name one for a peer that has gone, without waiting for a write to fail.
const livenessEvery = time.Second

// checkLiveness ends the streams whose peer has closed or reset its side.
// It runs on the hub's goroutine; each check is one non-blocking syscall.
func (h *Hub) checkLiveness() {
	h.mu.Lock()
	conns := make([]*Subscriber, 0, len(h.subs))
	for s := range h.subs {
		if s.conn != nil {
			conns = append(conns, s)
		}
	}
	h.mu.Unlock()
	for _, s := range conns {
		if !peerAlive(s.conn, s.ownsConn) {
			s.gone.Store(true)
			s.end()
		}
	}
}

// netConner is a Stream that names its connection, for liveness checks.
type netConner interface{ NetConn() net.Conn }

// connOwner is a netConner whose connection nothing else reads (a taken-over
// one): the liveness check may read and drop what the client sends on it.
type connOwner interface{ OwnsConn() bool }

// rawConn unwraps TLS and other wrappers down to the socket.
func rawConn(c net.Conn) net.Conn {
	for range 8 {
		u, ok := c.(netConner)
		if !ok {
			return c
		}
		next := u.NetConn()
		if next == nil || next == c {
			return c
		}
		c = next
	}
	return c
}
