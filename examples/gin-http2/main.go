// Command gin-http2 serves a live clock over HTTP/2, which lifts the browser's
// limit of six HTTP/1.1 connections per origin: open the page in eight tabs
// and every one stays live. With -plain it serves the same app over HTTP/1.1,
// where the seventh tab waits until another closes.
//
// Browsers speak HTTP/2 only over TLS. Without -cert and -key, a self-signed
// certificate for 127.0.0.1 and localhost is made at start and kept in memory;
// the browser warns about it.
//
//	go run ./examples/gin-http2 [-addr 127.0.0.1:8443] [-cert cert.pem -key key.pem] [-plain]
package main

import (
	"context"
	"crypto/tls"
	_ "embed"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/ginsse"
)

//go:embed index.html
var page []byte

// newApp returns the hub and the routes: the page, and /clock, the stream of
// the server's time. A reconnecting page wants the time now, not the ticks it
// missed: the topic keeps no history.
func newApp() (*core.Hub, *gin.Engine) {
	hub := core.NewHub(
		core.WithNoHistory(func(string) bool { return true }),
		core.WithRetry(2*time.Second),
	)
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { c.Data(http.StatusOK, "text/html; charset=utf-8", page) })
	r.GET("/clock", ginsse.Handler(hub, ginsse.Config{Topics: ginsse.Topics("clock")}))
	return hub, r
}

// tick publishes the time every second until ctx ends or the hub closes.
func tick(ctx context.Context, hub *core.Hub) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			if _, err := hub.Publish(core.Event{Type: "time", Data: now.Format(time.TimeOnly)}, "clock"); err != nil {
				return // core.ErrClosed
			}
		}
	}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gin-http2:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8443"), "address to listen on")
	certFile := flag.String("cert", "", "TLS certificate, PEM (default: a self-signed one, made now)")
	keyFile := flag.String("key", "", "the certificate's private key, PEM")
	plain := flag.Bool("plain", false, "serve HTTP/1.1 without TLS, to see the six-connection limit")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	var tlsConfig *tls.Config // nil: plain HTTP/1.1
	hint := "live clock over HTTP/1.1: open http://%s/ in seven tabs; the seventh waits until another closes\n"
	if !*plain {
		cert, err := certificate(*certFile, *keyFile)
		if err != nil {
			return err
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		hint = "live clock over HTTP/2: open https://%s/ in eight tabs; all stay live\n"
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (choose another address with -addr or ADDR)", err)
	}
	fmt.Printf(hint, ln.Addr())
	hub, r := newApp()
	ticked := make(chan struct{})
	go func() { defer close(ticked); tick(ctx, hub) }()
	err = serve(ctx, ln, r, hub, tlsConfig)
	stop() // ends tick, if serve returned on its own
	<-ticked
	return err
}

// serve serves h on ln until ctx ends, over TLS with HTTP/2 when tlsConfig
// is set, and otherwise plain HTTP/1.1; then it shuts the server and the hub
// down together, within 10 seconds.
func serve(ctx context.Context, ln net.Listener, h http.Handler, hub *core.Hub, tlsConfig *tls.Config) error {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: it would end every stream when it expires. The hub
		// sets a deadline on each write instead (core.WithWriteTimeout).
	}
	served := make(chan error, 1)
	go func() {
		if tlsConfig == nil {
			served <- srv.Serve(ln)
			return
		}
		served <- srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig; ALPN offers h2 first
	}()
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
