package ginsse

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/httpsse"
	"github.com/ssehub/ssehub/internal/transport"
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
		if cfg.Next != nil && cfg.Next(c) {
			c.Next()
			return
		}
		transport.VaryAccept(c.Writer.Header()) // the stream, the JSON and refusals alike
		if !core.AcceptsEventStream(c.GetHeader("Accept")) {
			c.Next()
			return
		}
		serve(c, hub, cfg)
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
	}
}

// serve hands the request to httpsse with the app's functions bound to c.
func serve(c *gin.Context, hub *core.Hub, cfg Config) {
	httpsse.Serve(c.Writer, c.Request, hub, httpsse.Config{
		Topics:     func(*http.Request) ([]string, error) { return cfg.Topics(c) },
		Meta:       func(*http.Request) any { return cfg.Meta(c) },
		ClientAddr: func(*http.Request) string { return cfg.ClientAddr(c) },
	})
	c.Abort()
}

// Shutdown shuts srv and hub down together (see httpsse.Shutdown): an SSE
// stream never goes idle, so srv.Shutdown alone would wait for it.
func Shutdown(ctx context.Context, srv *http.Server, hub *core.Hub) error {
	return httpsse.Shutdown(ctx, srv, hub)
}
