// Command fiber-news is a news service on fiber: named events with ids and a
// retry interval. It runs out of news after the last item and says so; the
// page then closes its EventSource, and a late reconnect gets 204 No Content,
// which tells any EventSource to stop reconnecting.
//
//	go run ./examples/fiber-news [-addr 127.0.0.1:8081] [-every 1s]
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/fibersse"
)

//go:embed index.html
var page []byte

var headlines = []string{
	"Local library extends opening hours",
	"Tram line 4 reopens after repairs",
	"City council approves new bike lanes",
	"Harbour festival draws record crowds",
	"Weather: sunny spells, light winds",
}

// newsroom publishes the headlines one by one and remembers them, so that a
// page opened late still shows what came before (the snapshot).
type newsroom struct {
	hub  *core.Hub
	mu   sync.Mutex
	sent []core.Event
	done atomic.Bool
}

func (n *newsroom) snapshot(s *core.Subscriber) ([]core.Event, error) {
	if s.Replay() == core.ReplayHit {
		return nil, nil // a reconnect: it gets exactly what it missed instead
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]core.Event(nil), n.sent...), nil
}

func (n *newsroom) run(ctx context.Context, every time.Duration) {
	for i, h := range headlines {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		e := core.Event{ID: fmt.Sprintf("news-%d", i+1), Type: "headline", Data: h}
		n.mu.Lock()
		n.sent = append(n.sent, e) // the state first, then the event: see core.WithSnapshot
		n.mu.Unlock()
		n.hub.Publish(e, "news")
	}
	end := core.Event{ID: "news-end", Type: "end", Data: "that's all for today"}
	n.mu.Lock()
	n.sent = append(n.sent, end) // a page opened later learns it too
	n.mu.Unlock()
	n.done.Store(true)
	n.hub.Publish(end, "news")
}

func newApp() (*fiber.App, *newsroom) {
	n := &newsroom{}
	n.hub = core.NewHub(core.WithRetry(3*time.Second), core.WithSnapshot(n.snapshot))

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/", func(c *fiber.Ctx) error {
		c.Type("html", "utf-8")
		return c.Send(page)
	})
	app.Get("/news",
		func(c *fiber.Ctx) error {
			if n.done.Load() && (c.Get("Last-Event-ID") != "" || c.Query("lastEventId") != "") {
				return c.SendStatus(fiber.StatusNoContent) // over: stop reconnecting
			}
			return c.Next()
		},
		fibersse.Handler(n.hub, fibersse.Config{Topics: fibersse.Topics("news")}),
	)
	return app, n
}

func main() {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8081"), "address to listen on")
	every := flag.Duration("every", time.Second, "time between headlines")
	flag.Parse()

	app, n := newApp()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go n.run(ctx, *every)
	go func() {
		<-ctx.Done()
		n.hub.Close() // first the streams, then fiber: its OnShutdown hooks run too late
		app.ShutdownWithTimeout(10 * time.Second)
	}()

	fmt.Printf("news: open http://%s/\n", *addr)
	if err := app.Listen(*addr); err != nil {
		log.Fatalf("fiber-news: %v (choose another with -addr or ADDR)", err)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
