package core

import (
	"context"
	"time"
)

// A Broker carries events between hubs, so that several instances of an app
// behind a load balancer serve the same events with the same ids.
//
// With a broker, Hub.Publish hands the event to the broker instead of serving
// it directly; every hub, the publishing one included, serves what the broker
// delivers. Replay stays local to each hub: a broker fills a hub's history for
// a topic when the hub subscribes to it, so that an id issued by another hub
// resolves here too.
//
// Implementations must be safe for concurrent use.
type Broker interface {
	// Start is called once, by NewHub. From then on the broker calls deliver
	// for each message on a subscribed topic (and each message for all
	// subscribers), from one goroutine at a time, in the broker's order.
	// deliver does not block on clients.
	Start(deliver func(Message)) error
	// Publish hands m to every hub sharing the broker and returns the id
	// clients see: m.ID, or if that is empty, the one the broker assigned.
	// An error means the event may not have been published.
	Publish(ctx context.Context, m Message) (id string, err error)
	// Subscribe asks for the messages of topic. Before it returns, the broker
	// delivers the topic's messages it still holds (at most historyHint, in
	// Seq order), then keeps delivering new ones, with no gap and no duplicate
	// between the two. A delivery names only topics whose Subscribe has
	// returned, and, while it runs, the topic being filled.
	Subscribe(ctx context.Context, topic string, historyHint int) error
	// Unsubscribe says the hub no longer needs topic. It is called from the
	// hub's housekeeping goroutine and must not block.
	Unsubscribe(topic string)
	// Close stops delivery and releases every connection and goroutine of the
	// broker. Hub.Shutdown calls it once, after the streams have ended.
	Close() error
}

// A BatchBroker is a Broker that publishes many messages in one step.
// Hub.PublishBatch uses it when the hub's broker is one, and calls Publish
// for each message otherwise.
type BatchBroker interface {
	Broker
	// PublishBatch publishes ms in order, each as Publish would, and returns
	// their ids. On error, ids holds the ids of the messages published before
	// it, in order; the others may not have been published.
	PublishBatch(ctx context.Context, ms []Message) (ids []string, err error)
}

// A Message is an event on its way between hubs.
type Message struct {
	// ID is the event id clients see; the broker assigns it and it must be a
	// valid id (see ValidateID) that means the same on every hub.
	ID string
	// Topics the event goes to; empty means every subscriber (Hub.PublishAll).
	Topics []string
	// Event is the event, without its ID.
	Event Event
	// Seq is the broker's order for the message, the same on every hub:
	// increasing across all topics in the order live messages are delivered.
	// Hubs replay in this order, so a client on several topics resumes
	// exactly on any hub. Zero lets the hub number messages as they arrive
	// (then only single-topic resumes across hubs are exact).
	Seq uint64
	// Live marks an event without an id that is never replayed
	// (Hub.PublishLive, topics without history); ID is then empty. A broker
	// carries it to every hub, and need not keep it.
	Live bool
	// Comment marks a live comment (Hub.PublishComment): Event.Data is its
	// text.
	Comment bool
	// PublishedAt is when the publishing hub's Publish accepted the event;
	// a broker carries it to every hub, which measures its freshness from
	// it (Stats.Freshness). The zero time means unknown (a broker that does
	// not carry it, or a message stored before it did): freshness then
	// counts from the message's arrival.
	PublishedAt time.Time
}

// A BrokerStater is a Broker that reports its health; Hub.Stats includes it.
type BrokerStater interface {
	BrokerState() BrokerState
}

// BrokerState is a broker's health, as Hub.Stats reports it.
type BrokerState struct {
	Connected  bool   // the broker can publish and deliver now
	Reconnects uint64 // connections lost and regained since Start
	LastError  string // the latest connection or publish error, "" if none
}
