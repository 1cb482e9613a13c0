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
	"log"
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
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/sseprom"
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
	metrics := prometheus.NewRegistry() // the hub's figures, read at each scrape
	metrics.MustRegister(sseprom.NewCollector(hub, sseprom.WithTopics("visitors")))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(metrics, promhttp.HandlerOpts{})))
	return hub, r
}

func main() {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8080"), "address to listen on")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	hub, r := newApp()
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { hub.Close() }) // streams never go idle: end them first

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("gin-visitors: %v (choose another with -addr or ADDR)", err)
	}
	fmt.Printf("live visitors: open http://%s/ in a few tabs\n", ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()

	stop, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-stop.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil { // closes the hub through RegisterOnShutdown
		log.Printf("shutdown: %v", err)
	}
	hub.Shutdown(ctx) // and waits for the streams: taken-over connections are not net/http's to wait for
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
