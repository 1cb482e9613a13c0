package fibersse_test

import (
	"github.com/gofiber/fiber/v2"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/fibersse"
)

func ExampleNew() {
	hub := core.NewHub()
	app := fiber.New()
	// fetch gets JSON; EventSource gets the live stream of "prices".
	app.Get("/prices", fibersse.New(hub, fibersse.Config{Topics: fibersse.Topics("prices")}),
		func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"price": 42}) })
	_, _ = hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")

	hub.Close() // first the streams,
	app.Shutdown()
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
