package transport

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"time"
)

// A ConnStream is a core.Stream written straight to an HTTP/1.1 connection an
// adapter has taken over (hijacked): it sends the response head the adapter
// gives it, then the body in chunked encoding, and Close ends the body and
// the connection. It holds a write buffer only while a batch is written, so
// an idle stream costs the socket, the subscriber and nothing else.
type ConnStream struct {
	conn    net.Conn
	head    []byte // the response head, sent with the first flush
	chunked bool
	buf     *[]byte
}

// connBufSize is the pooled batch buffer: larger batches go out as several
// chunks of about this size.
const connBufSize = 16 << 10

// chunkRoom is kept free before a chunk's data for its size line ("3ffa\r\n"),
// and 2 bytes after it for its CRLF, so a chunk goes out in one write.
const chunkRoom = 8

var connBufs = sync.Pool{New: func() any { b := make([]byte, 0, connBufSize); return &b }}

// NewConnStream returns a ConnStream on conn. head is the response's status
// line and headers, as Head renders them: when they end the HTTP/1.1 way,
// the body is chunked; otherwise it goes out as is and ends with the
// connection (for HTTP/1.0 clients).
func NewConnStream(conn net.Conn, head []byte) *ConnStream {
	return &ConnStream{conn: conn, head: head, chunked: bytes.HasSuffix(head, []byte(chunkedEnd))}
}

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
		if c.head == nil {
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

// writeOut frames the buffered data as one chunk and writes it, after the
// head if that has not gone out yet.
func (c *ConnStream) writeOut() error {
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

// NetConn returns the connection, which the hub checks for a peer that left.
func (c *ConnStream) NetConn() net.Conn { return c.conn }

// OwnsConn says that nothing else reads the connection, so the hub's check
// may read and drop what the client sends.
func (c *ConnStream) OwnsConn() bool { return true }
