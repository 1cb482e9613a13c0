package core_test

import (
	"bufio"
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// drainHub starts n streams on a hub draining over window, and returns it
// and a function that reports, once the streams have ended, when each client
// saw its stream end after the shutdown event, since start.
func drainHub(t *testing.T, n int, window time.Duration) (*core.Hub, func(start time.Time) []time.Duration) {
	h := core.NewHub(core.WithDrain(window), core.WithShutdownEvent(core.Event{Type: "bye"}))
	var mu sync.Mutex
	var ended []time.Time
	var wg sync.WaitGroup
	for range n {
		server, conn := net.Pipe()
		go func() {
			h.Serve(context.Background(), connStream{bufio.NewWriter(server), server}, core.Subscription{Topics: []string{"t"}})
			server.Close() // as an adapter does: the client sees the end
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			dec := core.NewDecoder(conn)
			e, err := dec.Next()
			if err != nil || e.Type != "bye" {
				t.Errorf("first event %+v, %v; want the shutdown event", e, err)
				return
			}
			if _, err := dec.Next(); err == nil {
				t.Error("an event after the shutdown event")
			}
			mu.Lock()
			ended = append(ended, time.Now())
			mu.Unlock()
		}()
	}
	synctest.Wait() // every stream subscribed and parked
	return h, func(start time.Time) []time.Duration {
		wg.Wait()
		var d []time.Duration
		for _, at := range ended {
			d = append(d, at.Sub(start))
		}
		slices.Sort(d)
		return d
	}
}

// TestDrain_SpreadsTheEnds: with WithDrain, streams end at random moments
// over the window, each after the shutdown event, and Shutdown returns when
// the last has ended. The clock is synctest's.
func TestDrain_SpreadsTheEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, window = 200, 5 * time.Second
		h, ends := drainHub(t, n, window)
		start := time.Now()
		assert.NoError(t, h.Shutdown(context.Background()))
		took := time.Since(start)
		d := ends(start)
		assert.Equal(t, "streams", len(d), n)
		assert.True(t, "all within the window", d[n-1] < window)
		assert.True(t, "Shutdown waited for the last", took >= d[n-1])
		// Spread: no 100 ms holds more than a few times its share (n/50).
		// Uniform random ends put more than 4 shares in some 100 ms a few
		// times in 10,000 runs; more than 6, far more rarely. A burst puts all.
		most := 0
		for i := range d {
			j := i
			for j < n && d[j]-d[i] < 100*time.Millisecond {
				j++
			}
			most = max(most, j-i)
		}
		t.Logf("%d streams over %v: first %v, last %v, at most %d in any 100 ms", n, window, d[0], d[n-1], most)
		assert.True(t, "spread out", most <= 6*n/50 && d[n-1]-d[0] > window/2)
	})
}

// TestDrain_ContextCutsItShort: Shutdown's context bounds the drain.
func TestDrain_ContextCutsItShort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, ends := drainHub(t, 50, time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		assert.ErrorIs(t, h.Shutdown(ctx), context.DeadlineExceeded)
		d := ends(start)
		assert.True(t, "all ended by the deadline", d[len(d)-1] <= time.Second)
	})
}
