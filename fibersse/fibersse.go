package fibersse

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ssehub/ssehub/core"
	"github.com/valyala/fasthttp"
)

// New returns middleware that serves a request as an event stream on hub when
// its Accept header asks for text/event-stream (core.AcceptsEventStream), and
// otherwise passes it to the next handler. So one route can answer fetch with
// JSON and EventSource with live events:
//
//	app.Get("/visitors", fibersse.New(hub), visitorsJSON)
func New(hub *core.Hub, config ...Config) fiber.Handler {
	cfg := configDefault(config)
	return func(c *fiber.Ctx) error {
		if (cfg.Next != nil && cfg.Next(c)) || !core.AcceptsEventStream(c.Get(fiber.HeaderAccept)) {
			return c.Next()
		}
		return serve(c, hub, cfg)
	}
}

// Handler returns a handler that serves every request as an event stream,
// whatever its Accept header, for routes that only stream.
func Handler(hub *core.Hub, config ...Config) fiber.Handler {
	cfg := configDefault(config)
	return func(c *fiber.Ctx) error {
		if cfg.Next != nil && cfg.Next(c) {
			return c.Next()
		}
		return serve(c, hub, cfg)
	}
}

// serve subscribes while the request is ours, then hands the stream to
// fasthttp's body stream writer, which runs after the handler returns: by
// then c is recycled, so everything the stream needs is copied out first.
func serve(c *fiber.Ctx, hub *core.Hub, cfg Config) error {
	topics, err := core.CallTopicsFunc(hub, cfg.Topics, c)
	var sub *core.Subscriber
	if err == nil {
		// Copies: fiber reuses the memory of strings taken from c, and the
		// function's slice may be shared (Topics returns the same one).
		owned := make([]string, len(topics))
		for i, t := range topics {
			owned[i] = strings.Clone(t)
		}
		topics = owned
		lastID := c.Get("Last-Event-ID")
		if lastID == "" {
			lastID = c.Query("lastEventId") // for clients that cannot set headers
		}
		sub, err = hub.Subscribe(core.Subscription{
			Topics:      topics,
			LastEventID: strings.Clone(lastID),
			ClientAddr:  strings.Clone(cfg.ClientAddr(c)),
			Meta:        cfg.Meta(c),
		})
	}
	if err != nil {
		status, body := core.HTTPStatus(err)
		if status == fiber.StatusServiceUnavailable {
			c.Set(fiber.HeaderRetryAfter, core.RetryAfterSeconds)
		}
		return c.Status(status).SendString("ssehub: " + body + "\n")
	}

	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Set(fiber.HeaderConnection, "keep-alive")
	rc := c.Context()
	conn := rc.Conn()
	ctx := serverContext{done: rc.Done()} // closed by app.Shutdown
	if hub.Takeover() && len(rc.Response.Header.Peek(fiber.HeaderContentEncoding)) == 0 {
		head := responseHead(&rc.Response.Header, rc.Request.Header.IsHTTP11())
		rc.HijackSetNoResponse(true)
		rc.Hijack(func(net.Conn) {
			own, err := detach(conn)
			if err != nil { // TLS, say: serve here, and fasthttp closes conn after
				stream := core.NewConnStream(conn, head) // the head goes out with Serve's first flush
				sub.Serve(ctx, stream)
				stream.Finish()
				return
			}
			stream := core.NewConnStream(own, head)
			go func() { // ends with the stream: the hub's Shutdown waits for it
				sub.Serve(ctx, stream)
				stream.Close()
			}()
			// Returning lets fasthttp close its handle on the socket (ours
			// keeps it open) and free the request's reader and context,
			// which it holds until a hijack handler returns.
		})
		return nil
	}
	rc.Response.ImmediateHeaderFlush = true // headers out before the first event
	rc.SetBodyStreamWriter(func(w *bufio.Writer) {
		sub.Serve(ctx, &stream{Writer: w, conn: conn})
	})
	return nil
}

// detach returns a connection of the stream's own on the same socket (a
// duplicate descriptor), for plain TCP; other connections (TLS) cannot be
// shared this way.
func detach(c net.Conn) (net.Conn, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("fibersse: cannot detach a %T", c)
	}
	f, err := tc.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileConn(f)
}

// responseHead renders the response headers set so far (the middleware's
// too) for a taken-over stream: chunked HTTP/1.1, as fasthttp's is, or for
// an HTTP/1.0 client a body that ends with the connection.
func responseHead(h *fasthttp.ResponseHeader, http11 bool) []byte {
	b := []byte("HTTP/1.1 200 OK\r\n")
	h.VisitAll(func(k, v []byte) {
		switch string(k) {
		case fiber.HeaderContentLength, fiber.HeaderTransferEncoding, fiber.HeaderConnection:
			return
		}
		b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
	})
	if !http11 { // HTTP/1.0 reads to the end of the connection
		return append(b, "Connection: close\r\n\r\n"...)
	}
	return append(b, "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"...)
}

// stream is the core.Stream of one response: fasthttp's writer, and the
// connection for deadlines. fasthttp copies the bytes to the connection on
// another goroutine, so a write that times out there shows up here as a
// closed pipe; stream reports it as the deadline it was.
type stream struct {
	*bufio.Writer
	conn     net.Conn
	deadline time.Time
}

func (s *stream) SetWriteDeadline(t time.Time) error {
	s.deadline = t
	return s.conn.SetWriteDeadline(t)
}

func (s *stream) Write(p []byte) (int, error) {
	n, err := s.Writer.Write(p)
	return n, s.explain(err)
}

func (s *stream) Flush() error { return s.explain(s.Writer.Flush()) }

// NetConn gives the hub the socket, which it checks for a client that left:
// fasthttp itself would only notice at a failed write.
func (s *stream) NetConn() net.Conn { return s.conn }

func (s *stream) explain(err error) error {
	if err != nil && !s.deadline.IsZero() && time.Now().After(s.deadline) {
		return fmt.Errorf("%w: %w", os.ErrDeadlineExceeded, err)
	}
	return err
}

// serverContext is a context.Context that ends when the fasthttp server
// shuts down: RequestCtx.Done is the server's, not the request's, and the
// only piece of it that outlives the handler.
type serverContext struct{ done <-chan struct{} }

func (c serverContext) Done() <-chan struct{} { return c.done }

func (c serverContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

func (c serverContext) Value(any) any { return nil }

func (c serverContext) Deadline() (time.Time, bool) { return time.Time{}, false }
