package ginsse_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/ginsse"
)

// One URL: fetch gets JSON, EventSource the live stream.
func ExampleNew() {
	hub := core.NewHub()
	r := gin.New()
	r.GET("/prices", ginsse.New(hub, ginsse.Config{Topics: ginsse.Topics("prices")}),
		func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"price": 42}) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer ginsse.Shutdown(context.Background(), srv, hub) // the streams end, then the server stops

	url := "http://" + ln.Addr().String() + "/prices"
	resp, err := http.Get(url)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream") // as EventSource sends it
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	hub.Publish(core.Event{Type: "price", Data: "43"}, "prices")
	e, _ := core.NewDecoder(resp.Body).Next()
	fmt.Println(e.Type, e.Data)
	// Output:
	// {"price":42}
	// price 43
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
