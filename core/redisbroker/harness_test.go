package redisbroker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// An instance is one app instance: a hub on a Redis broker, served by a real
// HTTP server.
type instance struct {
	hub    *core.Hub
	broker *redisbroker.Broker
	srv    *httptest.Server
}

// newInstance starts an instance on Redis at addr. Backoff is short, so tests
// recover quickly; opts come after and may override it.
func newInstance(t testing.TB, addr string, opts ...redisbroker.Option) *instance {
	t.Helper()
	opts = append([]redisbroker.Option{redisbroker.WithBackoff(10*time.Millisecond, 100*time.Millisecond)}, opts...)
	b := redisbroker.New(&redis.Options{Addr: addr}, opts...)
	return serve(t, core.NewHub(core.WithBroker(b)), b)
}

// serve serves hub over HTTP; the hub is shut down before the server, as an
// SSE stream never lets an HTTP server's shutdown finish.
func serve(t testing.TB, hub *core.Hub, b *redisbroker.Broker) *instance {
	srv := httptest.NewServer(sseHandler(hub))
	t.Cleanup(func() {
		if err := hub.Close(); err != nil {
			t.Errorf("hub.Close: %v", err)
		}
		srv.Close()
	})
	return &instance{hub: hub, broker: b, srv: srv}
}

func (in *instance) state() core.BrokerState { return *in.hub.Stats().Broker }

// sseHandler is what an adapter does, in plain net/http: headers, then Serve
// with the request's topics and Last-Event-ID.
func sseHandler(hub *core.Hub) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK) // Serve flushes it
		hub.Serve(r.Context(), stream{w, http.NewResponseController(w)}, core.Subscription{
			Topics:      r.URL.Query()["topic"],
			LastEventID: r.Header.Get("Last-Event-ID"),
		})
	}
}

// stream is the core.Stream of a net/http response.
type stream struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (s stream) Flush() error                       { return s.rc.Flush() }
func (s stream) SetWriteDeadline(t time.Time) error { return s.rc.SetWriteDeadline(t) }

// A client is an EventSource-like reader of one stream over real HTTP.
type client struct {
	t      testing.TB
	events chan core.Event
	cancel context.CancelFunc
	done   chan struct{}
}

// dial opens a stream on in for topics, resuming after lastID if not empty.
// It returns once the hub has subscribed it (the headers arrive after that).
func dial(t testing.TB, in *instance, lastID string, topics ...string) *client {
	t.Helper()
	q := url.Values{"topic": topics}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.srv.URL+"/?"+q.Encode(), nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("dial: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		resp.Body.Close()
		t.Fatalf("dial: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &client{t: t, events: make(chan core.Event, 1024), cancel: cancel, done: make(chan struct{})}
	go func() { // ends when the body does: the hub shut down or close cancelled the request
		defer close(c.done)
		defer resp.Body.Close()
		dec := core.NewDecoder(resp.Body)
		for {
			e, err := dec.Next()
			if err != nil {
				return
			}
			select {
			case c.events <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

// next returns the next event, failing the test after 10 seconds.
func (c *client) next() core.Event {
	c.t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(10 * time.Second):
		c.t.Fatal("timed out waiting for an event")
		return core.Event{}
	}
}

// nextN returns the next n events.
func (c *client) nextN(n int) []core.Event {
	c.t.Helper()
	out := make([]core.Event, n)
	for i := range out {
		out[i] = c.next()
	}
	return out
}

// close hangs up, as a closing browser tab does, and waits for the reader.
func (c *client) close() {
	c.cancel()
	<-c.done
}

func datas(events []core.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Data
	}
	return out
}

func ids(events []core.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ssetest.WaitFor(t, 10*time.Second, what, cond)
}
