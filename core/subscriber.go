package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// A Subscription says what a new stream wants. Adapters build it from the
// request; the app's code decides its Topics.
type Subscription struct {
	// Topics the stream receives. At least one; see ValidateTopic and
	// WithMaxTopicsPerSubscriber. Duplicates are ignored.
	Topics []string
	// LastEventID is the client's Last-Event-ID, if any: the stream resumes
	// after that event when the hub still holds what followed it.
	LastEventID string
	// ClientAddr identifies the client for WithMaxSubscribersPerClient,
	// typically its IP address. Empty means no per-client cap applies.
	ClientAddr string
	// Meta is the app's own value (a user id, say), given back by Subscriber.Meta.
	Meta any
}

// ReplayResult says what the hub made of a subscription's LastEventID.
type ReplayResult int

const (
	// ReplayNone: the client sent no Last-Event-ID; a fresh connect.
	ReplayNone ReplayResult = iota
	// ReplayHit: the stream gets exactly the events it missed, then live ones.
	ReplayHit
	// ReplayMiss: the id is unknown, malformed, from another hub or run, or
	// older than the history; the stream starts with live events. The app may
	// want to send a full state (see WithSnapshot).
	ReplayMiss
)

func (r ReplayResult) String() string {
	switch r {
	case ReplayHit:
		return "hit"
	case ReplayMiss:
		return "miss"
	}
	return "none"
}

// DisconnectReason says why a stream ended.
type DisconnectReason string

const (
	// DisconnectClientGone: the client closed the connection or the request's context ended.
	DisconnectClientGone DisconnectReason = "client_gone"
	// DisconnectLagged: the stream fell behind its topic's history (ErrLagged).
	DisconnectLagged DisconnectReason = "lagged"
	// DisconnectWriteTimeout: the client did not take its bytes within WithWriteTimeout.
	DisconnectWriteTimeout DisconnectReason = "write_timeout"
	// DisconnectShutdown: the hub shut down.
	DisconnectShutdown DisconnectReason = "shutdown"
	// DisconnectClosed: the app called Subscriber.Close.
	DisconnectClosed DisconnectReason = "closed"
	// DisconnectError: a hook failed or panicked, or a write failed otherwise.
	DisconnectError DisconnectReason = "error"
	// DisconnectEnded: the app ended it with Hub.End or Hub.EndWhere.
	DisconnectEnded DisconnectReason = "ended"
)

// A Subscriber is one stream on the hub, as hooks see it. Its methods are safe
// for concurrent use and remain callable after the stream has ended (Send then
// returns ErrClosed).
type Subscriber struct {
	hub    *Hub
	sub    Subscription
	replay ReplayResult

	// Read by the stream; set at subscribe.
	topics    []*topic
	member    []membership // places in the topics' subscriber lists, then the hub-wide one
	sources   []*ring      // topics' rings, the hub's all-ring, and direct
	cursors   []uint64
	ends      []uint64      // scratch for drain
	direct    *ring         // events sent to this subscriber alone
	lastSeq   uint64        // newest seq written
	progress  atomic.Uint64 // lastSeq as of the last write: publishers' view (pace.go)
	lastFrame *frame        // the frame written last: a direct send may share its seq
	skipUpTo  uint64        // frames up to this were replaced by replay or the snapshot
	start     uint64        // committed seq at subscribe: replay ends here

	waiting      atomic.Bool // parked: publishers must wake it
	wake         chan struct{}
	heartbeatDue atomic.Bool
	lastWrite    atomic.Int64 // unix nanoseconds

	state     atomic.Int32 // stateSubscribed, then stateServing, then stateDone
	closeOnce sync.Once
	closed    chan struct{}
	stream    atomic.Pointer[streamRef] // for cutting off a stuck write at shutdown
	conn      net.Conn                  // the stream's socket, when it names one: liveness checks
	ownsConn  bool                      // a ConnStream: nothing else reads conn
	gone      atomic.Bool               // the liveness check found the peer gone
	ended     atomic.Bool               // Hub.End ended it
}

type streamRef struct{ w Stream }

const (
	stateSubscribed int32 = iota
	stateServing
	stateDone
)

// Topics returns the subscriber's topics, without duplicates. Do not modify it.
func (s *Subscriber) Topics() []string { return s.sub.Topics }

// LastEventID returns the Last-Event-ID the client sent, if any.
func (s *Subscriber) LastEventID() string { return s.sub.LastEventID }

// Replay says what became of LastEventID.
func (s *Subscriber) Replay() ReplayResult { return s.replay }

// ClientAddr returns Subscription.ClientAddr.
func (s *Subscriber) ClientAddr() string { return s.sub.ClientAddr }

// Meta returns Subscription.Meta.
func (s *Subscriber) Meta() any { return s.sub.Meta }

// Close ends the stream (DisconnectClosed). It does not wait for it to end.
// Called before Serve, it removes the subscriber from the hub at once.
func (s *Subscriber) Close() { s.endWith(DisconnectClosed) }

// Send sends e to this subscriber alone, after whatever it was sent before.
// Such events are not kept for replay, and get no hub id (set e.ID if needed).
// It returns ErrClosed once the stream has ended, or a validation error. A
// stream that lets more than 256 of them pile up is disconnected (lagged).
func (s *Subscriber) Send(e Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return s.send(&frame{data: appendValidEvent(nil, e), id: e.ID})
}

// send queues f for this subscriber alone.
func (s *Subscriber) send(f *frame) error {
	select {
	case <-s.closed:
		return fmt.Errorf("%w: subscriber gone", ErrClosed)
	default:
	}
	f.own, f.at = true, time.Now().UnixNano()
	f.pubAt = f.at
	h := s.hub
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	if h.opt.broker == nil {
		h.seq++
	} else {
		f.shared = true // numbers are the broker's: share the current one
	}
	f.seq = h.seq
	s.direct.append(f, 1<<62)
	h.committed.Store(f.seq)
	h.mu.Unlock()
	if s.claim() {
		s.wakeNow()
	}
	return nil
}

// SendComment sends text as comment lines (": text") to this subscriber
// alone, after whatever it was sent before (see Hub.PublishComment). It
// returns ErrClosed once the stream has ended, or ErrInvalidData for text
// that is not valid UTF-8.
func (s *Subscriber) SendComment(text string) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: comment is not valid UTF-8", ErrInvalidData)
	}
	return s.send(&frame{data: AppendComment(nil, text), live: true})
}

// claim takes a parked stream for the caller to wake. Publishers call it for
// every subscriber of a topic, so it costs one atomic load when the stream is
// busy.
func (s *Subscriber) claim() bool {
	return s.waiting.Load() && s.waiting.CompareAndSwap(true, false)
}

func (s *Subscriber) wakeNow() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// endWith ends the stream with reason: DisconnectClosed or DisconnectEnded.
// It does not wait for it to end; called before Serve, it removes the
// subscriber from the hub at once.
func (s *Subscriber) endWith(reason DisconnectReason) {
	if reason == DisconnectEnded {
		s.ended.Store(true)
	}
	s.end()
	if s.state.CompareAndSwap(stateSubscribed, stateDone) {
		s.hub.finish(s, reason)
		s.hub.streams.Done()
	}
}

func (s *Subscriber) end() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.wakeNow()
}

// cutOff makes a stuck write fail at once.
func (s *Subscriber) cutOff() {
	s.end()
	if r := s.stream.Load(); r != nil {
		r.w.SetWriteDeadline(time.Unix(1, 0))
	}
}

// Subscribe validates sub, resolves its Last-Event-ID and registers the
// subscriber, which counts from now on (limits, Subscribers, Stats). The
// caller must then call Serve, or Close if it cannot.
//
// It returns ErrClosed, ErrTooManySubscribers, ErrTooManyTopics,
// ErrInvalidTopic, ErrNoTopics, or a broker's error.
func (h *Hub) Subscribe(sub Subscription) (*Subscriber, error) {
	s, capped, err := h.subscribe(sub)
	if err != nil {
		h.refused(sub, capped, err)
	}
	return s, err
}

// refused logs a refused subscription: at Warn when a cap refused it
// (capped), at Debug otherwise.
func (h *Hub) refused(sub Subscription, capped warnKind, err error) {
	var topics any = sub.Topics
	if len(sub.Topics) > h.opt.maxTopics { // the client's list may be long: its length will do
		topics = len(sub.Topics)
	}
	if capped == noWarn {
		h.debug("ssehub: subscription refused", "client", sub.ClientAddr, "topics", topics, "err", err)
		return
	}
	reason := "max_subscribers"
	switch capped {
	case warnClientFull:
		reason = "max_subscribers_per_client"
	case warnTooManyTopics:
		reason = "max_topics_per_subscriber"
	}
	h.warn(capped, "ssehub: subscriptions refused at a cap", "reason", reason, "client", sub.ClientAddr, "topics", topics)
}

// subscribe is Subscribe; capped says which cap, if any, refused it.
func (h *Hub) subscribe(sub Subscription) (_ *Subscriber, capped warnKind, _ error) {
	topics, err := h.checkTopics(sub.Topics)
	if err != nil {
		h.stats.rejected.Add(1)
		if errors.Is(err, ErrTooManyTopics) {
			return nil, warnTooManyTopics, err
		}
		return nil, noWarn, err
	}
	sub.Topics = topics
	if h.opt.broker != nil {
		if err := h.brokerSubscribe(topics); err != nil {
			h.stats.rejected.Add(1)
			return nil, noWarn, err
		}
	}
	s := &Subscriber{
		hub:    h,
		sub:    sub,
		wake:   make(chan struct{}, 1),
		closed: make(chan struct{}),
		direct: newRing(256, 0),
	}
	lastID := strings.TrimSpace(sub.LastEventID) // as HTTP would have it
	s.sub.LastEventID = lastID
	if len(lastID) > MaxIDLength { // resolves to a miss; keep only a bounded copy
		s.sub.LastEventID = strings.Clone(lastID[:MaxIDLength])
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, noWarn, ErrClosed
	}
	if h.opt.maxSubscribers > 0 && len(h.subs) >= h.opt.maxSubscribers {
		h.stats.rejected.Add(1)
		return nil, warnHubFull, fmt.Errorf("%w: the hub serves %d already", ErrTooManySubscribers, len(h.subs))
	}
	if h.opt.maxPerClient > 0 && sub.ClientAddr != "" && h.perClient[sub.ClientAddr] >= h.opt.maxPerClient {
		h.stats.rejected.Add(1)
		return nil, warnClientFull, fmt.Errorf("%w: %d from this client already", ErrTooManySubscribers, h.opt.maxPerClient)
	}
	s.topics = make([]*topic, len(topics))
	for i, name := range topics {
		t := h.topics[name]
		if t == nil {
			t = h.newTopicLocked(name)
		}
		s.topics[i] = t
	}
	s.sources = make([]*ring, 0, len(topics)+2)
	for _, t := range s.topics {
		s.sources = append(s.sources, t.ring)
	}
	s.sources = append(s.sources, h.all.ring, s.direct)
	s.cursors = make([]uint64, len(s.sources))
	s.ends = make([]uint64, len(s.sources))

	s.start = h.seq
	s.replay = ReplayNone
	if lastID != "" {
		s.replay = ReplayMiss
		if seq, ok := h.resolveLocked(lastID, s.sources); ok && h.replayableLocked(seq, s.sources) {
			s.replay = ReplayHit
			s.lastSeq, s.skipUpTo = seq, seq
			for i, r := range s.sources {
				if r.noReplay {
					s.cursors[i] = r.end.Load()
				} else {
					s.cursors[i] = r.after(seq)
				}
			}
		}
	}
	if s.replay != ReplayHit {
		s.lastSeq, s.skipUpTo = h.seq, h.seq
		for i, r := range s.sources {
			s.cursors[i] = r.end.Load()
		}
	}
	s.progress.Store(s.lastSeq)
	switch s.replay {
	case ReplayHit:
		h.stats.replayHits.Add(1)
	case ReplayMiss:
		h.stats.replayMisses.Add(1)
	}

	s.member = make([]membership, len(s.topics)+1)
	for i, t := range s.topics {
		t.subs.add(s, &s.member[i])
	}
	h.all.subs.add(s, &s.member[len(s.topics)])
	h.subs[s] = struct{}{}
	if sub.ClientAddr != "" {
		h.perClient[sub.ClientAddr]++
	}
	s.lastWrite.Store(time.Now().UnixNano())
	h.streams.Add(1)
	h.stats.connects.Add(1)
	if p := h.presence; p != nil {
		p.changed(topics...) // under h.mu: it takes only its own lock
	}
	return s, noWarn, nil
}

func (h *Hub) unsubscribe(s *Subscriber) {
	s.end()
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now().UnixNano()
	for i := range s.member {
		s.member[i].l.remove(&s.member[i])
	}
	for _, t := range s.topics {
		if t.subs.len() == 0 {
			t.idleAt = now
		}
	}
	delete(h.subs, s)
	if a := s.sub.ClientAddr; a != "" {
		if h.perClient[a]--; h.perClient[a] <= 0 {
			delete(h.perClient, a)
		}
	}
	if p := h.presence; p != nil {
		p.changed(s.sub.Topics...)
	}
}

func (h *Hub) checkTopics(topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, ErrNoTopics
	}
	if len(topics) > h.opt.maxTopics {
		return nil, fmt.Errorf("%w: %d, at most %d", ErrTooManyTopics, len(topics), h.opt.maxTopics)
	}
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if err := ValidateTopic(t); err != nil {
			return nil, err
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// resolveLocked turns a Last-Event-ID into a sequence number: a hub id of this
// hub directly, any other id by finding it in the subscriber's history.
func (h *Hub) resolveLocked(id string, sources []*ring) (uint64, bool) {
	if len(id) > MaxIDLength {
		return 0, false
	}
	if rest, ok := strings.CutPrefix(id, h.epoch); ok && len(rest) > 1 && rest[0] == '-' {
		seq, err := parseSeq(rest[1:])
		if err != nil || seq > h.seq {
			return 0, false // garbage, or from the future
		}
		return seq, true
	}
	var best uint64
	var found bool
	for _, r := range sources {
		if seq, ok := r.findID(id); ok && (!found || seq > best) {
			best, found = seq, true
		}
	}
	return best, found
}

// parseSeq parses the decimal seq of a hub id, as the hub writes it: digits
// only (ParseUint takes no sign), no leading zero.
func parseSeq(s string) (uint64, error) {
	if s == "" || s[0] == '0' && len(s) > 1 {
		return 0, fmt.Errorf("bad sequence %q", s)
	}
	return strconv.ParseUint(s, 10, 64)
}

// replayableLocked reports whether every event after seq on the sources is
// still held. The direct ring is the subscriber's own and new, so it is skipped.
func (h *Hub) replayableLocked(seq uint64, sources []*ring) bool {
	for _, r := range sources[:len(sources)-1] {
		if r.dropped > seq && !r.noReplay {
			return false
		}
	}
	return true
}

// brokerSubscribe makes sure the broker fills and feeds every topic.
func (h *Hub) brokerSubscribe(topics []string) error {
	for _, name := range topics {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return ErrClosed
		}
		t := h.topics[name]
		if t == nil {
			t = h.newTopicLocked(name)
		}
		ready, first := t.brokerReady, t.brokerReady == nil
		if first {
			ready = make(chan struct{})
			t.brokerReady = ready
		}
		h.mu.Unlock()
		if first {
			ctx, cancel := context.WithTimeout(context.Background(), h.opt.brokerTimeout)
			err := h.opt.broker.Subscribe(ctx, name, h.opt.historySize)
			cancel()
			if err != nil {
				h.warn(warnBrokerFailed, "ssehub: subscribing through the broker failed", "topic", name, "err", err)
			} else {
				h.debug("ssehub: broker feeds topic", "topic", name)
			}
			h.mu.Lock()
			t.brokerErr = err
			if err != nil {
				t.brokerReady = nil // the next subscriber tries again
				h.stats.brokerErrors.Add(1)
			} else if t.ring.start == 0 {
				// Replay into the topic is complete from just before the
				// oldest message the broker still held; with none, from
				// anywhere.
				t.ring.dropped = 0
				if e := t.ring.at(0); e != nil {
					t.ring.dropped = e.f.seq - 1
				}
			}
			h.mu.Unlock()
			close(ready)
		} else {
			<-ready
		}
		h.mu.Lock()
		err := t.brokerErr
		h.mu.Unlock()
		if err != nil {
			return fmt.Errorf("ssehub: subscribe to %q through broker: %w", name, err)
		}
	}
	return nil
}
