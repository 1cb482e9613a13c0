package core_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// memBus is an in-process stand-in for a broker's engine, to test the hub's
// side of the Broker seam; the redisbroker package tests a real engine.
type memBus struct {
	mu     sync.Mutex
	seq    int
	log    map[string][]core.Message
	conns  []*memBroker
	failed bool
}

type memBroker struct {
	bus     *memBus
	deliver func(core.Message)
	topics  map[string]bool
	closed  bool
}

func (b *memBus) broker() *memBroker {
	m := &memBroker{bus: b, topics: map[string]bool{}}
	b.mu.Lock()
	b.conns = append(b.conns, m)
	b.mu.Unlock()
	return m
}

func (m *memBroker) Start(deliver func(core.Message)) error { m.deliver = deliver; return nil }

func (m *memBroker) Publish(_ context.Context, msg core.Message) (string, error) {
	b := m.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed {
		return "", errors.New("engine down")
	}
	b.seq++
	msg.Seq = uint64(b.seq)
	if msg.ID == "" {
		msg.ID = "m" + strconv.Itoa(b.seq)
	}
	if b.log == nil {
		b.log = map[string][]core.Message{}
	}
	for _, t := range msg.Topics {
		b.log[t] = append(b.log[t], msg)
	}
	for _, c := range b.conns {
		if c.closed {
			continue
		}
		if len(msg.Topics) == 0 {
			c.deliver(msg)
			continue
		}
		var mine []string // only topics this hub subscribed to
		for _, t := range msg.Topics {
			if c.topics[t] {
				mine = append(mine, t)
			}
		}
		if len(mine) > 0 {
			m := msg
			m.Topics = mine
			c.deliver(m)
		}
	}
	return msg.ID, nil
}

func (m *memBroker) Subscribe(_ context.Context, topic string, hint int) error {
	b := m.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	log := b.log[topic]
	for _, msg := range log[max(0, len(log)-hint):] {
		m.deliver(core.Message{ID: msg.ID, Seq: msg.Seq, Topics: []string{topic}, Event: msg.Event})
	}
	m.topics[topic] = true
	return nil
}

func (m *memBroker) Unsubscribe(topic string) {
	m.bus.mu.Lock()
	delete(m.topics, topic)
	m.bus.mu.Unlock()
}

func (m *memBroker) Close() error {
	m.bus.mu.Lock()
	m.closed = true
	m.bus.mu.Unlock()
	return nil
}

func TestHub_BrokerSharesEventsAndIDs(t *testing.T) {
	bus := &memBus{}
	h1 := newHub(t, core.WithBroker(bus.broker()))
	h2 := newHub(t, core.WithBroker(bus.broker()))
	a := connect(t, h1, core.Subscription{Topics: []string{"t"}})
	b := connect(t, h2, core.Subscription{Topics: []string{"t"}})

	publish(t, h1, core.Event{Data: "from 1"}, "t")
	publish(t, h2, core.Event{Data: "from 2"}, "t")
	_, err := h2.PublishAll(core.Event{Data: "to all"})
	assert.NoError(t, err)
	ea, eb := a.nextN(3), b.nextN(3)
	assert.Equal(t, "same events", ea, []string{"from 1", "from 2", "to all"})
	assert.Equal(t, "same order", eb, ea)
	assert.Equal(t, "same ids", a.dec.LastEventID(), b.dec.LastEventID())
	assert.Equal(t, "delivered", h1.Stats().BrokerDelivered, uint64(3))
}

// A client moves from one hub to another with its Last-Event-ID, and the
// second hub had no subscriber for the topic until then.
func TestHub_BrokerResumeOnAnotherHub(t *testing.T) {
	bus := &memBus{}
	h1 := newHub(t, core.WithBroker(bus.broker()))
	h2 := newHub(t, core.WithBroker(bus.broker()))
	a := connect(t, h1, core.Subscription{Topics: []string{"t"}})
	for i := range 3 {
		publish(t, h1, core.Event{Data: strconv.Itoa(i)}, "t")
	}
	a.nextN(2)
	last := a.dec.LastEventID()
	a.close()
	publish(t, h1, core.Event{Data: "3"}, "t")

	b := connect(t, h2, core.Subscription{Topics: []string{"t"}, LastEventID: last})
	publish(t, h2, core.Event{Data: "4"}, "t")
	assert.Equal(t, "exactly the missed events, then live", b.nextN(3), []string{"2", "3", "4"})
	assert.Equal(t, "hit", h2.Stats().ReplayHits, uint64(1))
}

func TestHub_BrokerPublishErrorIsReturned(t *testing.T) {
	bus := &memBus{}
	h := newHub(t, core.WithBroker(bus.broker()))
	bus.mu.Lock()
	bus.failed = true
	bus.mu.Unlock()
	_, err := h.Publish(core.Event{Data: "x"}, "t")
	assert.True(t, "error: "+err.Error(), err != nil && err.Error() == "ssehub: publish through broker: engine down")
	assert.Equal(t, "counted", h.Stats().BrokerErrors, uint64(1))
}

// A client on two topics moves to a hub that had subscribers for neither:
// the broker's order makes the resume exact across both.
func TestHub_BrokerMultiTopicResumeOnAnotherHub(t *testing.T) {
	bus := &memBus{}
	h1 := newHub(t, core.WithBroker(bus.broker()))
	h2 := newHub(t, core.WithBroker(bus.broker()))
	h2Other := connect(t, h2, core.Subscription{Topics: []string{"c"}}) // c is live on h2 already
	a := connect(t, h1, core.Subscription{Topics: []string{"a", "c"}})
	publish(t, h1, core.Event{Data: "1"}, "a")
	publish(t, h1, core.Event{Data: "2"}, "c")
	assert.Equal(t, "first two", a.nextN(2), []string{"1", "2"})
	last := a.dec.LastEventID()
	a.close()
	publish(t, h1, core.Event{Data: "3"}, "a")
	publish(t, h1, core.Event{Data: "4"}, "c")
	publish(t, h1, core.Event{Data: "5"}, "a", "c")
	assert.Equal(t, "the other hub's own client", h2Other.nextN(3), []string{"2", "4", "5"})

	b := connect(t, h2, core.Subscription{Topics: []string{"a", "c"}, LastEventID: last})
	publish(t, h2, core.Event{Data: "6"}, "c")
	assert.Equal(t, "exactly the missed events in order, then live", b.nextN(4), []string{"3", "4", "5", "6"})
	assert.Equal(t, "hit", h2.Stats().ReplayHits, uint64(1))
}

// stuckBroker's engine never answers a publish: Publish waits for its
// context, and reports how far off its deadline was when it began.
type stuckBroker struct {
	*memBroker
	deadlines chan time.Duration
}

func (s stuckBroker) Publish(ctx context.Context, _ core.Message) (string, error) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(time.Hour)
	}
	s.deadlines <- time.Until(d)
	<-ctx.Done()
	return "", ctx.Err()
}

// WithBrokerTimeout bounds every publish through a broker that never answers:
// each fails with context.DeadlineExceeded, with a deadline the timeout away
// (plus at most a hundredth, shared by publishes close together), and a
// PublishContext whose context ends sooner ends then.
func TestHub_BrokerTimeoutBoundsPublish(t *testing.T) {
	const timeout = 200 * time.Millisecond
	b := stuckBroker{(&memBus{}).broker(), make(chan time.Duration, 100)}
	hub := core.NewHub(core.WithBroker(b), core.WithBrokerTimeout(timeout))
	defer hub.Close()

	start := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Millisecond)
			_, err := hub.Publish(core.Event{Data: "x"}, "t")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
	wg.Wait()
	assert.True(t, "no publish ended before the timeout", time.Since(start) >= timeout)
	for range 8 {
		d := <-b.deadlines
		// The low end leaves room for a loaded machine between the hub's
		// start of the publish and the broker's.
		assert.True(t, fmt.Sprintf("deadline %v away, want %v to %v", d, timeout/2, timeout+timeout/100),
			d > timeout/2 && d <= timeout+timeout/100)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := hub.PublishContext(ctx, core.Event{Data: "x"}, "t")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, "the caller's deadline", <-b.deadlines <= 20*time.Millisecond)
	assert.True(t, "ended with the caller's context", time.Since(start) < timeout)
}
