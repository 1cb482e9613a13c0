// Command gin-private sends each signed-in user their own notifications:
// the topic comes from the authenticated session, never from the client.
//
//	go run ./examples/gin-private [-addr 127.0.0.1:8082]
//
// Sign in as alice in one browser and bob in another (/login?user=alice),
// then send a note to one of them: only that user's page shows it.
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/ginsse"
)

//go:embed index.html
var page []byte

// sessions maps session tokens to user names: a stand-in for your auth.
type sessions struct {
	mu    sync.Mutex
	users map[string]string
}

func (s *sessions) login(c *gin.Context) {
	user := c.Query("user")
	if user == "" || len(user) > 32 {
		c.String(http.StatusBadRequest, "login?user=NAME (1 to 32 bytes)\n")
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	token := hex.EncodeToString(b)
	s.mu.Lock()
	s.users[token] = user
	s.mu.Unlock()
	c.SetCookie("session", token, 3600, "/", "", false, true)
	c.Redirect(http.StatusSeeOther, "/")
}

// auth puts the signed-in user on the context, as your auth middleware would.
func (s *sessions) auth(c *gin.Context) {
	token, _ := c.Cookie("session")
	s.mu.Lock()
	user, ok := s.users[token]
	s.mu.Unlock()
	if !ok {
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "sign in at /login?user=NAME"})
		return
	}
	c.Set("user", user)
}

func newApp() (*core.Hub, *gin.Engine) {
	hub := core.NewHub(core.WithRetry(2 * time.Second))
	s := &sessions{users: map[string]string{}}

	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/", func(c *gin.Context) { c.Data(http.StatusOK, "text/html; charset=utf-8", page) })
	r.GET("/login", s.login)
	me := r.Group("/", s.auth)
	me.GET("/me", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"user": c.GetString("user")}) })
	me.GET("/notifications", ginsse.Handler(hub, ginsse.Config{
		// The topic is the signed-in user's: no query or header can change it.
		Topics: func(c *gin.Context) ([]string, error) { return []string{"user:" + c.GetString("user")}, nil },
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
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (choose another address with -addr or ADDR)", err)
	}
	fmt.Printf("private notifications: open http://%s/login?user=alice\n", ln.Addr())
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
