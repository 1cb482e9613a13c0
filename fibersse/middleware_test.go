package fibersse_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/logger"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/fibersse"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// serveWith serves /events on hub behind the given middleware.
func serveWith(t *testing.T, hub *core.Hub, mw ...fiber.Handler) string {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	for _, m := range mw {
		app.Use(m)
	}
	app.Get("/events", fibersse.Handler(hub, fibersse.Config{Topics: fibersse.Topics("t")}))
	url := listen(t, app)
	t.Cleanup(func() { hub.Close() }) // runs before listen's cleanup shuts the app down
	return url
}

// TestCompress_StreamIsNotBuffered: behind fiber's compress middleware, a
// stream kept inside fasthttp (no takeover) is compressed, and each event
// still arrives at once; a taken-over stream is sent uncompressed (the
// middleware works after the handler returns), and arrives at once too.
func TestCompress_StreamIsNotBuffered(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		t.Run(fmt.Sprint("takeover=", takeover), func(t *testing.T) {
			hub := core.NewHub(core.WithTakeover(takeover))
			url := serveWith(t, hub, compress.New())

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events", nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport leaves the body compressed
			resp, err := http.DefaultClient.Do(req)
			assert.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, "type", resp.Header.Get("Content-Type"), "text/event-stream")
			want := map[bool]string{false: "gzip", true: ""}[takeover]
			assert.Equal(t, "Content-Encoding", resp.Header.Get("Content-Encoding"), want)

			ssetest.WaitFor(t, 5*time.Second, "subscriber", func() bool { return hub.Subscribers("t") == 1 })
			got := make(chan core.Event, 1)
			go func() {
				var body io.Reader = resp.Body
				if want == "gzip" {
					zr, err := gzip.NewReader(body)
					if err != nil {
						return
					}
					body = zr
				}
				if e, err := core.NewDecoder(body).Next(); err == nil {
					got <- e
				}
			}()
			ssetest.Publish(t, hub, core.Event{Data: "not held back"}, "t")
			select {
			case e := <-got:
				assert.Equal(t, "event", e.Data, "not held back")
			case <-time.After(5 * time.Second):
				t.Fatal("the event is stuck in the compressor")
			}
		})
	}
}

func TestCORS_WithCredentials(t *testing.T) {
	hub := core.NewHub()
	url := serveWith(t, hub, cors.New(cors.Config{AllowOrigins: "http://app.example", AllowCredentials: true}))
	c := ssetest.Open(t, url+"/events", "Origin", "http://app.example")
	assert.Equal(t, "allow origin", c.Resp.Header.Get("Access-Control-Allow-Origin"), "http://app.example")
	assert.Equal(t, "allow credentials", c.Resp.Header.Get("Access-Control-Allow-Credentials"), "true")
	ssetest.WaitFor(t, 5*time.Second, "subscriber", func() bool { return hub.Subscribers("t") == 1 })
	ssetest.Publish(t, hub, core.Event{Data: "cross-origin"}, "t")
	assert.Equal(t, "event", c.Next().Data, "cross-origin")
}

func TestLoggerAndRecover(t *testing.T) {
	hub := core.NewHub()
	var log ssetest.LockedBuffer
	url := serveWith(t, hub, recover.New(), logger.New(logger.Config{Output: &log}))
	c := ssetest.Open(t, url+"/events")
	ssetest.WaitFor(t, 5*time.Second, "subscriber", func() bool { return hub.Subscribers("t") == 1 })
	ssetest.Publish(t, hub, core.Event{Data: "x"}, "t")
	assert.Equal(t, "event through logger", c.Next().Data, "x")
	ssetest.WaitFor(t, 5*time.Second, "the log line", func() bool { return strings.Contains(log.String(), "/events") })
}
