// Command gin-visitors is a live-visitors dashboard: every open page counts as
// a visitor, and every page shows the count as pages open and close.
//
// GET /visitors answers JSON to a plain request and a live stream to
// EventSource: one URL, two representations.
//
//	go run ./examples/gin-visitors [-addr 127.0.0.1:8080]
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/ginsse"
)

//go:embed index.html
var page []byte

// newApp returns the hub and the routes. A visitor is a subscriber of the
// "visitors" topic; the hooks publish the new count whenever one comes or goes.
func newApp() (*core.Hub, *gin.Engine) {
	var hub *core.Hub
	publishCount := func(*core.Subscriber) {
		hub.Publish(core.Event{Type: "count", Data: strconv.Itoa(hub.Subscribers("visitors"))}, "visitors")
	}
	hub = core.NewHub(
		core.WithOnConnect(publishCount),
		core.WithOnDisconnect(func(s *core.Subscriber, _ core.DisconnectReason) { publishCount(s) }),
		core.WithRetry(2*time.Second),
	)

	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { c.Data(http.StatusOK, "text/html; charset=utf-8", page) })
	r.GET("/visitors",
		ginsse.New(hub, ginsse.Config{Topics: ginsse.Topics("visitors")}), // EventSource: a live stream
		func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"visitors": hub.Subscribers("visitors")}) },
	)
	return hub, r
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gin-visitors:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8080"), "address to listen on")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (choose another address with -addr or ADDR)", err)
	}
	fmt.Printf("live visitors: open http://%s/ in a few tabs\n", ln.Addr())
	hub, r := newApp()
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
