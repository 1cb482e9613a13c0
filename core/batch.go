package core

import (
	"context"
	"fmt"
	"time"
)

// A Publication is one event of Hub.PublishBatch and the topics it goes to.
type Publication struct {
	Event  Event
	Topics []string
}

// PublishBatch publishes each event of batch to its topics, in order, as
// Publish would, and returns their ids. It is for one goroutine that has many
// events to send, such as a queue consumer forwarding them: with a broker
// that publishes in batches (a BatchBroker, such as redisbroker's) hundreds
// of events share one round trip instead of taking one each, and ctx and
// WithBrokerTimeout bound the whole batch; with another broker, each event is
// published and bounded as PublishContext's would be.
//
// If an event or a topic is invalid, nothing is published and the error
// names the event's index. On a broker's error, ids holds the ids of the
// events published before it, in order, and the events after it may or may
// not have been published, as with Publish.
func (h *Hub) PublishBatch(ctx context.Context, batch []Publication) (ids []string, err error) {
	for i, p := range batch {
		if err := checkPublishTopics(p.Topics); err != nil {
			return nil, fmt.Errorf("ssehub: batch event %d: %w", i, err)
		}
		if err := p.Event.Validate(); err != nil {
			return nil, fmt.Errorf("ssehub: batch event %d: %w", i, err)
		}
	}
	bb, ok := h.opt.broker.(BatchBroker)
	if !ok { // one at a time: in process that costs no round trip
		ids = make([]string, 0, len(batch))
		for _, p := range batch {
			id, err := h.publish(ctx, p.Event, p.Topics, sendEvent)
			if err != nil {
				return ids, err
			}
			ids = append(ids, id)
		}
		return ids, nil
	}
	if h.isClosed() {
		return nil, ErrClosed
	}
	ms := make([]Message, len(batch))
	now := time.Now() // the publish time every hub measures freshness from
	for i, p := range batch {
		ms[i] = h.message(p.Event, p.Topics, sendEvent, now)
	}
	h.stats.published.Add(uint64(len(batch)))
	ctx, cancel := context.WithTimeout(ctx, h.opt.brokerTimeout)
	defer cancel()
	ids, err = bb.PublishBatch(ctx, ms)
	if err != nil {
		return ids, h.brokerPublishFailed(err, "events", len(batch))
	}
	return ids, nil
}
