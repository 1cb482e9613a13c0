package fibersse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/transport"
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
		if cfg.Next != nil && cfg.Next(c) {
			return c.Next()
		}
		// The stream, the JSON and refusals alike vary by Accept.
		if !core.AcceptsEventStream(c.Get(fiber.HeaderAccept)) {
			defer c.Vary(fiber.HeaderAccept) // after the handler: merged with a Vary it set
			return c.Next()
		}
		c.Vary(fiber.HeaderAccept)
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

// serve subscribes while the request is ours, then streams after the handler
// returns (fasthttp's body stream writer, or a connection taken over): by
// then c is recycled, so what the stream needs is copied out first.
func serve(c *fiber.Ctx, hub *core.Hub, cfg Config) error {
	sub, err := transport.Subscribe(hub, func() (core.Subscription, error) {
		topics, err := cfg.Topics(c)
		if err != nil {
			return core.Subscription{}, err
		}
		return core.Subscription{ // copies: fiber reuses the memory of strings taken from c
			Topics:      transport.CloneStrings(topics),
			LastEventID: strings.Clone(transport.LastEventID(c.Get("Last-Event-ID"), func(k string) string { return c.Query(k) })),
			ClientAddr:  strings.Clone(cfg.ClientAddr(c)),
			Meta:        cfg.Meta(c),
		}, nil
	})
	if err != nil {
		status, body := transport.Refusal(err)
		if status == fiber.StatusServiceUnavailable { // come back later, and free the socket now
			c.Set(fiber.HeaderRetryAfter, transport.RetryAfter())
			c.Set(fiber.HeaderConnection, "close")
		}
		return c.Status(status).SendString(body)
	}
	for _, kv := range transport.Headers {
		c.Set(kv[0], kv[1])
	}
	c.Set(fiber.HeaderConnection, "keep-alive")
	rc := c.Context()
	// RequestCtx.Done is the server's, not the request's: it ends with
	// app.Shutdown, and is the only piece of rc that outlives the handler.
	conn, ctx := rc.Conn(), transport.DoneContext(rc.Done())
	if transport.Takeover(hub) && len(rc.Response.Header.Peek(fiber.HeaderContentEncoding)) == 0 {
		head := transport.Head(func(yield func(k, v string)) {
			rc.Response.Header.VisitAll(func(k, v []byte) { yield(string(k), string(v)) })
		}, rc.Request.Header.IsHTTP11())
		rc.HijackSetNoResponse(true)
		rc.Hijack(func(net.Conn) {
			// On plain TCP the stream keeps a duplicate of the socket and this
			// returns, so fasthttp frees the request's reader and context.
			if own, err := transport.Detach(conn); err == nil {
				transport.ServeConn(ctx, sub, own, head)
				return
			}
			stream := transport.NewConnStream(conn, head) // TLS, say: fasthttp closes conn after
			sub.Serve(ctx, stream)
			stream.Finish()
		})
		return nil
	}
	// Serve's first flush sends the headers with the stream's first bytes.
	rc.SetBodyStreamWriter(func(w *bufio.Writer) { sub.Serve(ctx, &stream{Writer: w, conn: conn}) })
	return nil
}

// stream is the core.Stream of one response: fasthttp's writer, and the
// connection for deadlines and the hub's check for a client that left
// (fasthttp notices only at a failed write). fasthttp copies the bytes to the
// connection on another goroutine, so a write that times out there shows up
// here as a closed pipe; stream reports it as the deadline it was.
type stream struct {
	*bufio.Writer
	conn     net.Conn
	deadline time.Time
}

func (s *stream) SetWriteDeadline(t time.Time) error {
	s.deadline = t
	return s.conn.SetWriteDeadline(t)
}
func (s *stream) Write(p []byte) (int, error) { n, err := s.Writer.Write(p); return n, s.explain(err) }
func (s *stream) Flush() error                { return s.explain(s.Writer.Flush()) }
func (s *stream) NetConn() net.Conn           { return s.conn }

func (s *stream) explain(err error) error {
	if err != nil && !s.deadline.IsZero() && time.Now().After(s.deadline) {
		return fmt.Errorf("%w: %w", os.ErrDeadlineExceeded, err)
	}
	return err
}

// Listener wraps ln so that the app keeps serving when the process runs out
// of file descriptors: fasthttp takes a failed accept (EMFILE) for the end
// of serving, and app.Listener would return. Accept waits and retries
// instead, as net/http does. Serve with app.Listener(fibersse.Listener(ln)).
func Listener(ln net.Listener) net.Listener { return transport.RetryListener(ln) }

// Shutdown shuts hub and then app down, in the only order that works: fiber's
// App.Shutdown waits for open connections, and runs its OnShutdown hooks only
// after that. The hub ends every stream (after its shutdown event); then the
// app stops. Both are bounded by ctx; their errors are joined.
func Shutdown(ctx context.Context, app *fiber.App, hub *core.Hub) error {
	err := hub.Shutdown(ctx)
	return errors.Join(err, app.ShutdownWithContext(ctx))
}
