package fibersse_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/fibersse"
	"github.com/ssehub/ssehub/internal/ssetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(ssetest.IgnoreFasthttp(),
		// fasthttp's compression workers and fiber's logger clock live for the process.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp/stackless.funcWorker"),
		goleak.IgnoreAnyFunction("github.com/gofiber/fiber/v2/middleware/logger.New.func1"),
	)...)
}

// newApp builds the routes of ssetest.Target on a fiber app.
func newApp(hub *core.Hub) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	news := fibersse.Config{Topics: fibersse.Topics("news")}
	app.Get("/live", fibersse.New(hub, news), func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"snapshot": true}) })
	app.Get("/only", fibersse.Handler(hub, news))
	auth := func(c *fiber.Ctx) error {
		c.Locals("user", c.Get("X-User"))
		return c.Next()
	}
	app.Get("/users/:user/events", auth, fibersse.Handler(hub, fibersse.Config{
		Topics: func(c *fiber.Ctx) ([]string, error) {
			if c.Locals("user") != c.Params("user") {
				return nil, core.Reject(fiber.StatusForbidden, "not yours")
			}
			return []string{"user:" + c.Params("user")}, nil
		},
	}))
	app.Get("/panic", fibersse.Handler(hub, fibersse.Config{
		Topics: func(*fiber.Ctx) ([]string, error) { panic("app bug") },
	}))
	app.Get("/many", fibersse.Handler(hub, fibersse.Config{
		Topics: func(*fiber.Ctx) ([]string, error) {
			var ts []string
			for i := range 100 {
				ts = append(ts, strconv.Itoa(i))
			}
			return ts, nil
		},
	}))
	app.Get("/rooms/:room", fibersse.Handler(hub, fibersse.Config{
		Topics: func(c *fiber.Ctx) ([]string, error) { return []string{"room:" + c.Params("room")}, nil },
	}))
	return app
}

// listen serves app on 127.0.0.1 and returns its URL.
func listen(t *testing.T, app *fiber.App) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		app.Listener(ln)
	}()
	t.Cleanup(func() {
		app.ShutdownWithTimeout(10 * time.Second)
		<-served
	})
	return "http://" + ln.Addr().String()
}

func newTarget(t *testing.T, opts ...core.Option) *ssetest.Target {
	hub := core.NewHub(opts...)
	app := newApp(hub)
	url := listen(t, app)
	shutdown := func(ctx context.Context) error { return fibersse.Shutdown(ctx, app, hub) } // the documented way
	t.Cleanup(func() { hub.Close() })
	// fasthttp gives no sign of a vanished client: the hub's socket check,
	// once a second, or a failed heartbeat write finds it.
	return &ssetest.Target{URL: url, Hub: hub, Shutdown: shutdown, GoneBound: 1500 * time.Millisecond}
}

func TestSuite(t *testing.T) { ssetest.Run(t, newTarget) }

func TestSoak(t *testing.T) { ssetest.Soak(t, newTarget) }

// TestSuite_NoTakeover runs the suite with every stream kept inside the
// framework (core.WithTakeover(false)).
func TestSuite_NoTakeover(t *testing.T) {
	ssetest.Run(t, func(t *testing.T, opts ...core.Option) *ssetest.Target {
		return newTarget(t, append(opts, core.WithTakeover(false))...)
	})
}

// TestOutOfFiles: a fiber app whose process runs out of file descriptors
// keeps serving (fibersse.Listener): refusals past the hub's default cap,
// then streams again.
func TestOutOfFiles(t *testing.T) {
	ssetest.OutOfFiles(t, func(hub *core.Hub) (string, func(context.Context) error) {
		app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute})
		app.Get("/:any", fibersse.Handler(hub, fibersse.Config{Topics: fibersse.Topics("t")}))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- app.Listener(fibersse.Listener(ln)) }()
		return "http://" + ln.Addr().String(), func(ctx context.Context) error {
			err := fibersse.Shutdown(ctx, app, hub)
			if serr := <-served; serr != nil {
				return fmt.Errorf("app.Listener: %w", serr) // it returned early: the app died
			}
			return err
		}
	})
}
