package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Presence and ending streams. Alone, a hub knows its own streams; with a
// broker that is also a Cluster, hubs tell each other how many streams each
// has on a topic and ask each other to end streams, so that a live count and
// a logout hold across every instance of an app.

// A Cluster is a Broker that also carries what hubs tell each other about
// their streams: counts per topic (WithPresence) and requests to end streams
// (Hub.End). The Redis broker is one.
type Cluster interface {
	Broker
	// Join is called once, by NewHub, after Start. From then on the cluster
	// calls end for every End request from any hub, this one's too, and
	// recount when the count of a topic may have changed on another hub or
	// a hub has gone. Neither blocks.
	Join(end func(Selector), recount func(topic string)) error
	// SetCount records that this hub has n streams on topic now (0: none),
	// until the hub leaves or stops refreshing its counts: a hub that dies
	// stops counting within a bound the cluster documents. It may block for
	// one round trip.
	SetCount(ctx context.Context, topic string, n int) error
	// Count returns the streams on topic across every live hub.
	Count(ctx context.Context, topic string) (int, error)
	// End asks every hub sharing the cluster to end the streams sel selects.
	End(ctx context.Context, sel Selector) error
}

// A Selector picks the streams Hub.End ends: those on Topic, those whose key
// is Key (see WithSubscriberKey), or, with both set, those on Topic whose key
// is Key.
type Selector struct {
	Topic string
	Key   string
}

func (sel Selector) selects(s *Subscriber, key func(*Subscriber) string) bool {
	if sel.Topic != "" && !slices.Contains(s.sub.Topics, sel.Topic) {
		return false
	}
	return sel.Key == "" || key != nil && key(s) == sel.Key
}

// ErrNoCluster is returned by Hub.End when the hub's broker is not a
// Cluster: the streams were ended on this hub only.
var ErrNoCluster = errors.New("ssehub: the broker is not a core.Cluster: streams ended on this hub only")

// End ends the streams sel selects, with DisconnectEnded, on this hub and,
// through its broker (a Cluster), on every hub sharing it: a logout, or
// access revoked. Each stream gets "retry: 0" last, so a browser's
// EventSource reconnects at once: make the topic function refuse it first,
// and the reconnect gets 403 and the browser stops for good. End returns when
// the request has gone out; the streams end within moments after.
func (h *Hub) End(ctx context.Context, sel Selector) error {
	if sel.Topic == "" && sel.Key == "" {
		return fmt.Errorf("%w: End with an empty Selector would end every stream; Shutdown does that", ErrNoTopics)
	}
	if h.isClosed() {
		return ErrClosed
	}
	if cl, ok := h.opt.broker.(Cluster); ok {
		if err := cl.End(ctx, sel); err != nil {
			return fmt.Errorf("ssehub: end streams through broker: %w", err)
		}
		return nil
	}
	h.EndWhere(func(s *Subscriber) bool { return sel.selects(s, h.opt.subscriberKey) })
	if h.opt.broker != nil {
		return ErrNoCluster
	}
	return nil
}

// EndWhere ends this hub's streams for which match returns true, with
// DisconnectEnded, and returns how many. match runs under the hub's lock:
// keep it quick, and call no Hub method from it.
func (h *Hub) EndWhere(match func(*Subscriber) bool) int {
	h.mu.Lock()
	var ended []*Subscriber
	for s := range h.subs {
		if match(s) {
			ended = append(ended, s)
		}
	}
	h.mu.Unlock()
	for _, s := range ended {
		s.endWith(DisconnectEnded)
	}
	return len(ended)
}

// Count returns how many streams topic has: across every instance for a
// topic WithPresence counts on a Cluster (as last counted: it follows changes
// within moments), and on this hub otherwise.
func (h *Hub) Count(topic string) int {
	if p := h.presence; p != nil && p.cluster != nil && p.match(topic) {
		p.mu.Lock()
		n, ok := p.last[topic]
		p.mu.Unlock()
		if ok {
			return n
		}
	}
	return h.Subscribers(topic)
}

// presenceRefresh is how often a hub with a Cluster counts its presence
// topics again, whatever it was told: that is how it notices a hub that died
// or a count the cluster lost.
const presenceRefresh = 2 * time.Second

// presence keeps the counts of the topics WithPresence selects, and calls
// the app when one changes. Its goroutine is the only caller of SetCount and
// of the app's function, so counts reach them in order.
type presence struct {
	match    func(topic string) bool
	onChange func(h *Hub, topic string, n int)
	cluster  Cluster // nil: counts are this hub's

	mu    sync.Mutex
	dirty map[string]bool
	last  map[string]int // as last reported to onChange
	wake  chan struct{}
}

func newPresence(match func(string) bool, onChange func(*Hub, string, int), b Broker) *presence {
	p := &presence{match: match, onChange: onChange, dirty: map[string]bool{}, last: map[string]int{}, wake: make(chan struct{}, 1)}
	p.cluster, _ = b.(Cluster)
	return p
}

// changed marks topics for counting.
func (p *presence) changed(topics ...string) {
	p.mu.Lock()
	marked := false
	for _, t := range topics {
		if p.match(t) {
			p.dirty[t], marked = true, true
		}
	}
	p.mu.Unlock()
	if marked {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// run counts what changed until the hub shuts down; with a cluster, it also
// counts every known topic again every presenceRefresh.
func (h *Hub) runPresence(p *presence) {
	defer h.maint.Done()
	var tick <-chan time.Time
	if p.cluster != nil {
		t := time.NewTicker(presenceRefresh)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-h.done:
			return
		case <-p.wake:
		case <-tick:
			// h.mu is never taken under p.mu: Subscribe takes p.mu under
			// h.mu (changed).
			var live []string
			h.mu.Lock()
			for name, t := range h.topics {
				if t.subs.len() > 0 {
					live = append(live, name)
				}
			}
			h.mu.Unlock()
			p.mu.Lock()
			for t := range p.last {
				p.dirty[t] = true
			}
			p.mu.Unlock()
			p.changed(live...)
		}
		p.mu.Lock()
		dirty := p.dirty
		p.dirty = map[string]bool{}
		p.mu.Unlock()
		for topic := range dirty {
			h.count(p, topic)
		}
	}
}

// count counts topic, tells the cluster this hub's share, and the app the
// total if it changed.
func (h *Hub) count(p *presence, topic string) {
	n := h.Subscribers(topic)
	total := n
	if p.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), h.opt.brokerTimeout)
		defer cancel()
		err := p.cluster.SetCount(ctx, topic, n)
		if err == nil {
			total, err = p.cluster.Count(ctx, topic)
		}
		if err != nil {
			h.warn(warnBrokerFailed, "ssehub: counting streams through the broker failed", "topic", topic, "err", err)
			return // counted again at the next refresh
		}
	}
	p.mu.Lock()
	last, known := p.last[topic]
	if total == 0 {
		delete(p.last, topic)
	} else {
		p.last[topic] = total
	}
	p.mu.Unlock()
	if known && last == total || !known && total == 0 {
		return
	}
	if p.onChange != nil {
		func() {
			defer h.recoverHook("presence", nil)
			p.onChange(h, topic, total)
		}()
	}
}
