package core_test

import (
	"bufio"
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// countIn returns the count of the bucket of h bounded by d.
func countIn(t *testing.T, h core.Histogram, d time.Duration) uint64 {
	t.Helper()
	for i, b := range h.Bounds {
		if b == d {
			return h.Counts[i]
		}
	}
	t.Fatalf("no bucket bounded by %v", d)
	return 0
}

// A client that stops reading holds its stream back, and the histogram shows
// for how long: the event being written when it stopped counts the whole
// wait (its write ends when the client reads again), and one published during
// the wait counts the rest of it (it waits for the stream). The clock is
// synctest's, so the ages are exact.
func TestHub_FreshnessOfAHeldBackStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t)
		server, conn := net.Pipe() // a write blocks until the client reads it
		defer conn.Close()
		go h.Serve(context.Background(), connStream{bufio.NewWriterSize(server, 4096), server}, core.Subscription{Topics: []string{"t"}})
		synctest.Wait() // subscribed and parked

		publish(t, h, core.Event{Data: "first"}, "t")
		synctest.Wait() // its write is blocked: the client does not read
		time.Sleep(time.Second)
		publish(t, h, core.Event{Data: "second"}, "t")
		time.Sleep(2 * time.Second)
		assert.Equal(t, "nothing delivered yet", h.Stats().Freshness.Count, uint64(0))

		dec := core.NewDecoder(conn) // the client reads again
		for _, want := range []string{"first", "second"} {
			e, err := dec.Next()
			assert.NoError(t, err)
			assert.Equal(t, "event", e.Data, want)
		}
		synctest.Wait()
		f := h.Stats().Freshness
		assert.Equal(t, "count", f.Count, uint64(2))
		assert.Equal(t, "sum", f.Sum, 5*time.Second)
		assert.Equal(t, "first: 3 s, written as the client read", countIn(t, f, 5*time.Second), uint64(1))
		assert.Equal(t, "second: 2 s, waiting for the stream", countIn(t, f, 2500*time.Millisecond), uint64(1))
	})
}

// Replayed events were published while the client was away: they are not
// counted as late deliveries.
func TestHub_FreshnessSkipsReplay(t *testing.T) {
	h := newHub(t)
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	publish(t, h, core.Event{Data: "0"}, "a")
	c.next()
	last := c.dec.LastEventID()
	c.close()
	publish(t, h, core.Event{Data: "1"}, "a")
	c = connect(t, h, core.Subscription{Topics: []string{"a"}, LastEventID: last})
	assert.Equal(t, "replayed", c.next().Data, "1")
	publish(t, h, core.Event{Data: "2"}, "a")
	assert.Equal(t, "live", c.next().Data, "2")
	waitFor(t, "three events written", func() bool { return h.Stats().FramesWritten == 3 })
	assert.Equal(t, "counted: the live ones", h.Stats().Freshness.Count, uint64(2))
}

// With a broker, freshness counts from the time the message carries: when
// the publishing hub accepted it, on whichever instance.
func TestHub_FreshnessFromMessagePublishedAt(t *testing.T) {
	bus := &memBus{}
	other := bus.broker() // another instance's
	h := newHub(t, core.WithBroker(bus.broker()))
	c := connect(t, h, core.Subscription{Topics: []string{"t"}})
	_, err := other.Publish(context.Background(), core.Message{Topics: []string{"t"}, Event: core.Event{Data: "x"}, PublishedAt: time.Now().Add(-time.Minute)})
	assert.NoError(t, err)
	assert.Equal(t, "event", c.next().Data, "x")
	waitFor(t, "the event counted", func() bool { return h.Stats().Freshness.Count == 1 })
	f := h.Stats().Freshness
	assert.Equal(t, "above the highest bound", f.Counts[len(f.Bounds)], uint64(1))
	assert.True(t, "a minute", f.Sum >= time.Minute && f.Sum < time.Minute+10*time.Second)

	publish(t, h, core.Event{Data: "y"}, "t") // through the broker: it sets PublishedAt
	assert.Equal(t, "event", c.next().Data, "y")
	waitFor(t, "the event counted", func() bool { return h.Stats().Freshness.Count == 2 })
	assert.True(t, "fresh", h.Stats().Freshness.Sum-f.Sum < 10*time.Second)
}
