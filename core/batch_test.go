package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// batchBroker is a memBroker that also publishes batches (core.BatchBroker),
// counting its calls; with failAt >= 0 a batch fails at that message.
type batchBroker struct {
	*memBroker
	calls  int
	failAt int
}

func (m *batchBroker) PublishBatch(ctx context.Context, ms []core.Message) ([]string, error) {
	m.calls++
	var ids []string
	for i, msg := range ms {
		if i == m.failAt {
			return ids, errors.New("engine down")
		}
		id, err := m.Publish(ctx, msg)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

var batch3 = []core.Publication{
	{Event: core.Event{Data: "1"}, Topics: []string{"a"}},
	{Event: core.Event{Data: "2"}, Topics: []string{"b"}},
	{Event: core.Event{Data: "3", ID: "app-3"}, Topics: []string{"a", "b"}},
}

// Without a broker, with a broker that publishes one message at a time, and
// with one that publishes batches: the events reach every hub in order, each
// once, with the ids PublishBatch returned.
func TestHub_PublishBatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broker func(*memBus) core.Broker // nil: no broker
	}{
		{name: "in process"},
		{name: "plain broker", broker: func(b *memBus) core.Broker { return b.broker() }},
		{name: "batch broker", broker: func(b *memBus) core.Broker { return &batchBroker{memBroker: b.broker(), failAt: -1} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus := &memBus{}
			var opts []core.Option
			if tc.broker != nil {
				opts = append(opts, core.WithBroker(tc.broker(bus)))
			}
			h := newHub(t, opts...)
			clients := []*client{connect(t, h, core.Subscription{Topics: []string{"a", "b"}})}
			if tc.broker != nil { // and on another hub
				clients = append(clients, connect(t, newHub(t, core.WithBroker(bus.broker())), core.Subscription{Topics: []string{"a", "b"}}))
			}
			ids, err := h.PublishBatch(context.Background(), batch3)
			assert.NoError(t, err)
			assert.Equal(t, "ids", len(ids), 3)
			assert.Equal(t, "the app's id", ids[2], "app-3")
			for _, cl := range clients {
				for i, want := range []string{"1", "2", "3"} {
					e := cl.next()
					assert.Equal(t, "in order, once", e.Data, want)
					assert.Equal(t, "with the id returned", e.ID, ids[i])
				}
			}
			assert.Equal(t, "counted", h.Stats().Published, uint64(3))
		})
	}
}

// A batch broker gets the whole batch in one call; when it fails part way,
// PublishBatch returns the ids of the events before, and the error.
func TestHub_PublishBatchThroughBatchBroker(t *testing.T) {
	bus := &memBus{}
	bb := &batchBroker{memBroker: bus.broker(), failAt: -1}
	h := newHub(t, core.WithBroker(bb))
	_, err := h.PublishBatch(context.Background(), batch3)
	assert.NoError(t, err)
	assert.Equal(t, "one call for the batch", bb.calls, 1)

	bb.failAt = 2
	ids, err := h.PublishBatch(context.Background(), batch3)
	assert.True(t, "the broker's error, wrapped", err != nil && err.Error() == "ssehub: publish through broker: engine down")
	assert.Equal(t, "the ids of the events published", len(ids), 2)
	assert.Equal(t, "counted", h.Stats().BrokerErrors, uint64(1))
}

// An invalid event or topic anywhere in the batch: nothing is published, and
// the error names the event.
func TestHub_PublishBatchInvalid(t *testing.T) {
	h := newHub(t)
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	for _, tc := range []struct {
		name string
		bad  core.Publication
		want error
	}{
		{"no topics", core.Publication{Event: core.Event{Data: "x"}}, core.ErrNoTopics},
		{"bad topic", core.Publication{Event: core.Event{Data: "x"}, Topics: []string{""}}, core.ErrInvalidTopic},
		{"bad data", core.Publication{Event: core.Event{Data: "\xff"}, Topics: []string{"a"}}, core.ErrInvalidData},
	} {
		batch := []core.Publication{{Event: core.Event{Data: "ok"}, Topics: []string{"a"}}, tc.bad}
		ids, err := h.PublishBatch(context.Background(), batch)
		assert.ErrorIs(t, err, tc.want)
		assert.True(t, tc.name+": names the event: "+err.Error(), strings.HasPrefix(err.Error(), "ssehub: batch event 1: "))
		assert.Equal(t, tc.name+": no ids", len(ids), 0)
	}
	assert.Equal(t, "nothing published", h.Stats().Published, uint64(0))
	publish(t, h, core.Event{Data: "after"}, "a")
	assert.Equal(t, "the client saw none of them", c.next().Data, "after")

	assert.NoError(t, h.Close())
	_, err := h.PublishBatch(context.Background(), batch3)
	assert.ErrorIs(t, err, core.ErrClosed)
}
