package fibersse_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/fibersse"
)

// One URL: fetch gets JSON, EventSource the live stream.
func ExampleNew() {
	hub := core.NewHub()
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute})
	app.Get("/prices", fibersse.New(hub, fibersse.Config{Topics: fibersse.Topics("prices")}),
		func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"price": 42}) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go app.Listener(fibersse.Listener(ln))                  // keeps serving when out of file descriptors
	defer fibersse.Shutdown(context.Background(), app, hub) // the streams end, then the app stops

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
	app := fiber.New()
	app.Get("/rooms/:room/events", fibersse.Handler(hub, fibersse.Config{
		// Only topics the app allows: here, rooms the signed-in user may read.
		Topics: func(c *fiber.Ctx) ([]string, error) {
			user, _ := c.Locals("user").(string)
			if user == "" {
				return nil, core.Reject(fiber.StatusUnauthorized, "sign in first")
			}
			return []string{"room:" + c.Params("room")}, nil
		},
	}))
	_ = app
	hub.Close()
}
