package ginsse

import (
	"bytes"
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
)

// New returns middleware that serves a request as an event stream on hub when
// its Accept header asks for text/event-stream (core.AcceptsEventStream), and
// otherwise passes it to the next handler. So one route can answer fetch with
// JSON and EventSource with live events:
//
//	r.GET("/visitors", ginsse.New(hub), visitorsJSON)
func New(hub *core.Hub, config ...Config) gin.HandlerFunc {
	cfg := configDefault(config)
	return func(c *gin.Context) {
		if (cfg.Next != nil && cfg.Next(c)) || !core.AcceptsEventStream(c.GetHeader("Accept")) {
			c.Next()
			return
		}
		serve(c, hub, cfg)
		c.Abort()
	}
}

// Handler returns a handler that serves every request as an event stream,
// whatever its Accept header, for routes that only stream.
func Handler(hub *core.Hub, config ...Config) gin.HandlerFunc {
	cfg := configDefault(config)
	return func(c *gin.Context) {
		if cfg.Next != nil && cfg.Next(c) {
			c.Next()
			return
		}
		serve(c, hub, cfg)
		c.Abort()
	}
}

// serve runs one stream on the request's goroutine until it ends.
func serve(c *gin.Context, hub *core.Hub, cfg Config) {
	topics, err := core.CallTopicsFunc(hub, cfg.Topics, c)
	var sub *core.Subscriber
	if err == nil {
		lastID := c.GetHeader("Last-Event-ID")
		if lastID == "" {
			lastID = c.Query("lastEventId") // for clients that cannot set headers
		}
		sub, err = hub.Subscribe(core.Subscription{
			Topics:      topics,
			LastEventID: lastID,
			ClientAddr:  cfg.ClientAddr(c),
			Meta:        cfg.Meta(c),
		})
	}
	if err != nil {
		status, body := core.HTTPStatus(err)
		if status == http.StatusServiceUnavailable {
			c.Header("Retry-After", core.RetryAfterSeconds)
		}
		c.String(status, "ssehub: %s\n", body)
		return
	}

	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Del("Content-Length")
	if c.Request.ProtoMajor == 1 {
		h.Set("Connection", "keep-alive") // forbidden in HTTP/2
	}
	c.Status(http.StatusOK)
	if hub.Takeover() && c.Request.ProtoMajor == 1 && h.Get("Content-Encoding") == "" && takeOver(c, sub) {
		return
	}
	if err := sub.Serve(c.Request.Context(), newStream(c.Writer)); err != nil {
		c.Error(err) // visible to gin's logger; the hub has counted it
	}
}

// hopByHop are the headers a taken-over response sets itself.
var hopByHop = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Connection": true}

// takeOver hijacks the connection and serves the stream on a goroutine of
// its own, so that net/http's goroutine and buffers are released (see
// core.WithTakeover). The response is chunked HTTP/1.1, as net/http's is.
func takeOver(c *gin.Context, sub *core.Subscriber) bool {
	conn, _, err := c.Writer.Hijack()
	if err != nil {
		return false
	}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	c.Writer.Header().WriteSubset(&head, hopByHop)
	if c.Request.ProtoAtLeast(1, 1) {
		head.WriteString("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
	} else {
		head.WriteString("Connection: close\r\n\r\n") // HTTP/1.0 reads to the end of the connection
	}
	stream := core.NewConnStream(conn, head.Bytes()) // the head goes out with Serve's first flush
	go func() {                                      // ends with the stream: the hub's Shutdown waits for it
		sub.Serve(context.Background(), stream)
		stream.Close()
	}()
	return true
}
