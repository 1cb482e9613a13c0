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
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
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
// page opened late still shows what came before (the snapshot), and a plain
// GET gets them as JSON.
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

// run publishes a headline at each tick, and the end after the last one.
func (n *newsroom) run(ctx context.Context, tick <-chan time.Time) {
	for i, h := range headlines {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		if !n.publish(core.Event{ID: fmt.Sprintf("news-%d", i+1), Type: "headline", Data: h}) {
			return
		}
	}
	n.done.Store(true)
	n.publish(core.Event{ID: "news-end", Type: "end", Data: "that's all for today"})
}

// publish keeps e for the snapshot and the JSON, then publishes it.
func (n *newsroom) publish(e core.Event) bool {
	n.mu.Lock()
	n.sent = append(n.sent, e) // the state first, then the event: see core.WithSnapshot
	n.mu.Unlock()
	if _, err := n.hub.Publish(e, "news"); err != nil {
		log.Printf("fiber-news: %v", err) // the hub is shut down
		return false
	}
	return true
}

// list answers a plain GET /news: the events so far, as JSON.
func (n *newsroom) list(c *fiber.Ctx) error {
	n.mu.Lock()
	list := make([]fiber.Map, len(n.sent))
	for i, e := range n.sent {
		list[i] = fiber.Map{"id": e.ID, "type": e.Type, "data": e.Data}
	}
	n.mu.Unlock()
	return c.JSON(list)
}

func newApp() (*fiber.App, *newsroom) {
	n := &newsroom{}
	n.hub = core.NewHub(core.WithRetry(3*time.Second), core.WithSnapshot(n.snapshot))

	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		IdleTimeout:           2 * time.Minute,
		// No WriteTimeout: it would end every stream when it expires. The hub
		// sets a deadline on each write instead (core.WithWriteTimeout).
	})
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
		fibersse.New(n.hub, fibersse.Config{Topics: fibersse.Topics("news")}), // EventSource: the live stream
		n.list, // a plain GET: JSON
	)
	return app, n
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fiber-news:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8081"), "address to listen on")
	every := flag.Duration("every", time.Second, "time between headlines")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (choose another address with -addr or ADDR)", err)
	}
	fmt.Printf("news: open http://%s/\n", ln.Addr())
	app, n := newApp()
	ticker := time.NewTicker(*every)
	defer ticker.Stop()
	go n.run(ctx, ticker.C)
	return serve(ctx, ln, app, n.hub)
}

// serve serves app on ln until ctx ends, then shuts the hub and the app down,
// in that order, within 10 seconds.
func serve(ctx context.Context, ln net.Listener, app *fiber.App, hub *core.Hub) error {
	served := make(chan error, 1)
	// fibersse.Listener: fasthttp would stop serving for good when the process
	// runs out of file descriptors; this waits and retries, as net/http does.
	go func() { served <- app.Listener(fibersse.Listener(ln)) }()
	select {
	case err := <-served: // the listener failed
		hub.Close()
		return err
	case <-ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := fibersse.Shutdown(ctx, app, hub) // the streams first: fiber's OnShutdown hooks run too late
	return errors.Join(err, <-served)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
