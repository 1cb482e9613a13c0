// Command gin-redis is one instance of a chat that runs as several instances
// sharing Redis: a message posted to any instance reaches every page on every
// instance, with the same ids, so a page that reconnects to another instance
// resumes where it was.
//
//	redis-server --port 6379 &
//	go run ./examples/gin-redis -addr 127.0.0.1:8083 -name a &
//	go run ./examples/gin-redis -addr 127.0.0.1:8084 -name b &
//	open http://127.0.0.1:8083/ and http://127.0.0.1:8084/, post on either
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/ginsse"
)

//go:embed index.html
var page []byte

func newApp(redisAddr, name string) (*core.Hub, *gin.Engine) {
	logger := slog.Default()
	broker := redisbroker.New(&redis.Options{Addr: redisAddr}, redisbroker.WithLogger(logger))
	hub := core.NewHub(core.WithBroker(broker), core.WithRetry(time.Second), core.WithLogger(logger))

	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { c.Data(http.StatusOK, "text/html; charset=utf-8", page) })
	r.GET("/messages", ginsse.Handler(hub, ginsse.Config{Topics: ginsse.Topics("chat")}))
	r.POST("/messages", func(c *gin.Context) {
		text := c.PostForm("text")
		if text == "" || len(text) > 1000 {
			c.String(http.StatusBadRequest, "text: 1 to 1000 bytes\n")
			return
		}
		// Publish goes through Redis: every instance, this one too, serves it.
		if _, err := hub.PublishContext(c, core.Event{Type: "message", Data: name + ": " + text}, "chat"); err != nil {
			c.String(http.StatusServiceUnavailable, "not sent: %v\n", err) // Redis is down: say so
			return
		}
		c.Status(http.StatusNoContent)
	})
	r.GET("/stats", func(c *gin.Context) { c.JSON(http.StatusOK, hub.Stats()) })
	return hub, r
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gin-redis:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8083"), "address to listen on")
	redisAddr := flag.String("redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis address")
	name := flag.String("name", envOr("NAME", "a"), "this instance's name, shown with its messages")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (choose another address with -addr or ADDR)", err)
	}
	fmt.Printf("instance %s: open http://%s/ (Redis at %s)\n", *name, ln.Addr(), *redisAddr)
	hub, r := newApp(*redisAddr, *name)
	return serve(ctx, ln, r, hub)
}

// serve serves h on ln until ctx ends, then shuts the server and the hub down
// together, within 10 seconds.
func serve(ctx context.Context, ln net.Listener, h http.Handler, hub *core.Hub) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: it would end every stream when it expires. The hub
		// sets a deadline on each write instead (core.WithWriteTimeout).
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served: // the listener failed
		hub.Close()
		return err
	case <-ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := ginsse.Shutdown(ctx, srv, hub) // streams never go idle: Shutdown ends them
	<-served                              // http.ErrServerClosed
	return err
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
