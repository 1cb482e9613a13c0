package core

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// A ConnStream is a Stream written straight to an HTTP/1.1 connection an
// adapter has taken over (hijacked): it sends the response head the adapter
// gives it, then the body in chunked encoding, and Close ends the body and
// the connection. It holds a write buffer only while a batch is written, so
// an idle stream costs the socket, the subscriber and nothing else.
type ConnStream struct {
	conn    net.Conn
	head    []byte // the response head, sent with the first flush
	chunked bool
	buf     *[]byte

	// Writes without blocking, for the hub's inline service of parked streams.
	raw   syscall.RawConn // nil: not a plain socket
	out   []byte          // what a non-blocking write left unwritten
	try   []byte          // the chunk being tried
	rawFn func(fd uintptr) bool
	rawN  int
}

// connBufSize is the pooled batch buffer: larger batches go out as several
// chunks of about this size.
const connBufSize = 16 << 10

// chunkRoom is kept free before a chunk's data for its size line ("3ffa\r\n"),
// and 2 bytes after it for its CRLF, so a chunk goes out in one write.
const chunkRoom = 8

var connBufs = sync.Pool{New: func() any { b := make([]byte, 0, connBufSize); return &b }}

// NewConnStream returns a ConnStream on conn. head is the response's status
// line and headers, ending in a blank line. When they declare
// "Transfer-Encoding: chunked" the body is chunked; otherwise it goes out as
// is and ends with the connection (for HTTP/1.0 clients). The hub also
// watches conn for a peer that has gone (see WithTakeover).
func NewConnStream(conn net.Conn, head []byte) *ConnStream {
	chunked := bytes.Contains(bytes.ToLower(head), []byte("\r\ntransfer-encoding: chunked\r\n"))
	c := &ConnStream{conn: conn, head: head, chunked: chunked}
	c.enableRawWrites()
	return c
}

// tryFlush writes what is buffered with one non-blocking write and reports
// whether the socket took it all. What it did not take, for whatever reason,
// stays for the next Flush, which writes it the blocking way and reports the
// error, if any.
func (c *ConnStream) tryFlush() (whole bool) {
	if c.buf == nil {
		return true
	}
	if c.head != nil || c.out != nil {
		return false
	}
	chunk := c.frame()
	c.try, c.rawN = chunk, 0
	c.raw.Write(c.rawFn) // fails without writing, leaving rawN 0, once a deadline has passed
	c.try = nil
	if n := max(c.rawN, 0); n < len(chunk) {
		c.out = append([]byte(nil), chunk[n:]...)
	}
	*c.buf = (*c.buf)[:0]
	connBufs.Put(c.buf)
	c.buf = nil
	return c.out == nil
}

// buffered reports whether Flush has anything to write.
func (c *ConnStream) buffered() bool { return c.buf != nil || c.out != nil }

// Write buffers p, writing out a full chunk.
func (c *ConnStream) Write(p []byte) (int, error) {
	if c.buf == nil {
		c.buf = connBufs.Get().(*[]byte)
		*c.buf = (*c.buf)[:chunkRoom]
	}
	n := len(p)
	for len(p) > 0 {
		b := *c.buf
		if len(b) == cap(b)-2 {
			if err := c.writeOut(); err != nil {
				return n - len(p), err
			}
			continue
		}
		k := copy(b[len(b):cap(b)-2], p)
		*c.buf = b[:len(b)+k]
		p = p[k:]
	}
	return n, nil
}

// Flush writes what is buffered (the head first, once) and gives the buffer back.
func (c *ConnStream) Flush() error {
	if c.buf == nil {
		if c.head == nil && c.out == nil {
			return nil
		}
		c.buf = connBufs.Get().(*[]byte)
		*c.buf = (*c.buf)[:chunkRoom]
	}
	err := c.writeOut()
	*c.buf = (*c.buf)[:0]
	connBufs.Put(c.buf)
	c.buf = nil
	return err
}

// frame returns the buffered data as one chunk, and empties the buffer.
func (c *ConnStream) frame() []byte {
	b := *c.buf
	*c.buf = b[:chunkRoom]
	var chunk []byte
	if n := len(b) - chunkRoom; n > 0 && !c.chunked {
		chunk = b[chunkRoom:]
	} else if n > 0 {
		var size [chunkRoom]byte
		line := append(strconv.AppendInt(size[:0], int64(n), 16), '\r', '\n')
		start := chunkRoom - len(line)
		copy(b[start:], line)
		chunk = append(b, '\r', '\n')[start:]
	}
	return chunk
}

// writeOut frames the buffered data as one chunk and writes it, after the
// head if that has not gone out yet, and after what a non-blocking write left.
func (c *ConnStream) writeOut() error {
	if c.out != nil {
		if _, err := c.conn.Write(c.out); err != nil {
			return err
		}
		c.out = nil
	}
	chunk := c.frame()
	if c.head != nil {
		bufs := net.Buffers{c.head, chunk}
		c.head = nil
		_, err := bufs.WriteTo(c.conn)
		return err
	}
	if len(chunk) == 0 {
		return nil
	}
	_, err := c.conn.Write(chunk)
	return err
}

// Finish ends the chunked body; the connection stays open.
func (c *ConnStream) Finish() error {
	if err := c.Flush(); err != nil || !c.chunked {
		return err
	}
	c.conn.SetWriteDeadline(time.Now().Add(time.Second)) // the peer may be gone
	_, err := c.conn.Write([]byte("0\r\n\r\n"))
	return err
}

// Close ends the body and closes the connection.
func (c *ConnStream) Close() error {
	c.Finish()
	return c.conn.Close()
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
// goroutine of the hub's, straight to the socket; while it is parked, the
// hub's inline writers send it new events without waking it (on plain TCP,
// on Unix). An idle stream then costs a few KiB instead of tens, and each
// delivery less CPU (see the README's Performance section). HTTP/2 streams
// are always served the usual way.
//
// The trade-offs: middleware that acts after the handler returns no longer
// sees the response (adapters do not take over when a compressor has set
// Content-Encoding, so compressed streams keep working); the connection is
// closed when the stream ends, not kept for another request; and a client
// that leaves is noticed by the hub's check of its socket, once
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
