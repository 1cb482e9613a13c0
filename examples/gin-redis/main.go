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
	"log"
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
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8083"), "address to listen on")
	redisAddr := flag.String("redis", envOr("REDIS_ADDR", "127.0.0.1:6379"), "Redis address")
	name := flag.String("name", envOr("NAME", "a"), "this instance's name, shown with its messages")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	hub, r := newApp(*redisAddr, *name)
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { hub.Close() })
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("gin-redis: %v (choose another with -addr or ADDR)", err)
	}
	fmt.Printf("instance %s: open http://%s/ (Redis at %s)\n", *name, ln.Addr(), *redisAddr)
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	stop, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-stop.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx) // closes the hub through RegisterOnShutdown
	hub.Shutdown(ctx) // and waits for the streams: taken-over connections are not net/http's to wait for
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
