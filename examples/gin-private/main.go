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
	"log"
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
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8082"), "address to listen on")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	hub, r := newApp()
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { hub.Close() })
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("gin-private: %v (choose another with -addr or ADDR)", err)
	}
	fmt.Printf("private notifications: open http://%s/login?user=alice\n", ln.Addr())
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
