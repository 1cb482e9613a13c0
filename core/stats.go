package core

import "sync/atomic"

// Stats is a snapshot of a hub's counters, cheap to take and ready for
// expvar or a Prometheus collector (it marshals to JSON as is). Counters
// count from NewHub.
type Stats struct {
	Subscribers    int            // streams now
	MaxSubscribers int            // the cap in force (WithMaxSubscribers); 0: none
	Topics         map[string]int // streams now, per topic that has any
	Connects       uint64         // streams started
	Rejected       uint64         // subscriptions refused (limits, bad topics, broker failure)
	Disconnects    map[DisconnectReason]uint64

	Published     uint64 // events and comments accepted by every Publish method, each event of a batch
	Paced         uint64 // Publish calls that waited for subscribers to catch up (WithBackpressure)
	FramesWritten uint64 // events written to streams, summed over streams
	BytesWritten  uint64
	Heartbeats    uint64
	ReplayHits    uint64
	ReplayMisses  uint64
	HookPanics    uint64

	BrokerDelivered uint64 // messages the broker delivered to this hub
	BrokerErrors    uint64 // broker publishes and subscribes that failed

	// Freshness counts, per event written to a stream live (not replayed),
	// the time from Publish accepting it to the end of the write that
	// carried it to the stream's socket: the time the event spent in the
	// hub, in the stream's queue and in the write. With a broker it starts
	// on the instance that published the event (Message.PublishedAt), so it
	// includes the broker's hop and any difference between the instances'
	// clocks; events whose broker gave no publish time count from their
	// arrival here.
	Freshness Histogram
	// Broker is the broker's own report, when it implements BrokerStater.
	Broker *BrokerState `json:",omitempty"`
}

type counters struct {
	connects, rejected, published, frames, bytes, heartbeats atomic.Uint64
	replayHits, replayMisses, hookPanics                     atomic.Uint64
	brokerDelivered, brokerErrors, paced                     atomic.Uint64
	gone, lagged, timeout, shutdown, closed, failed, ended   atomic.Uint64
	freshness                                                freshness
}

func (c *counters) disconnect(r DisconnectReason) {
	switch r {
	case DisconnectClientGone:
		c.gone.Add(1)
	case DisconnectLagged:
		c.lagged.Add(1)
	case DisconnectWriteTimeout:
		c.timeout.Add(1)
	case DisconnectShutdown:
		c.shutdown.Add(1)
	case DisconnectClosed:
		c.closed.Add(1)
	case DisconnectEnded:
		c.ended.Add(1)
	default:
		c.failed.Add(1)
	}
}

// Stats returns a snapshot of the hub's counters.
func (h *Hub) Stats() Stats {
	c := &h.stats
	st := Stats{
		Connects: c.connects.Load(),
		Rejected: c.rejected.Load(),
		Disconnects: map[DisconnectReason]uint64{
			DisconnectClientGone:   c.gone.Load(),
			DisconnectLagged:       c.lagged.Load(),
			DisconnectWriteTimeout: c.timeout.Load(),
			DisconnectShutdown:     c.shutdown.Load(),
			DisconnectClosed:       c.closed.Load(),
			DisconnectError:        c.failed.Load(),
			DisconnectEnded:        c.ended.Load(),
		},
		Published:       c.published.Load(),
		Paced:           c.paced.Load(),
		FramesWritten:   c.frames.Load(),
		BytesWritten:    c.bytes.Load(),
		Heartbeats:      c.heartbeats.Load(),
		ReplayHits:      c.replayHits.Load(),
		ReplayMisses:    c.replayMisses.Load(),
		HookPanics:      c.hookPanics.Load(),
		BrokerDelivered: c.brokerDelivered.Load(),
		BrokerErrors:    c.brokerErrors.Load(),
		Freshness:       c.freshness.snapshot(),
		Topics:          make(map[string]int),
	}
	if bs, ok := h.opt.broker.(BrokerStater); ok {
		state := bs.BrokerState()
		st.Broker = &state
	}
	h.mu.Lock()
	st.Subscribers = len(h.subs)
	st.MaxSubscribers = h.opt.maxSubscribers
	for name, t := range h.topics {
		if n := t.subs.len(); n > 0 {
			st.Topics[name] = n
		}
	}
	h.mu.Unlock()
	return st
}
