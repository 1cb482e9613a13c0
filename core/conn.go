package core

import (
	"net"
	"sync"
	"time"
)

// A ConnStream is a Stream written straight to a connection an adapter has
// taken over (hijacked) after sending the response headers. It holds a write
// buffer only while a batch is written, so an idle stream costs the socket,
// the subscriber and nothing else.
type ConnStream struct {
	conn net.Conn
	buf  *[]byte
}

// connBufSize is the pooled batch buffer: larger batches go out in several
// writes of this size.
const connBufSize = 16 << 10

var connBufs = sync.Pool{New: func() any { b := make([]byte, 0, connBufSize); return &b }}

// NewConnStream returns a ConnStream on conn. The hub also watches conn for
// a peer that has gone (see WithTakeover).
func NewConnStream(conn net.Conn) *ConnStream { return &ConnStream{conn: conn} }

// Write buffers p, writing out a full buffer.
func (c *ConnStream) Write(p []byte) (int, error) {
	if c.buf == nil {
		c.buf = connBufs.Get().(*[]byte)
	}
	n := len(p)
	for len(p) > 0 {
		b := *c.buf
		if len(b) == cap(b) {
			if err := c.writeOut(); err != nil {
				return n - len(p), err
			}
			continue
		}
		k := copy(b[len(b):cap(b)], p)
		*c.buf = b[:len(b)+k]
		p = p[k:]
	}
	return n, nil
}

// Flush writes what is buffered and gives the buffer back.
func (c *ConnStream) Flush() error {
	if c.buf == nil {
		return nil
	}
	err := c.writeOut()
	*c.buf = (*c.buf)[:0]
	connBufs.Put(c.buf)
	c.buf = nil
	return err
}

func (c *ConnStream) writeOut() error {
	b := *c.buf
	*c.buf = b[:0]
	if len(b) == 0 {
		return nil
	}
	_, err := c.conn.Write(b)
	return err
}

// SetWriteDeadline sets the connection's write deadline.
func (c *ConnStream) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// NetConn returns the connection.
func (c *ConnStream) NetConn() net.Conn { return c.conn }

// netConner is a Stream that can name its connection, for liveness checks.
type netConner interface{ NetConn() net.Conn }

// WithTakeover lets adapters take over HTTP/1.1 connections once the
// response headers are decided: the framework's goroutine, buffers and
// request state are released, and the stream is written by one small
// goroutine of the hub's, straight to the socket. An idle stream then costs
// a few KiB instead of tens (see the README's Performance section). HTTP/2
// streams are always served the usual way.
//
// The trade-offs: middleware that acts after the handler returns no longer
// sees the response (adapters do not take over when a compressor has set
// Content-Encoding, so compressed streams keep working); the response ends
// with the connection (Connection: close) rather than a chunked terminator;
// and a client that leaves is noticed by the hub's check of its socket, once
// a second, or by a failed write, instead of at once through the request's
// context. Turn it off to keep every stream inside the framework.
// Default: true.
func WithTakeover(on bool) Option {
	return func(o *options) { o.takeover = on }
}

// Takeover reports whether adapters should take over connections (WithTakeover).
func (h *Hub) Takeover() bool { return h.opt.takeover }

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
