// Command gin-visitors is a live-visitors dashboard: every open page counts as
// a visitor, and every page shows the count as pages open and close.
//
// GET /visitors answers JSON to a plain request and a live stream to
// EventSource: one URL, two representations.
//
//	go run ./examples/gin-visitors [-addr 127.0.0.1:8080]
//
// Behind a load balancer, run several instances on one Redis (-redis or
// REDIS_ADDR): every page then shows the visitors of all of them.
//
//	go run ./examples/gin-visitors -addr 127.0.0.1:8080 -redis 127.0.0.1:6379 &
//	go run ./examples/gin-visitors -addr 127.0.0.1:8081 -redis 127.0.0.1:6379 &
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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/core/sseprom"
	"github.com/ssehub/ssehub/ginsse"
)

//go:embed index.html
var page []byte

// newApp returns the hub and the routes. A visitor is a stream on the
// "visitors" topic. With a Redis address the hub counts the visitors of every
// instance on that Redis; with "" it counts its own.
func newApp(redisAddr string) (*core.Hub, *gin.Engine) {
	isVisitors := func(topic string) bool { return topic == "visitors" }
	count := func(n int) core.Event { return core.Event{Type: "count", Data: strconv.Itoa(n)} }
	var hub *core.Hub
	opts := []core.Option{
		// When the count changes, every instance sends it to its own pages.
		core.WithPresence(isVisitors, func(hub *core.Hub, topic string, n int) {
			hub.PublishLocal(count(n), topic)
		}),
		// A page that connects, or reconnects, gets the count now, not old ones.
		core.WithNoHistory(isVisitors),
		core.WithSnapshot(func(*core.Subscriber) ([]core.Event, error) {
			return []core.Event{count(hub.Count("visitors"))}, nil
		}),
		core.WithRetry(2 * time.Second),
	}
	if redisAddr != "" {
		opts = append(opts, core.WithBroker(redisbroker.New(&redis.Options{Addr: redisAddr})))
	}
	hub = core.NewHub(opts...)

	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { c.Data(http.StatusOK, "text/html; charset=utf-8", page) })
	r.GET("/visitors",
		ginsse.New(hub, ginsse.Config{Topics: ginsse.Topics("visitors")}), // EventSource: a live stream
		func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"visitors": hub.Count("visitors")}) },
	)
	metrics := prometheus.NewRegistry() // the hub's figures, read at each scrape
	metrics.MustRegister(sseprom.NewCollector(hub, sseprom.WithTopics("visitors")))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(metrics, promhttp.HandlerOpts{})))
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
	redisAddr := flag.String("redis", os.Getenv("REDIS_ADDR"), "Redis address shared by several instances (default: none, count alone)")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (choose another address with -addr or ADDR)", err)
	}
	fmt.Printf("live visitors: open http://%s/ in a few tabs\n", ln.Addr())
	if *redisAddr != "" {
		fmt.Printf("counting the visitors of every instance on Redis at %s\n", *redisAddr)
	}
	hub, r := newApp(*redisAddr)
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
