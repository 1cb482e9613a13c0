package core_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

func TestHub_PublishDelivers(t *testing.T) {
	h := newHub(t)
	a := connect(t, h, core.Subscription{Topics: []string{"news"}})
	b := connect(t, h, core.Subscription{Topics: []string{"news", "other"}})
	publish(t, h, core.Event{Type: "item", Data: "one\ntwo"}, "news")
	publish(t, h, core.Event{Data: "elsewhere"}, "nobody")
	publish(t, h, core.Event{ID: "app-1", Data: "three"}, "news")
	for _, c := range []*client{a, b} {
		e := c.next()
		assert.Equal(t, "type", e.Type, "item")
		assert.Equal(t, "data", e.Data, "one\ntwo")
		assert.True(t, "hub id "+e.ID, strings.Count(e.ID, "-") == 1)
		assert.Equal(t, "app id kept", c.next(), core.Event{ID: "app-1", Data: "three"})
	}
	assert.Equal(t, "subscribers", h.Subscribers("news"), 2)
	assert.Equal(t, "stats", h.Stats().Topics, map[string]int{"news": 2, "other": 1})
}

func TestHub_EventOnSeveralTopicsArrivesOnce(t *testing.T) {
	h := newHub(t)
	c := connect(t, h, core.Subscription{Topics: []string{"a", "b", "a"}})
	publish(t, h, core.Event{Data: "1"}, "a", "b")
	publish(t, h, core.Event{Data: "2"}, "b")
	assert.NoError(t, errOf(h.PublishAll(core.Event{Data: "3"})))
	publish(t, h, core.Event{Data: "4"}, "a", "a")
	assert.Equal(t, "in order, once each", c.nextN(4), []string{"1", "2", "3", "4"})
}

func TestHub_PublishAllReachesEveryTopic(t *testing.T) {
	h := newHub(t)
	a := connect(t, h, core.Subscription{Topics: []string{"a"}})
	b := connect(t, h, core.Subscription{Topics: []string{"b"}})
	assert.NoError(t, errOf(h.PublishAll(core.Event{Data: "hi"})))
	assert.Equal(t, "a", a.next().Data, "hi")
	assert.Equal(t, "b", b.next().Data, "hi")
}

// TestHub_PublishReturnsTheID: the id Publish returns is the one clients
// see: the hub's, or the app's own.
func TestHub_PublishReturnsTheID(t *testing.T) {
	h := newHub(t)
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	first := publish(t, h, core.Event{Data: "1"}, "a")
	assert.Equal(t, "hub id", c.next().ID, first)
	assert.Equal(t, "app id", publish(t, h, core.Event{ID: "order-7", Data: "2"}, "a"), "order-7")
	assert.Equal(t, "app id seen", c.next().ID, "order-7")
	id, err := h.PublishAll(core.Event{Data: "3"})
	assert.NoError(t, err)
	e := c.next()
	assert.Equal(t, "PublishAll id", e.ID, id)
	n := func(id string) int { v, _ := strconv.Atoi(seqOf(t, id)); return v }
	assert.True(t, fmt.Sprintf("PublishAll's id %s follows Publish's %s", id, first), n(id) > n(first))
}

func TestHub_PublishErrors(t *testing.T) {
	h := newHub(t)
	assert.ErrorIs(t, errOf(h.Publish(core.Event{})), core.ErrNoTopics)
	assert.ErrorIs(t, errOf(h.Publish(core.Event{}, "")), core.ErrInvalidTopic)
	assert.ErrorIs(t, errOf(h.Publish(core.Event{}, "a\nb")), core.ErrInvalidTopic)
	assert.ErrorIs(t, errOf(h.Publish(core.Event{ID: "x\ny"}, "t")), core.ErrInvalidID)
	assert.ErrorIs(t, errOf(h.Publish(core.Event{Type: "x\r"}, "t")), core.ErrInvalidType)
	assert.ErrorIs(t, errOf(h.PublishAll(core.Event{Data: "\xff"})), core.ErrInvalidData)
	assert.Equal(t, "nothing published", h.Stats().Published, uint64(0))
}

func TestHub_SubscriptionErrors(t *testing.T) {
	h := newHub(t, core.WithMaxTopicsPerSubscriber(2), core.WithMaxSubscribers(2), core.WithMaxSubscribersPerClient(1))
	ctx := context.Background()
	server, _ := tcpPair(t)
	w := connStream{nil, server}
	assert.ErrorIs(t, h.Serve(ctx, w, core.Subscription{}), core.ErrNoTopics)
	assert.ErrorIs(t, h.Serve(ctx, w, core.Subscription{Topics: []string{"a", "b", "c"}}), core.ErrTooManyTopics)
	assert.ErrorIs(t, h.Serve(ctx, w, core.Subscription{Topics: []string{strings.Repeat("x", 257)}}), core.ErrInvalidTopic)
	assert.ErrorIs(t, h.Serve(ctx, w, core.Subscription{Topics: []string{"a\x00"}}), core.ErrInvalidTopic)

	connect(t, h, core.Subscription{Topics: []string{"a"}, ClientAddr: "10.0.0.1"})
	err := h.Serve(ctx, w, core.Subscription{Topics: []string{"a"}, ClientAddr: "10.0.0.1"})
	assert.ErrorIs(t, err, core.ErrTooManySubscribers)
	connect(t, h, core.Subscription{Topics: []string{"a"}, ClientAddr: "10.0.0.2"})
	err = h.Serve(ctx, w, core.Subscription{Topics: []string{"a"}})
	assert.ErrorIs(t, err, core.ErrTooManySubscribers)
	assert.Equal(t, "rejected", h.Stats().Rejected, uint64(6))
}

func TestHub_RetryThenHeartbeatsOnIdleStreams(t *testing.T) {
	h := newHub(t, core.WithRetry(2*time.Second), core.WithHeartbeat(40*time.Millisecond))
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	waitFor(t, "heartbeats", func() bool {
		c.conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		c.dec.Next()
		return c.commentCount() >= 2
	})
	assert.Equal(t, "retry", c.dec.Retry(), 2*time.Second)
	assert.True(t, "heartbeats counted", h.Stats().Heartbeats >= 2)
}

// TestHub_NoHeartbeatWhileBusy: a stream that gets an event every 20 ms gets
// no heartbeat at a 200 ms interval. The clock is synctest's, so the test
// waits for no real time.
func TestHub_NoHeartbeatWhileBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, core.WithHeartbeat(200*time.Millisecond))
		server, conn := net.Pipe()
		c := serveOver(t, h, core.Subscription{Topics: []string{"a"}}, server, conn)
		for i := range 50 { // a second, busy all along
			publish(t, h, core.Event{Data: strconv.Itoa(i)}, "a")
			assert.Equal(t, "event", c.next().Data, strconv.Itoa(i))
			time.Sleep(20 * time.Millisecond)
		}
		assert.Equal(t, "comments on a busy stream", c.comments, []string{" open"}) // the first bytes, no heartbeat

		time.Sleep(time.Second) // then idle: a heartbeat comes
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		assert.Equal(t, "once idle", string(buf[:n]), ": ping\n\n")
	})
}

func TestHub_ReplayAfterReconnect(t *testing.T) {
	h := newHub(t)
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	for i := range 3 {
		publish(t, h, core.Event{Data: strconv.Itoa(i)}, "a")
	}
	assert.Equal(t, "first", c.nextN(3), []string{"0", "1", "2"})
	last := c.dec.LastEventID()
	c.close()
	for i := 3; i < 6; i++ {
		publish(t, h, core.Event{Data: strconv.Itoa(i)}, "a")
	}
	c = connect(t, h, core.Subscription{Topics: []string{"a"}, LastEventID: " " + last + " "})
	publish(t, h, core.Event{Data: "6"}, "a")
	assert.Equal(t, "missed then live", c.nextN(4), []string{"3", "4", "5", "6"})
	assert.Equal(t, "hits", h.Stats().ReplayHits, uint64(1))
}

func TestHub_ReplayMisses(t *testing.T) {
	var results []core.ReplayResult
	var mu sync.Mutex
	h := newHub(t, core.WithHistory(4, time.Minute), core.WithOnConnect(func(s *core.Subscriber) {
		mu.Lock()
		results = append(results, s.Replay())
		mu.Unlock()
	}))
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	publish(t, h, core.Event{Data: "0"}, "a")
	first := c.next().ID
	for i := 1; i < 10; i++ { // one at a time: the history is also the lag bound
		publish(t, h, core.Event{Data: strconv.Itoa(i)}, "a")
		c.next()
	}
	recent := c.dec.LastEventID()
	epoch, _, _ := strings.Cut(recent, "-")
	c.close()

	ids := []string{
		recent,                                // a hit, for contrast; later ones publish more, so it would age out
		"",                                    // none
		first,                                 // too old: history holds 4
		"garbage",                             // unknown
		"zzzzzzzz-1",                          // another epoch (another run)
		epoch + "-99",                         // from the future
		epoch + "-x",                          // malformed
		epoch + "-" + strings.Repeat("9", 30), // overflows
		strings.Repeat("y", 10000),            // huge
	}
	for _, id := range ids {
		c := connect(t, h, core.Subscription{Topics: []string{"a"}, LastEventID: id})
		publish(t, h, core.Event{Data: "live"}, "a")
		assert.Equal(t, "starts live for "+id[:min(len(id), 20)], c.next().Data, "live")
		c.close()
	}
	mu.Lock()
	defer mu.Unlock()
	want := []core.ReplayResult{core.ReplayNone, // the first client
		core.ReplayHit, core.ReplayNone, core.ReplayMiss, core.ReplayMiss, core.ReplayMiss,
		core.ReplayMiss, core.ReplayMiss, core.ReplayMiss, core.ReplayMiss}
	assert.Equal(t, "replay results", results, want)
}

// TestHub_ReplayUnderConcurrentPublishing reconnects a client again and again
// while a publisher runs flat out: the ids it sees must be consecutive, with
// no gap and no duplicate across every switch.
func TestHub_ReplayUnderConcurrentPublishing(t *testing.T) {
	h := newHub(t)
	const total = 3000
	c := connect(t, h, core.Subscription{Topics: []string{"t"}})
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 1; i <= total; i++ {
			h.Publish(core.Event{Data: strconv.Itoa(i)}, "t")
			if i%50 == 0 {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}
	}()
	defer func() { close(stop); <-published }()

	want, last := 1, ""
	for reconnects := 0; want <= total; reconnects++ {
		if reconnects > 0 {
			c = connect(t, h, core.Subscription{Topics: []string{"t"}, LastEventID: last})
		}
		for n := 0; n < 97 && want <= total; n++ {
			e := c.next()
			if e.Data != strconv.Itoa(want) {
				t.Fatalf("after %d reconnects: got %s, want %d", reconnects, e.Data, want)
			}
			want++
			last = e.ID
		}
		c.close()
	}
}

func TestHub_SnapshotBeforeLiveAndAfterReplay(t *testing.T) {
	var state atomic.Int64
	h := newHub(t, core.WithSnapshot(func(s *core.Subscriber) ([]core.Event, error) {
		return []core.Event{{Type: "state", Data: strconv.FormatInt(state.Load(), 10)}}, nil
	}))
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	assert.Equal(t, "snapshot first", c.next(), core.Event{Type: "state", Data: "0"})
	state.Store(1)
	publish(t, h, core.Event{Data: "1"}, "a")
	assert.Equal(t, "live", c.next().Data, "1")
	last := c.dec.LastEventID()
	c.close()

	state.Store(2)
	publish(t, h, core.Event{Data: "2"}, "a")
	c = connect(t, h, core.Subscription{Topics: []string{"a"}, LastEventID: last})
	assert.Equal(t, "replayed", c.next().Data, "2")
	assert.Equal(t, "then the snapshot", c.next(), core.Event{ID: c.dec.LastEventID(), Type: "state", Data: "2"})
}

func TestHub_LiveVisitorCount(t *testing.T) {
	var h *core.Hub
	count := func(*core.Subscriber) {
		h.Publish(core.Event{Type: "visitors", Data: strconv.Itoa(h.Subscribers("visitors"))}, "visitors")
	}
	h = newHub(t, core.WithOnConnect(count), core.WithOnDisconnect(func(s *core.Subscriber, _ core.DisconnectReason) { count(s) }))
	a := connect(t, h, core.Subscription{Topics: []string{"visitors"}})
	assert.Equal(t, "one", a.next().Data, "1")
	b := connect(t, h, core.Subscription{Topics: []string{"visitors"}})
	assert.Equal(t, "two for a", a.next().Data, "2")
	assert.Equal(t, "two for b", b.next().Data, "2")
	b.close()
	assert.Equal(t, "back to one", a.next().Data, "1")
}

func TestHub_DisconnectReasons(t *testing.T) {
	reasons := make(chan core.DisconnectReason, 10)
	h := newHub(t, core.WithOnDisconnect(func(_ *core.Subscriber, r core.DisconnectReason) { reasons <- r }))
	var sub *core.Subscriber
	var mu sync.Mutex
	h2 := newHub(t, core.WithOnConnect(func(s *core.Subscriber) { mu.Lock(); sub = s; mu.Unlock() }),
		core.WithOnDisconnect(func(_ *core.Subscriber, r core.DisconnectReason) { reasons <- r }))

	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	c.close()
	assert.Equal(t, "client gone", <-reasons, core.DisconnectClientGone)

	c = connect(t, h2, core.Subscription{Topics: []string{"a"}})
	mu.Lock()
	sub.Close()
	mu.Unlock()
	assert.NoError(t, c.wait())
	assert.Equal(t, "closed", <-reasons, core.DisconnectClosed)
	mu.Lock()
	assert.ErrorIs(t, sub.Send(core.Event{}), core.ErrClosed)
	mu.Unlock()
}

func TestHub_SendToOne(t *testing.T) {
	subs := make(chan *core.Subscriber, 2)
	h := newHub(t, core.WithOnConnect(func(s *core.Subscriber) { subs <- s }))
	a := connect(t, h, core.Subscription{Topics: []string{"t"}, Meta: "alice"})
	b := connect(t, h, core.Subscription{Topics: []string{"t"}, Meta: "bob"})
	sa, sb := <-subs, <-subs
	if sa.Meta() != "alice" {
		sa, sb = sb, sa
	}
	_ = sb
	publish(t, h, core.Event{Data: "all 1"}, "t")
	assert.NoError(t, sa.Send(core.Event{Type: "private", Data: "for alice"}))
	publish(t, h, core.Event{Data: "all 2"}, "t")
	assert.Equal(t, "alice", a.nextN(3), []string{"all 1", "for alice", "all 2"})
	assert.Equal(t, "bob", b.nextN(2), []string{"all 1", "all 2"})
	assert.ErrorIs(t, sa.Send(core.Event{ID: "\n"}), core.ErrInvalidID)
}

func TestHub_HookPanicsEndOnlyThatStream(t *testing.T) {
	h := newHub(t,
		core.WithOnConnect(func(s *core.Subscriber) {
			if s.Meta() == "boom-connect" {
				panic("connect")
			}
		}),
		core.WithSnapshot(func(s *core.Subscriber) ([]core.Event, error) {
			switch s.Meta() {
			case "boom-snapshot":
				panic("snapshot")
			case "bad-snapshot":
				return []core.Event{{ID: "\n"}}, nil
			case "err-snapshot":
				return nil, errors.New("db down")
			}
			return nil, nil
		}),
		core.WithOnDisconnect(func(*core.Subscriber, core.DisconnectReason) { panic("disconnect") }),
	)
	good := connect(t, h, core.Subscription{Topics: []string{"a"}})
	for _, meta := range []string{"boom-connect", "boom-snapshot", "bad-snapshot", "err-snapshot"} {
		c := connect(t, h, core.Subscription{Topics: []string{"a"}, Meta: meta})
		err := c.wait()
		assert.True(t, meta+" ends with ErrHook: "+fmt.Sprint(err), errors.Is(err, core.ErrHook))
	}
	publish(t, h, core.Event{Data: "still here"}, "a")
	assert.Equal(t, "other stream unaffected", good.next().Data, "still here")
	st := h.Stats()
	assert.Equal(t, "errors", st.Disconnects[core.DisconnectError], uint64(4))
	assert.True(t, "panics counted", st.HookPanics >= 2+4)
}
