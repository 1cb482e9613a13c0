package redisbroker_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// Instance B publishes without pause while redis-server, with an AOF synced
// on every write, is killed and restarted. What A's client receives:
//   - every event whose Publish returned nil, once, in publishing order;
//   - nothing else, except possibly an event whose Publish failed after Redis
//     had done it (the reply was lost in the crash): ErrUnavailable means
//     "may not have been published";
//   - publishes fail while Redis is down, with ErrUnavailable (the test
//     restarts it only once one has).
//
// Without persistence the first point cannot hold: an event Redis
// acknowledged just before it died is gone for readers that had not read it
// yet. TestBroker_RedisKilledAndRestarted covers that case.
func TestBroker_PublishingThroughACrash(t *testing.T) {
	r := startRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	ca := dial(t, a, "", "t")

	var (
		mu     sync.Mutex
		acked  = map[int]bool{}
		failed int
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, err := b.hub.Publish(core.Event{Data: strconv.Itoa(i)}, "t")
			mu.Lock()
			if err == nil {
				acked[i] = true
			} else if errors.Is(err, redisbroker.ErrUnavailable) {
				failed++
			} else {
				t.Errorf("publish %d: unexpected error %v", i, err)
			}
			mu.Unlock()
			time.Sleep(200 * time.Microsecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	r.Kill()
	waitFor(t, "a publish to fail", func() bool { // a publish under way may outlast a short outage
		mu.Lock()
		defer mu.Unlock()
		return failed > 0
	})
	r.Start()
	waitFor(t, "both back", func() bool { return a.state().Connected && b.state().Connected })
	time.Sleep(100 * time.Millisecond)
	close(stop)
	<-done
	ssetest.Publish(t, b.hub, core.Event{Data: "end"}, "t")

	mu.Lock()
	defer mu.Unlock()
	last, got, extra := -1, 0, 0
	for e := ca.next(); e.Data != "end"; e = ca.next() {
		i, err := strconv.Atoi(e.Data)
		assert.NoError(t, err)
		assert.True(t, "in order, once: "+e.Data+" after "+strconv.Itoa(last), i > last)
		for j := last + 1; j < i; j++ {
			assert.True(t, "acknowledged event "+strconv.Itoa(j)+" lost", !acked[j])
		}
		if acked[i] {
			got++
		} else {
			extra++
		}
		last = i
	}
	for j := range acked {
		assert.True(t, "acknowledged event "+strconv.Itoa(j)+" lost at the end", j <= last)
	}
	assert.Equal(t, "every acknowledged event", got, len(acked))
	t.Logf("%d events acknowledged and delivered; %d publishes failed, %d of which arrived all the same",
		got, failed, extra)
}
