package core

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// MaxTopicLength is the longest topic name accepted, in bytes.
const MaxTopicLength = 256

// A Hub registers streams, fans published events out to them, keeps each
// topic's recent history for Last-Event-ID replay, and sends heartbeats.
//
// All methods are safe for concurrent use. Publish never blocks on a client:
// a stream that falls further behind than its topic's history is disconnected
// and resumes with Last-Event-ID.
//
// Shut a hub down (Shutdown, or Close) with the HTTP server that serves its
// streams, since an SSE stream never goes idle on its own: httpsse.Shutdown
// and fibersse.Shutdown do both in the right order.
type Hub struct {
	opt           options
	epoch         string // prefix of hub-assigned ids: ids from another hub or run never match
	shutdownFrame []byte // WithShutdownEvent, encoded once

	mu        sync.Mutex
	seq       uint64 // last assigned sequence number
	topics    map[string]*topic
	all       *topic // the pseudo-topic every subscriber is on (PublishAll)
	subs      map[*Subscriber]struct{}
	perClient map[string]int
	closed    bool

	committed atomic.Uint64  // every frame with a seq up to this is in its rings
	done      chan struct{}  // closed by Shutdown
	finished  chan struct{}  // closed when Shutdown has ended every stream
	streams   sync.WaitGroup // subscribers, from Subscribe until Serve (or Close) ends
	owned     sync.WaitGroup // goroutines of taken-over streams (serveOwned)
	maint     sync.WaitGroup

	stats    counters
	deadline atomic.Pointer[sharedDeadline] // see brokerContext
	presence *presence                      // WithPresence; nil without
	warns    [warnKinds]warnLimiter
	broker   brokerWatch // the maintenance goroutine's
}

// A topic is a named ring plus the streams that read it.
type topic struct {
	ring *ring
	subs subList

	idleAt int64 // when the last subscriber left, unix nanoseconds; guarded by Hub.mu

	brokerReady chan struct{} // closed once the broker has filled the history
	brokerErr   error
}

// NewHub returns a running hub configured by opts. With a broker
// (WithBroker) it starts it, and panics if that fails.
func NewHub(opts ...Option) *Hub {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxSubscribers < 0 {
		o.maxSubscribers = fdCap()
	}
	h := &Hub{
		opt:       o,
		epoch:     newEpoch(),
		topics:    make(map[string]*topic),
		subs:      make(map[*Subscriber]struct{}),
		perClient: make(map[string]int),
		done:      make(chan struct{}),
		finished:  make(chan struct{}),
	}
	h.all = &topic{ring: newRing(o.historySize, 0)}
	if e := o.shutdownEvent; e != nil {
		h.shutdownFrame = appendValidEvent(nil, *e)
	}
	if o.broker != nil {
		if err := o.broker.Start(h.deliver); err != nil {
			panic("ssehub/core: starting the broker: " + err.Error())
		}
	}
	if o.presenceMatch != nil {
		h.presence = newPresence(o.presenceMatch, o.presenceChange, o.broker)
		h.maint.Add(1)
		go h.runPresence(h.presence)
	}
	if cl, ok := o.broker.(Cluster); ok {
		recount := func(topic string) {
			if p := h.presence; p != nil {
				p.changed(topic)
			}
		}
		end := func(sel Selector) {
			h.EndWhere(func(s *Subscriber) bool { return sel.selects(s, h.opt.subscriberKey) })
		}
		if err := cl.Join(end, recount); err != nil {
			panic("ssehub/core: joining the broker's cluster: " + err.Error())
		}
	}
	h.maint.Add(1)
	go h.maintain()
	return h
}

// newEpoch returns 8 random base-36 digits. Hub ids are epoch-seq, so an id
// from another hub or an earlier run of this one is never taken for a current one.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	s := strconv.FormatUint(binary.LittleEndian.Uint64(b[:])%2821109907456, 36) // 36^8
	return strings.Repeat("0", 8-len(s)) + s
}

// ValidateTopic reports whether name may be used as a topic: 1 to
// MaxTopicLength bytes, no control characters. The error wraps ErrInvalidTopic.
func ValidateTopic(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidTopic)
	}
	if len(name) > MaxTopicLength {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidTopic, len(name), MaxTopicLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %q contains control byte %#02x", ErrInvalidTopic, name, c)
		}
	}
	return nil
}

// Publish sends e to every subscriber of the given topics, once each, keeps
// it in each topic's history, and returns the id clients see: e.ID, or if
// that is empty, the one the hub (or its broker) assigned. It returns
// ErrNoTopics, ErrClosed, an error from ValidateTopic or Event.Validate
// (nothing is sent), or a broker's error. It never blocks on a client (unless
// WithBackpressure is set).
func (h *Hub) Publish(e Event, topics ...string) (id string, err error) {
	return h.PublishContext(context.Background(), e, topics...)
}

// PublishAll sends e to every subscriber of the hub, whatever its topics, and
// returns its id, as Publish does.
func (h *Hub) PublishAll(e Event) (id string, err error) {
	return h.publish(context.Background(), e, nil, sendEvent)
}

// PublishContext is Publish with a context that bounds the broker's work, or,
// without a broker, the backpressure wait (WithBackpressure).
func (h *Hub) PublishContext(ctx context.Context, e Event, topics ...string) (id string, err error) {
	if err := checkPublishTopics(topics); err != nil {
		return "", err
	}
	return h.publish(ctx, e, topics, sendEvent)
}

// PublishLive sends e to the streams on topics now, and to nobody later: it
// carries no id, is not kept for replay, and does not move a client's
// Last-Event-ID. For what only matters live: a typing indicator, a progress
// tick. e.ID must be empty (e.ResetID may be set). Errors are Publish's.
func (h *Hub) PublishLive(e Event, topics ...string) error {
	return h.publishNoID("PublishLive", e, topics, sendLive)
}

// PublishLocal sends e to this hub's streams on topics now, and not through
// the broker: for what every instance works out for itself, such as a count
// from WithPresence. Like PublishLive's, e carries no id and is not kept for
// replay; e.ID must be empty. Errors are Publish's.
func (h *Hub) PublishLocal(e Event, topics ...string) error {
	return h.publishNoID("PublishLocal", e, topics, sendLocal)
}

// publishNoID serves PublishLive and PublishLocal (method names the caller).
func (h *Hub) publishNoID(method string, e Event, topics []string, kind sendKind) error {
	if err := checkPublishTopics(topics); err != nil {
		return err
	}
	if e.ID != "" {
		return fmt.Errorf("%w: %s sends no id, got %q", ErrInvalidID, method, e.ID)
	}
	_, err := h.publish(context.Background(), e, topics, kind)
	return err
}

// PublishComment sends text as comment lines (": text") to the streams on
// topics now: clients ignore them, and they are not kept for replay. Some
// proxies and clients want padding or a keep-alive of their own; the hub's
// heartbeats (WithHeartbeat) already keep idle streams open. text must be
// valid UTF-8; each of its lines becomes one comment line.
func (h *Hub) PublishComment(text string, topics ...string) error {
	if err := checkPublishTopics(topics); err != nil {
		return err
	}
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: comment is not valid UTF-8", ErrInvalidData)
	}
	_, err := h.publish(context.Background(), Event{Data: text}, topics, sendComment)
	return err
}

func checkPublishTopics(topics []string) error {
	if len(topics) == 0 {
		return ErrNoTopics
	}
	for _, t := range topics {
		if err := ValidateTopic(t); err != nil {
			return err
		}
	}
	return nil
}

// What publish sends: an event, one without id or replay, or a comment.
type sendKind uint8

const (
	sendEvent sendKind = iota
	sendLive
	sendComment // live too; e.Data is the text
	sendLocal   // live, and to this hub's streams only
)

// publish serves Publish, PublishAll (topics nil), PublishLive, PublishLocal
// and PublishComment. A live event gets no id and no place in replay; so do the
// events of topics that keep no history (WithNoHistory).
func (h *Hub) publish(ctx context.Context, e Event, topics []string, kind sendKind) (string, error) {
	if err := e.Validate(); err != nil {
		return "", err
	}
	if h.isClosed() {
		return "", ErrClosed
	}
	h.stats.published.Add(1)
	if b := h.opt.broker; b != nil && kind != sendLocal {
		now := time.Now()
		ctx, cancel := h.brokerContext(ctx, now)
		defer cancel()
		id, err := b.Publish(ctx, h.message(e, topics, kind, now))
		if err != nil {
			// A copy: logging the caller's slice would move it to the heap on every call.
			return "", h.brokerPublishFailed(err, "topics", slices.Clone(topics))
		}
		return id, nil
	}
	f := h.newFrame(e, h.live(e, topics, kind), kind == sendComment)
	f.shared = kind == sendLocal && h.opt.broker != nil
	var stack [4]*topic
	woken, ok := h.append(f, topics, true, 0, nil, stack[:0])
	if !ok {
		return "", ErrClosed // append takes every event while the hub is open
	}
	h.pace(ctx, woken)
	return f.wireID(), nil
}

// brokerPublishFailed counts and logs (with what, a key and a value) a
// publish the broker failed, and returns the error for the caller.
func (h *Hub) brokerPublishFailed(err error, what ...any) error {
	h.stats.brokerErrors.Add(1)
	h.warn(warnBrokerFailed, "ssehub: publishing through the broker failed", append(what, "err", err)...)
	return fmt.Errorf("ssehub: publish through broker: %w", err)
}

// A sharedDeadline is a context that ends WithBrokerTimeout after it began,
// plus a hundredth of that, which the publishes of that hundredth share.
type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc // never called: the context ends by its timer
	until  time.Time
}

// brokerContext returns ctx bounded by WithBrokerTimeout for a call to the
// broker that begins now. A Publish without a context of its own shares one
// with the publishes of the same hundredth of the timeout, ending at most
// that much later: a context and its timer cost about as much CPU as the rest
// of a publish that the broker sends in a batch, and far more allocation.
func (h *Hub) brokerContext(ctx context.Context, now time.Time) (context.Context, context.CancelFunc) {
	if ctx != context.Background() {
		return context.WithTimeout(ctx, h.opt.brokerTimeout)
	}
	if d := h.deadline.Load(); d != nil && now.Before(d.until) {
		return d.ctx, func() {}
	}
	slack := h.opt.brokerTimeout / 100
	d := &sharedDeadline{until: now.Add(slack)}
	d.ctx, d.cancel = context.WithDeadline(context.Background(), now.Add(h.opt.brokerTimeout+slack))
	h.deadline.Store(d)
	return d.ctx, func() {}
}

// live reports whether e, sent as kind to topics, gets no id and no place in
// replay.
func (h *Hub) live(e Event, topics []string, kind sendKind) bool {
	return kind != sendEvent || e.ResetID || h.noHistory(topics)
}

// message is e as a broker carries it: the app's id apart, and a copy of
// topics, so that the caller's variadic slice stays on its stack.
func (h *Hub) message(e Event, topics []string, kind sendKind, publishedAt time.Time) Message {
	id := e.ID
	e.ID = ""
	return Message{ID: id, Topics: slices.Clone(topics), Event: e,
		Live: h.live(e, topics, kind), Comment: kind == sendComment, PublishedAt: publishedAt}
}

// noHistory reports whether every one of topics keeps no history.
func (h *Hub) noHistory(topics []string) bool {
	if h.opt.noHistory == nil || topics == nil {
		return false
	}
	for _, t := range topics {
		if !h.opt.noHistory(t) {
			return false
		}
	}
	return true
}

// idRoom is the space left before an encoded frame for "id: <epoch>-<seq>\n".
const idRoom = 4 + 8 + 1 + 20 + 1

// newFrame encodes e once. A frame whose id the hub assigns (e.ID empty, not
// live) keeps room before the event for the id line, which append writes
// once it knows the number. A comment frame carries e.Data as comment lines.
// Its publish time (freshness) is now; a broker's delivery sets another hub's.
func (h *Hub) newFrame(e Event, live, comment bool) *frame {
	f := &frame{id: e.ID, live: live, at: time.Now().UnixNano()}
	f.pubAt = f.at
	switch {
	case comment:
		f.data = AppendComment(nil, e.Data)
	case e.ID == "" && !live:
		f.hubID = true
		f.data = appendValidEvent(make([]byte, idRoom, idRoom+len(e.Data)+len(e.Type)+32), e)
	default:
		f.data = appendValidEvent(nil, e)
	}
	return f
}

// append numbers f and adds it to the rings of topics (nil: every
// subscriber), counts it in taken (when not nil), then wakes their streams:
// so a client never sees an event before the counter does. A frame with a
// hub id gets its id line here. A broker's seq, when not zero, orders the
// event instead of the hub's next number. It returns woken with the topics it
// appended to added (publishers pace on them), and false if the hub is closed
// or no ring took it.
func (h *Hub) append(f *frame, topics []string, create bool, seq uint64, taken *atomic.Uint64, woken []*topic) ([]*topic, bool) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return woken, false
	}
	switch {
	case f.shared:
		seq = h.seq // numbers are the broker's: share the current one
	case seq == 0:
		seq = h.seq + 1
	}
	h.seq = max(h.seq, seq) // a topic's history, filled late, comes with older numbers
	f.seq = seq
	if f.hubID {
		id := strconv.AppendUint(append(append([]byte("id: "), h.epoch...), '-'), f.seq, 10)
		id = append(id, '\n')
		f.data = f.data[idRoom-len(id):]
		copy(f.data, id)
	}
	if topics == nil {
		h.all.ring.append(f, h.opt.historyBytes)
		woken = append(woken, h.all)
	} else {
		for i, name := range topics {
			if slices.Contains(topics[:i], name) {
				continue
			}
			t := h.topics[name]
			if t == nil {
				if !create {
					continue
				}
				t = h.newTopicLocked(name)
			}
			t.ring.append(f, h.opt.historyBytes)
			woken = append(woken, t)
		}
	}
	h.committed.Store(h.seq)
	h.mu.Unlock()
	if len(woken) == 0 {
		return woken, false
	}
	if taken != nil {
		taken.Add(1)
	}
	for _, t := range woken {
		t.subs.notifyAll()
	}
	return woken, true
}

// newTopicLocked creates a topic. Events published to the name before now are
// unknown to it (the hub may have forgotten an earlier topic of that name), so
// replay into it can only start from the current sequence number.
func (h *Hub) newTopicLocked(name string) *topic {
	t := &topic{ring: newRing(h.opt.historySize, h.seq), idleAt: time.Now().UnixNano()}
	t.ring.noReplay = h.opt.noHistory != nil && h.opt.noHistory(name)
	h.topics[name] = t
	return t
}

// deliver is the broker's entry point.
func (h *Hub) deliver(m Message) {
	e := m.Event
	e.ID = m.ID
	if e.Validate() != nil {
		h.warn(warnBrokerEvent, "ssehub: broker delivered an invalid event; dropped", "id", m.ID, "topics", m.Topics)
		return
	}
	topics := m.Topics
	if len(topics) == 0 {
		topics = nil
	}
	f := h.newFrame(e, m.Live, m.Comment)
	if !m.PublishedAt.IsZero() { // else unknown: freshness counts from now
		f.pubAt = m.PublishedAt.UnixNano()
	}
	h.append(f, topics, false, m.Seq, &h.stats.brokerDelivered, nil)
}

// Subscribers returns how many streams are on topic now.
func (h *Hub) Subscribers(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.topics[topic]; t != nil {
		return t.subs.len()
	}
	return 0
}

func (h *Hub) isClosed() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// Shutdown stops accepting streams and events, writes the shutdown event (see
// WithShutdownEvent) to every stream, ends them all, waits for them and for the
// hub's goroutines, and closes the broker. If ctx ends first, it cuts the
// remaining streams off (their writes fail at once) and returns ctx.Err().
// Later calls wait for the first to finish and return nil.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	first := !h.closed
	h.closed = true
	h.mu.Unlock()
	if !first {
		select {
		case <-h.finished:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	close(h.done)
	h.maint.Wait()
	h.mu.Lock()
	for s := range h.subs {
		s.wakeNow() // parked streams look at h.done when woken
	}
	streams := len(h.subs)
	h.mu.Unlock()
	h.debug("ssehub: shutting down", "streams", streams)

	streamsDone := make(chan struct{})
	go func() { // ends when the last stream does; cutOff below bounds that
		h.streams.Wait()
		h.owned.Wait()
		close(streamsDone)
	}()
	// A subscriber whose Serve has not started yet (its adapter is about to
	// call it) still gets the shutdown event; one that is never served would
	// hold Shutdown up, so after a grace period it is dropped.
	grace := time.NewTimer(unservedGrace)
	defer grace.Stop()
	var err error
	select {
	case <-streamsDone:
	case <-grace.C:
		h.closeUnserved()
		select {
		case <-streamsDone:
		case <-ctx.Done():
			err = h.cutOffAll(ctx, streamsDone)
		}
	case <-ctx.Done():
		err = h.cutOffAll(ctx, streamsDone)
	}
	if err != nil {
		h.opt.logger.Warn("ssehub: shutdown's deadline passed; the streams left were cut off", "err", err)
	}
	if b := h.opt.broker; b != nil {
		if berr := b.Close(); berr != nil && err == nil {
			err = fmt.Errorf("ssehub: closing broker: %w", berr)
		}
	}
	h.debug("ssehub: shut down", "err", err)
	close(h.finished)
	return err
}

// unservedGrace is how long Shutdown waits for a subscriber's Serve to start.
const unservedGrace = time.Second

// closeUnserved drops the subscribers whose Serve never started.
func (h *Hub) closeUnserved() {
	h.mu.Lock()
	var unserved []*Subscriber
	for s := range h.subs {
		if s.state.Load() == stateSubscribed {
			unserved = append(unserved, s)
		}
	}
	h.mu.Unlock()
	for _, s := range unserved {
		s.Close()
	}
}

// cutOffAll ends every stream now: their writes fail at once.
func (h *Hub) cutOffAll(ctx context.Context, streamsDone <-chan struct{}) error {
	h.closeUnserved()
	h.mu.Lock()
	for s := range h.subs {
		s.cutOff()
	}
	h.mu.Unlock()
	<-streamsDone
	return ctx.Err()
}

// Close is Shutdown without a deadline: every write has one already
// (WithWriteTimeout), so it returns within that bound.
func (h *Hub) Close() error { return h.Shutdown(context.Background()) }

// maintain runs the shared heartbeat timer and forgets aged history.
func (h *Hub) maintain() {
	defer h.maint.Done()
	tick := 5 * time.Second
	if hb := h.opt.heartbeat; hb > 0 {
		tick = min(max(hb/4, 10*time.Millisecond), tick)
	}
	tick = min(tick, livenessEvery)
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastLiveness time.Time
	for {
		select {
		case <-h.done:
			return
		case now := <-t.C:
			h.tick(now)
			h.watchBroker()
			if now.Sub(lastLiveness) >= livenessEvery-tick/4 { // ticks jitter
				lastLiveness = now
				h.checkLiveness()
			}
		}
	}
}

func (h *Hub) tick(now time.Time) {
	cutoff := now.Add(-h.opt.historyAge).UnixNano()
	idleSince := now.Add(-h.opt.heartbeat).UnixNano()
	var forget []string
	h.mu.Lock()
	if h.opt.heartbeat > 0 {
		for s := range h.subs {
			if s.lastWrite.Load() <= idleSince {
				s.heartbeatDue.Store(true)
				s.wakeNow()
			}
		}
	}
	h.all.ring.pruneOlderThan(cutoff)
	for name, t := range h.topics {
		t.ring.pruneOlderThan(cutoff)
		if t.subs.len() == 0 && t.ring.newest() == nil && t.idleAt < cutoff {
			delete(h.topics, name)
			if t.brokerReady != nil {
				forget = append(forget, name)
			}
		}
	}
	h.mu.Unlock()
	for _, name := range forget {
		h.debug("ssehub: topic forgotten; the broker stops feeding it", "topic", name)
		h.opt.broker.Unsubscribe(name)
	}
}

// brokerWatch is what watchBroker last saw of the broker.
type brokerWatch struct {
	up, everUp bool
	reconnects uint64
}

// watchBroker logs a broker that reports (BrokerStater) losing its
// connection, at Warn, and regaining it, at Info.
func (h *Hub) watchBroker() {
	bs, ok := h.opt.broker.(BrokerStater)
	if !ok {
		return
	}
	st, w := bs.BrokerState(), &h.broker
	switch {
	case w.up && !st.Connected:
		h.warn(warnBrokerLost, "ssehub: lost the broker; publishing and new topics fail until it is back", "err", st.LastError)
	case w.up && st.Reconnects > w.reconnects:
		h.warn(warnBrokerLost, "ssehub: lost the broker briefly", "err", st.LastError, "reconnects", st.Reconnects)
	case !w.up && st.Connected && w.everUp:
		h.opt.logger.Info("ssehub: the broker is back", "reconnects", st.Reconnects)
	}
	w.up, w.everUp, w.reconnects = st.Connected, w.everUp || st.Connected, st.Reconnects
}
