package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// memCluster is a memBroker that is also a core.Cluster: counts per hub in
// memory, recounts and ends delivered to every joined hub.
type memCluster struct {
	*memBroker
	mu      *sync.Mutex
	counts  map[string]map[*memCluster]int
	members *[]*memCluster
	end     func(core.Selector)
	recount func(string)
	dead    bool // its counts no longer count, as when its instance died
}

func newMemClusters(n int) []*memCluster {
	bus := &memBus{}
	mu := &sync.Mutex{}
	counts := map[string]map[*memCluster]int{}
	var members []*memCluster
	for range n {
		members = append(members, &memCluster{memBroker: bus.broker(), mu: mu, counts: counts, members: &members})
	}
	return members
}

func (c *memCluster) Join(end func(core.Selector), recount func(string)) error {
	c.mu.Lock()
	c.end, c.recount = end, recount
	c.mu.Unlock()
	return nil
}

func (c *memCluster) SetCount(_ context.Context, topic string, n int) error {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return nil
	}
	if c.counts[topic] == nil {
		c.counts[topic] = map[*memCluster]int{}
	}
	c.counts[topic][c] = n
	others := c.others()
	c.mu.Unlock()
	for _, o := range others {
		o.recount(topic)
	}
	return nil
}

func (c *memCluster) Count(_ context.Context, topic string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, n := range c.counts[topic] {
		total += n
	}
	return total, nil
}

func (c *memCluster) End(_ context.Context, sel core.Selector) error {
	c.mu.Lock()
	var all []*memCluster
	for _, m := range *c.members {
		if m.end != nil {
			all = append(all, m)
		}
	}
	c.mu.Unlock()
	for _, m := range all {
		m.end(sel)
	}
	return nil
}

// die drops c's counts, as when its instance dies and its counts expire.
func (c *memCluster) die() {
	c.mu.Lock()
	c.dead = true
	var topics []string
	for t, per := range c.counts {
		delete(per, c)
		topics = append(topics, t)
	}
	others := c.others()
	c.mu.Unlock()
	for _, o := range others {
		for _, t := range topics {
			o.recount(t)
		}
	}
}

func (c *memCluster) others() []*memCluster {
	var out []*memCluster
	for _, m := range *c.members {
		if m != c && m.recount != nil {
			out = append(out, m)
		}
	}
	return out
}

// counter records what a hub's WithPresence reports.
type counter struct {
	mu   sync.Mutex
	last map[string]int
	seen []int
}

func (c *counter) onChange(_ *core.Hub, topic string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]int{}
	}
	c.last[topic] = n
	c.seen = append(c.seen, n)
}

func (c *counter) get(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[topic]
}

func isVisitors(topic string) bool { return topic == "visitors" }

func TestPresence_OneHub(t *testing.T) {
	var cnt counter
	h := newHub(t, core.WithPresence(isVisitors, cnt.onChange))
	a := connect(t, h, core.Subscription{Topics: []string{"visitors"}})
	b := connect(t, h, core.Subscription{Topics: []string{"visitors"}})
	connect(t, h, core.Subscription{Topics: []string{"other"}}) // not counted
	waitFor(t, "count 2", func() bool { return cnt.get("visitors") == 2 })
	a.close()
	waitFor(t, "count 1", func() bool { return cnt.get("visitors") == 1 })
	assert.Equal(t, "Count", h.Count("visitors"), 1)
	b.close()
	waitFor(t, "count 0", func() bool { return cnt.get("visitors") == 0 })
	cnt.mu.Lock()
	defer cnt.mu.Unlock()
	for _, n := range cnt.seen {
		assert.True(t, "only visitors counts", n <= 2)
	}
	_, other := cnt.last["other"]
	assert.True(t, "no count for a topic WithPresence does not select", !other)
}

func TestPresence_AcrossHubs(t *testing.T) {
	cl := newMemClusters(2)
	var c1, c2 counter
	h1 := newHub(t, core.WithBroker(cl[0]), core.WithPresence(isVisitors, c1.onChange))
	h2 := newHub(t, core.WithBroker(cl[1]), core.WithPresence(isVisitors, c2.onChange))
	connect(t, h1, core.Subscription{Topics: []string{"visitors"}})
	b := connect(t, h2, core.Subscription{Topics: []string{"visitors"}})
	connect(t, h2, core.Subscription{Topics: []string{"visitors"}})
	agree := func(n int) func() bool {
		return func() bool {
			return c1.get("visitors") == n && c2.get("visitors") == n && h1.Count("visitors") == n && h2.Count("visitors") == n
		}
	}
	waitFor(t, "both hubs count 3", agree(3))
	b.close()
	waitFor(t, "both hubs count 2", agree(2))
	cl[1].die() // h2's instance gone, as far as the cluster knows
	waitFor(t, "h1 counts its own", func() bool { return c1.get("visitors") == 1 })
}

// TestPublishLocal: an event for this hub's streams only, even with a broker.
func TestPublishLocal(t *testing.T) {
	cl := newMemClusters(2)
	h1 := newHub(t, core.WithBroker(cl[0]))
	h2 := newHub(t, core.WithBroker(cl[1]))
	a := connect(t, h1, core.Subscription{Topics: []string{"t"}})
	b := connect(t, h2, core.Subscription{Topics: []string{"t"}})
	assert.NoError(t, h1.PublishLocal(core.Event{Type: "count", Data: "1"}, "t"))
	publish(t, h2, core.Event{Data: "everyone"}, "t")
	e := a.next()
	assert.True(t, fmt.Sprintf("local event, no id: %+v", e), e.Type == "count" && e.ID == "")
	assert.Equal(t, "then the shared one", a.next().Data, "everyone")
	assert.Equal(t, "h2 got only the shared one", b.next().Data, "everyone")
	assert.ErrorIs(t, h1.PublishLocal(core.Event{ID: "x"}, "t"), core.ErrInvalidID)
}

func TestEnd_AcrossHubs(t *testing.T) {
	cl := newMemClusters(2)
	user := func(s *core.Subscriber) string { u, _ := s.Meta().(string); return u }
	var mu sync.Mutex
	reasons := map[string][]core.DisconnectReason{}
	record := core.WithOnDisconnect(func(s *core.Subscriber, r core.DisconnectReason) {
		mu.Lock()
		reasons[user(s)] = append(reasons[user(s)], r)
		mu.Unlock()
	})
	h1 := newHub(t, core.WithBroker(cl[0]), core.WithSubscriberKey(user), record)
	h2 := newHub(t, core.WithBroker(cl[1]), core.WithSubscriberKey(user), record)
	a1 := connect(t, h1, core.Subscription{Topics: []string{"user:alice"}, Meta: "alice"})
	a2 := connect(t, h2, core.Subscription{Topics: []string{"news"}, Meta: "alice"})
	bob := connect(t, h1, core.Subscription{Topics: []string{"news"}, Meta: "bob"})

	assert.NoError(t, h1.End(context.Background(), core.Selector{Key: "alice"}))
	assert.NoError(t, a1.wait())
	assert.NoError(t, a2.wait())
	mu.Lock()
	assert.Equal(t, "alice's streams, on both hubs", reasons["alice"], []core.DisconnectReason{core.DisconnectEnded, core.DisconnectEnded})
	mu.Unlock()
	publish(t, h1, core.Event{Data: "bob stays"}, "news")
	assert.Equal(t, "bob", bob.next().Data, "bob stays")

	assert.NoError(t, h2.End(context.Background(), core.Selector{Topic: "news"}))
	assert.NoError(t, bob.wait())
	assert.ErrorIs(t, h1.End(context.Background(), core.Selector{}), core.ErrNoTopics)
}

func TestEnd_WithoutCluster(t *testing.T) {
	h := newHub(t)
	c := connect(t, h, core.Subscription{Topics: []string{"t"}})
	assert.NoError(t, h.End(context.Background(), core.Selector{Topic: "t"}))
	assert.NoError(t, c.wait())
	assert.Equal(t, "ended", h.Stats().Disconnects[core.DisconnectEnded], uint64(1))

	bus := &memBus{}
	hb := newHub(t, core.WithBroker(bus.broker())) // a Broker, not a Cluster
	d := connect(t, hb, core.Subscription{Topics: []string{"t"}})
	assert.ErrorIs(t, hb.End(context.Background(), core.Selector{Topic: "t"}), core.ErrNoCluster)
	assert.NoError(t, d.wait())
}

// Streams come and go on a counted topic while the cluster refresh runs
// (every 2 s): the refresh and Subscribe take the hub's and presence's locks
// in one order, so neither ever waits for the other for good.
func TestPresence_RefreshWhileStreamsChurn(t *testing.T) {
	cl := newMemClusters(1)
	var cnt counter
	h := core.NewHub(core.WithBroker(cl[0]), core.WithPresence(isVisitors, cnt.onChange))
	t.Cleanup(func() { // bounded: a deadlocked hub never closes
		closed := make(chan struct{})
		go func() { h.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Error("the hub did not close")
		}
	})
	done := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(2500 * time.Millisecond) // past one refresh
	for range 4 {
		wg.Go(func() {
			for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
				s, err := h.Subscribe(core.Subscription{Topics: []string{"visitors"}})
				if err != nil {
					t.Error(err)
					return
				}
				s.Close()
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("subscribes stuck: the refresh and Subscribe wait for each other")
	}
	waitFor(t, "count 0", func() bool { return h.Count("visitors") == 0 })
}
