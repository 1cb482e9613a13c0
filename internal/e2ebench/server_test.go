package e2ebench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gofiber/fiber/v2"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/fibersse"
	"github.com/ssehub/ssehub/ginsse"
)

// topic is the one topic every client subscribes to.
const topic = "bench"

// An adapter starts a server for hub on 127.0.0.1:0 that streams topic at
// /events, as an app would wire it, and returns its URL and how to stop it.
// opts are the hub options of the variant (core.WithTakeover).
type adapter struct {
	name  string
	start func(tb testing.TB, hub *core.Hub) (url string, stop func())
	opts  []core.Option
}

// Both modes of each adapter, named explicitly whatever the default:
// takeover (the hub writes straight to the hijacked socket) and notakeover
// (the stream stays inside net/http or fasthttp).
var adapters = []adapter{
	{"gin-takeover", startGin, []core.Option{core.WithTakeover(true)}},
	{"fiber-takeover", startFiber, []core.Option{core.WithTakeover(true)}},
	{"gin-notakeover", startGin, []core.Option{core.WithTakeover(false)}},
	{"fiber-notakeover", startFiber, []core.Option{core.WithTakeover(false)}},
}

func listen(tb testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

func startGin(tb testing.TB, hub *core.Hub) (string, func()) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New() // no logger: the benchmark measures the stream, not logging
	r.GET("/events", ginsse.Handler(hub, ginsse.Config{Topics: ginsse.Topics(topic)}))
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { hub.Close() })
	ln := listen(tb)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/events", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("gin server shutdown: %v", err)
			srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("gin server: %v", err)
		}
		hub.Close()
	}
}

func startFiber(tb testing.TB, hub *core.Hub) (string, func()) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	// Not fibersse.Topics(topic): fibersse's serve clones the topic strings
	// into the slice the topic function returns, and Topics returns the same
	// slice to every request, so concurrent connects race on it (go test
	// -race reports it here). A fresh slice per request avoids that.
	topics := func(*fiber.Ctx) ([]string, error) { return []string{topic}, nil }
	app.Get("/events", fibersse.Handler(hub, fibersse.Config{Topics: topics}))
	ln := listen(tb)
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	return "http://" + ln.Addr().String() + "/events", func() {
		hub.Close() // the documented order: the hub first, then the app
		if err := app.ShutdownWithTimeout(20 * time.Second); err != nil {
			tb.Errorf("fiber shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				tb.Errorf("fiber server: %v", err)
			}
		case <-time.After(20 * time.Second):
			tb.Errorf("fiber server did not stop")
		}
	}
}
