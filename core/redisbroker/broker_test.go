package redisbroker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// Two instances on one Redis: a client on each receives every event published
// on either, in the same order, with the same ids.
func TestBroker_TwoInstancesSameEventsOrderIDs(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	ca, cb := dial(t, a, "", "t"), dial(t, b, "", "t")

	const perSide = 50
	var wg sync.WaitGroup
	for _, in := range []struct {
		name string
		*instance
	}{{"a", a}, {"b", b}} {
		wg.Go(func() { // both sides publish at once: Redis decides one order
			for i := range perSide {
				if _, err := in.hub.Publish(core.Event{Data: fmt.Sprintf("%s%d", in.name, i)}, "t"); err != nil {
					t.Errorf("publish: %v", err)
				}
			}
		})
	}
	wg.Wait()
	_, err := b.hub.PublishAll(core.Event{Data: "to all"})
	assert.NoError(t, err)

	ea, eb := ca.nextN(2*perSide+1), cb.nextN(2*perSide+1)
	assert.Equal(t, "same events in the same order", datas(eb), datas(ea))
	assert.Equal(t, "same ids", ids(eb), ids(ea))
	assert.Equal(t, "broadcast last", ea[2*perSide].Data, "to all")
	seen := map[string]bool{}
	next := map[byte]int{'a': 0, 'b': 0}
	for _, e := range ea {
		assert.True(t, "unique id "+e.ID, !seen[e.ID])
		seen[e.ID] = true
		if side := e.Data[0]; side != 't' { // each side's events keep its order
			assert.Equal(t, "order of "+string(side), e.Data, fmt.Sprintf("%c%d", side, next[side]))
			next[side]++
		}
	}
	st := a.hub.Stats()
	assert.Equal(t, "a delivered", st.BrokerDelivered, uint64(2*perSide+1))
	assert.True(t, "connected", st.Broker.Connected)
}

// A client moves from instance A to instance B, which had no subscriber for
// the topic, with its Last-Event-ID: it gets exactly the events it missed,
// then live ones.
func TestBroker_ResumeOnAnotherInstance(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	watch := dial(t, a, "", "news") // sees everything, for the ids
	moving := dial(t, a, "", "news")
	for i := range 5 {
		ssetest.Publish(t, a.hub, core.Event{Data: fmt.Sprint(i)}, "news")
	}
	got := moving.nextN(2)
	moving.close()
	ssetest.Publish(t, a.hub, core.Event{Data: "5"}, "news")
	ssetest.Publish(t, a.hub, core.Event{Data: "6"}, "news")
	all := watch.nextN(7)
	assert.Equal(t, "b has no subscriber yet", b.hub.Subscribers("news"), 0)

	moved := dial(t, b, got[1].ID, "news")
	ssetest.Publish(t, a.hub, core.Event{Data: "7"}, "news")
	resumed := moved.nextN(6)
	all = append(all, watch.next())
	assert.Equal(t, "exactly the missed events, then live", datas(resumed), []string{"2", "3", "4", "5", "6", "7"})
	assert.Equal(t, "the same ids as on A", ids(resumed), ids(all[2:]))
	assert.Equal(t, "a replay hit on B", b.hub.Stats().ReplayHits, uint64(1))
}

// An event published to several topics arrives once, with one id, at a client
// on several of them; a client on one of them gets it with the same id; Redis
// holds it under the same stream id on each topic.
func TestBroker_MultiTopicPublishOnceOneID(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	xyA, xyB, yB := dial(t, a, "", "x", "y"), dial(t, b, "", "x", "y"), dial(t, b, "", "y")

	both := ssetest.Publish(t, b.hub, core.Event{Data: "both"}, "x", "y")
	ssetest.Publish(t, a.hub, core.Event{Data: "x only"}, "x")
	ssetest.Publish(t, a.hub, core.Event{Data: "y only"}, "y", "y")
	ssetest.Publish(t, b.hub, core.Event{Data: "end"}, "x", "y")

	ea, eb := xyA.nextN(4), xyB.nextN(4)
	assert.Equal(t, "once each, in order", datas(ea), []string{"both", "x only", "y only", "end"})
	assert.Equal(t, "same on B", datas(eb), datas(ea))
	assert.Equal(t, "same ids on B", ids(eb), ids(ea))
	ey := yB.nextN(3)
	assert.Equal(t, "y only client", datas(ey), []string{"both", "y only", "end"})
	assert.Equal(t, "one id for both topics", ey[0].ID, ea[0].ID)
	assert.Equal(t, "Publish returned the id clients see", both, ea[0].ID)

	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	ctx := context.Background()
	xs, err := rc.XRange(ctx, "{ssehub}:t:x", "-", "+").Result()
	assert.NoError(t, err)
	ys, err := rc.XRange(ctx, "{ssehub}:t:y", "-", "+").Result()
	assert.NoError(t, err)
	assert.Equal(t, "entries", []int{len(xs), len(ys)}, []int{3, 3})
	assert.Equal(t, "same stream id on both streams", xs[0].ID, ys[0].ID)
	assert.True(t, "wire id ends in the stream's seq", strings.HasSuffix(ea[0].ID, "-"+strings.TrimSuffix(xs[0].ID, "-0")))
}

// An instance is delivered only the topics it has subscribers for (and
// broadcasts): B, watching only "y", gets none of the traffic on "x".
func TestBroker_RoutesOnlySubscribedTopics(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	cx, cy := dial(t, a, "", "x"), dial(t, b, "", "y")
	for i := range 20 {
		ssetest.Publish(t, a.hub, core.Event{Data: fmt.Sprint(i)}, "x")
	}
	ssetest.Publish(t, a.hub, core.Event{Data: "y"}, "y")
	cx.nextN(20)
	assert.Equal(t, "B's client", cy.next().Data, "y")
	assert.Equal(t, "B was delivered one event", b.hub.Stats().BrokerDelivered, uint64(1))
	assert.Equal(t, "A was delivered the x events only", a.hub.Stats().BrokerDelivered, uint64(20))
}

// An app's own Event.ID travels as the wire id; type and retry survive.
func TestBroker_AppIDTypeRetry(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	cb := dial(t, b, "", "t")
	want := core.Event{ID: "order-17", Type: "order", Data: "line 1\nline 2", Retry: 1500 * time.Millisecond}
	assert.Equal(t, "returned id", ssetest.Publish(t, a.hub, want, "t"), "order-17")
	assert.Equal(t, "event", cb.next(), want)
}

// Shutting the hubs down releases every Redis connection and the wake-up
// streams; TestMain checks that no goroutine is left.
func TestBroker_ShutdownReleasesEverything(t *testing.T) {
	r := startRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	ctx := context.Background()
	clients := func() int {
		list, err := rc.ClientList(ctx).Result()
		assert.NoError(t, err)
		return strings.Count(list, "\n")
	}
	before := clients() // this test's own connection

	for range 2 {
		in := newInstance(t, r.Addr())
		c := dial(t, in, "", "t")
		ssetest.Publish(t, in.hub, core.Event{Data: "x"}, "t")
		c.next()
		assert.True(t, "connections in use", clients() > before)
		c.close()
		assert.NoError(t, in.hub.Close())
	}
	waitFor(t, "every broker connection to close", func() bool { return clients() == before })
	keys, err := rc.Keys(ctx, "{ssehub}:wake:*").Result()
	assert.NoError(t, err)
	assert.Equal(t, "wake-up streams left", len(keys), 0)
}

// Every field the spec allows crosses instances as the publishing hub sent
// it: retry 0, an id reset, a live event without id, a comment.
func TestBroker_LiveCommentsAndSpecialFields(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	cb := dial(t, b, "", "t")
	first := ssetest.Publish(t, a.hub, core.Event{Data: "1"}, "t")
	assert.NoError(t, a.hub.PublishLive(core.Event{Type: "typing", Data: "ada"}, "t"))
	assert.NoError(t, a.hub.PublishComment("padding", "t"))
	id, err := a.hub.Publish(core.Event{Data: "2", Retry: core.RetryNow, ResetID: true}, "t")
	assert.NoError(t, err)
	assert.Equal(t, "a reset event has no id", id, "")
	ssetest.Publish(t, a.hub, core.Event{Data: "3", Retry: 1500 * time.Millisecond}, "t")

	got := cb.nextN(4)
	assert.Equal(t, "hub id", got[0].ID, first)
	assert.Equal(t, "live: no id of its own", got[1], core.Event{ID: first, Type: "typing", Data: "ada"})
	assert.Equal(t, "retry 0 and reset", got[2], core.Event{Data: "2", Retry: core.RetryNow, ResetID: true})
	assert.Equal(t, "retry", got[3].Retry, 1500*time.Millisecond)

	// A client resuming on A after the first event gets the kept ones only.
	ca := dial(t, a, first, "t")
	assert.Equal(t, "replay: only the kept event (a reset is live)", ca.next().Data, "3")
}

// The publish time travels with the event (stream field "p"): a hub that
// serves an event another published measures its freshness from the
// publisher's Publish, not from the event's arrival. An event without one (as
// entries stored by older versions are) counts from its arrival.
func TestBroker_CarriesPublishTime(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	cb := dial(t, b, "", "t")
	ctx := context.Background()

	published := time.Now().Add(-time.Minute) // as if Redis had held it for a minute
	_, err := a.broker.Publish(ctx, core.Message{Topics: []string{"t"}, Event: core.Event{Data: "old"}, PublishedAt: published})
	assert.NoError(t, err)
	assert.Equal(t, "event", cb.next().Data, "old")
	waitFor(t, "B to count its freshness", func() bool { return b.hub.Stats().Freshness.Count == 1 })
	f := b.hub.Stats().Freshness
	assert.Equal(t, "above the highest bound", f.Counts[len(f.Bounds)], uint64(1))
	assert.True(t, "from A's publish time", f.Sum >= time.Minute && f.Sum < time.Minute+10*time.Second)

	_, err = a.broker.Publish(ctx, core.Message{Topics: []string{"t"}, Event: core.Event{Data: "no time"}})
	assert.NoError(t, err)
	assert.Equal(t, "event", cb.next().Data, "no time")
	waitFor(t, "B to count its freshness", func() bool { return b.hub.Stats().Freshness.Count == 2 })
	assert.True(t, "from its arrival", b.hub.Stats().Freshness.Sum-f.Sum < 10*time.Second)

	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	entries, err := rc.XRange(ctx, "{ssehub}:t:t", "-", "+").Result()
	assert.NoError(t, err)
	assert.Equal(t, "entries", len(entries), 2)
	assert.Equal(t, "stored publish time", entries[0].Values["p"], any(strconv.FormatInt(published.UnixNano(), 10)))
	_, has := entries[1].Values["p"]
	assert.True(t, "no publish time stored", !has)

	// A hub's own Publish sets it.
	ssetest.Publish(t, a.hub, core.Event{Data: "now"}, "t")
	assert.Equal(t, "event", cb.next().Data, "now")
	entries, err = rc.XRange(ctx, "{ssehub}:t:t", "-", "+").Result()
	assert.NoError(t, err)
	p, _ := strconv.ParseInt(fmt.Sprint(entries[2].Values["p"]), 10, 64)
	assert.True(t, "Publish's time", time.Since(time.Unix(0, p)) < 10*time.Second)
}
