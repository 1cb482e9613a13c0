package ginsse_test

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/ginsse"
)

func ExampleNew() {
	hub := core.NewHub()
	r := gin.New()
	// fetch gets JSON; EventSource gets the live stream of "prices".
	r.GET("/prices", ginsse.New(hub, ginsse.Config{Topics: ginsse.Topics("prices")}),
		func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"price": 42}) })

	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: r}
	srv.RegisterOnShutdown(func() { hub.Close() }) // SSE streams never go idle by themselves
	_, _ = hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
}

func ExampleConfig_topics() {
	hub := core.NewHub()
	r := gin.New()
	r.GET("/rooms/:room/events", ginsse.Handler(hub, ginsse.Config{
		// Only topics the app allows: here, rooms the signed-in user may read.
		Topics: func(c *gin.Context) ([]string, error) {
			if c.GetString("user") == "" {
				return nil, core.Reject(http.StatusUnauthorized, "sign in first")
			}
			return []string{"room:" + c.Param("room")}, nil
		},
	}))
	hub.Close()
}
