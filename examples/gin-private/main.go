// Command gin-private sends each signed-in user their own notifications:
// the topic comes from the authenticated session, never from the client.
// Signing out ends the user's streams, and the page stops reconnecting.
//
//	go run ./examples/gin-private [-addr 127.0.0.1:8082]
//
// Sign in as alice in one browser and bob in another (/login?user=alice),
// then send a note to one of them: only that user's page shows it.
//
// Behind a load balancer, run several instances on one Redis (-redis or
// REDIS_ADDR): sessions and notes are shared, and signing out on any
// instance ends the user's streams on all of them.
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

// newApp returns the hub and the routes: alone with rdb nil, or sharing
// sessions and events with every instance on rdb's Redis (rdb is the app's,
// closed after the hub).
func newApp(rdb *redis.Client) (*core.Hub, *gin.Engine) {
	opts := []core.Option{
		core.WithRetry(2 * time.Second),
		// A stream's key is its user (Meta, below): hub.End(ctx,
		// core.Selector{Key: user}) ends that user's streams.
		core.WithSubscriberKey(func(s *core.Subscriber) string { user, _ := s.Meta().(string); return user }),
	}
	var store sessionStore = &memSessions{users: map[string]string{}}
	if rdb != nil {
		opts = append(opts, core.WithBroker(redisbroker.NewFromClient(rdb)))
		store = redisSessions{rdb}
	}
	hub := core.NewHub(opts...)

	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { c.Data(http.StatusOK, "text/html; charset=utf-8", page) })
	r.GET("/login", login(store))
	me := r.Group("/", auth(store))
	me.GET("/me", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"user": c.GetString("user")}) })
	me.GET("/notifications", ginsse.Handler(hub, ginsse.Config{
		// The topic is the signed-in user's: no query or header can change it.
		Topics: func(c *gin.Context) ([]string, error) { return []string{"user:" + c.GetString("user")}, nil },
		Meta:   func(c *gin.Context) any { return c.GetString("user") },
	}))
	me.POST("/notify", func(c *gin.Context) {
		to, text := c.PostForm("to"), c.PostForm("text")
		_, err := hub.Publish(core.Event{Type: "note", Data: c.GetString("user") + ": " + text}, "user:"+to)
		if err != nil {
			c.String(http.StatusBadRequest, "%v\n", err)
			return
		}
		c.Status(http.StatusNoContent)
	})
	me.POST("/logout", func(c *gin.Context) {
		user := c.GetString("user")
		// Revoke first: a browser reconnects to an ended stream, and only a
		// refused reconnect (auth's 401) makes it stop.
		if err := store.revoke(c, user); err != nil {
			c.String(http.StatusServiceUnavailable, "not signed out: %v\n", err)
			return
		}
		// Then end the user's streams, on every instance.
		if err := hub.End(c, core.Selector{Key: user}); err != nil {
			c.String(http.StatusServiceUnavailable, "signed out, but streams may stay open: %v\n", err)
			return
		}
		c.Status(http.StatusNoContent) // the cookie now names a session refused everywhere
	})
	return hub, r
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gin-private:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8082"), "address to listen on")
	redisAddr := flag.String("redis", os.Getenv("REDIS_ADDR"), "Redis address shared by several instances (default: none, alone)")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (choose another address with -addr or ADDR)", err)
	}
	fmt.Printf("private notifications: open http://%s/login?user=alice\n", ln.Addr())
	var rdb *redis.Client
	if *redisAddr != "" {
		fmt.Printf("sharing sessions and notes with every instance on Redis at %s\n", *redisAddr)
		rdb = redis.NewClient(&redis.Options{Addr: *redisAddr})
		defer rdb.Close() // after the hub: serve shuts it down
	}
	hub, r := newApp(rdb)
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
