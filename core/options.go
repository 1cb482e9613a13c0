package core

import (
	"fmt"
	"log/slog"
	"time"
)

// An Option configures a Hub. An option given a value that can only be a
// mistake (a negative duration or count) panics when it is made, with a
// message that names it.
type Option func(*options)

type options struct {
	historySize      int
	historyAge       time.Duration
	historyBytes     int
	heartbeat        time.Duration
	writeTimeout     time.Duration
	retry            time.Duration
	maxSubscribers   int
	maxPerClient     int
	maxTopics        int
	noHistory        func(topic string) bool
	drain            time.Duration
	presenceMatch    func(topic string) bool
	presenceChange   func(h *Hub, topic string, n int)
	subscriberKey    func(*Subscriber) string
	snapshot         func(*Subscriber) ([]Event, error)
	onConnect        func(*Subscriber)
	onDisconnect     func(*Subscriber, DisconnectReason)
	shutdownEvent    *Event
	logger           *slog.Logger
	broker           Broker
	brokerTimeout    time.Duration
	takeover         bool
	backpressureLag  int
	backpressureWait time.Duration
	freshnessOff     bool // no freshness measured: only tests set it (export_test.go), to measure its cost
}

func defaultOptions() options {
	return options{
		historySize:    4096,
		historyAge:     5 * time.Minute,
		historyBytes:   8 << 20,
		heartbeat:      15 * time.Second,
		writeTimeout:   10 * time.Second,
		maxTopics:      32,
		retry:          -1, // none sent
		maxSubscribers: -1, // below the open-file limit (fdCap)
		logger:         slog.New(slog.DiscardHandler),
		brokerTimeout:  5 * time.Second,
		takeover:       true,
	}
}

func mustPositive[T int | time.Duration](name string, v T) {
	if v <= 0 {
		panic(fmt.Sprintf("ssehub/core: %s must be positive, got %v", name, v))
	}
}

func mustNonNegative[T int | time.Duration](name string, v T) {
	if v < 0 {
		panic(fmt.Sprintf("ssehub/core: %s must not be negative, got %v", name, v))
	}
}

// WithHistory sets how many events each topic keeps, and for how long, for
// Last-Event-ID replay. The same ring is the fan-out queue, so events is also
// how far a subscriber may fall behind its topic before it is disconnected
// (and resumes with Last-Event-ID). A topic with no subscribers is forgotten
// once its newest event is older than maxAge.
// Default: 4096 events, 5 minutes.
func WithHistory(events int, maxAge time.Duration) Option {
	mustPositive("WithHistory events", events)
	mustPositive("WithHistory maxAge", maxAge)
	return func(o *options) { o.historySize, o.historyAge = events, maxAge }
}

// WithNoHistory makes the topics for which match returns true keep no
// history: their events carry no id and are never replayed, so a client's
// Last-Event-ID does not move with them. For state whose latest value is all
// a reconnecting client wants (a count, a price): give it that with
// WithSnapshot. An event published to several topics gets an id if any of
// them keeps history.
// Default: every topic keeps history (WithHistory).
func WithNoHistory(match func(topic string) bool) Option {
	return func(o *options) { o.noHistory = match }
}

// WithHistoryBytes bounds the encoded bytes each topic keeps; the oldest events
// are dropped first, but the newest is always kept.
// Default: 8 MiB.
func WithHistoryBytes(n int) Option {
	mustPositive("WithHistoryBytes", n)
	return func(o *options) { o.historyBytes = n }
}

// WithHeartbeat sets the idle time after which a stream gets a comment line.
// Heartbeats keep proxies from closing idle streams, and on fasthttp they are
// how a vanished client is noticed at all. Zero disables them (not advised).
// Default: 15s.
func WithHeartbeat(d time.Duration) Option {
	mustNonNegative("WithHeartbeat", d)
	return func(o *options) { o.heartbeat = d }
}

// WithWriteTimeout bounds each write to a client; a client that does not take
// its bytes in time is disconnected (DisconnectWriteTimeout). The deadline is
// renewed once half of it has passed, so a stuck write fails between half the
// timeout and the whole of it after it started.
// Default: 10s.
func WithWriteTimeout(d time.Duration) Option {
	mustPositive("WithWriteTimeout", d)
	return func(o *options) { o.writeTimeout = d }
}

// WithBackpressure makes Publish pace a publisher that outruns its
// subscribers. When more than a sixteenth of a topic's streams (and more than
// two) have not yet written the event lag places before the newest, Publish
// waits for them to catch up: at most maxWait per call, and never past its
// context or Shutdown. The event itself is queued before Publish waits.
//
// The trade: a burst then moves at the speed the streams take it, instead of
// queueing in every client's socket buffers, where each event waits behind
// all the ones before it; but Publish may block for up to maxWait, and the
// burst as a whole takes longer. Turn it on when the freshness of each event
// in a burst matters more than the publisher's pace (prices, say); a few slow
// or stuck streams never hold Publish, since they are cut off by the write
// timeout or fall out of the history. Stats.Paced counts the calls that
// waited. Events that arrive through a broker are not paced, and a hub with a
// broker paces nothing.
// Default: off (lag 0): Publish never waits for subscribers.
func WithBackpressure(lag int, maxWait time.Duration) Option {
	mustNonNegative("WithBackpressure lag", lag)
	if lag > 0 {
		mustPositive("WithBackpressure maxWait", maxWait)
	}
	return func(o *options) { o.backpressureLag, o.backpressureWait = lag, maxWait }
}

// WithRetry sends "retry:" with d at the start of every stream, telling the
// client how long to wait before reconnecting; 0 means at once. It is sent
// on every connect, since not every client remembers it across reconnects.
// Default: none sent (browsers then wait about 3s); a stream then starts
// with a comment line, so that its body starts at once.
func WithRetry(d time.Duration) Option {
	mustNonNegative("WithRetry", d)
	if d%time.Millisecond != 0 {
		panic(fmt.Sprintf("ssehub/core: WithRetry must be whole milliseconds, got %v", d))
	}
	return func(o *options) { o.retry = d }
}

// WithMaxSubscribers caps the streams the hub serves at once; Subscribe
// returns ErrTooManySubscribers past it, which adapters answer with 503 and
// Retry-After. Zero means no cap.
//
// Default: below the process's limit of open files (RLIMIT_NOFILE, its soft
// limit less an eighth, at least 32, for the app's other files and
// connections), since every stream holds a socket: a process out of file
// descriptors cannot even accept a connection to refuse it. Where the limit
// cannot be read, or is unlimited, no cap.
func WithMaxSubscribers(n int) Option {
	mustNonNegative("WithMaxSubscribers", n)
	return func(o *options) { o.maxSubscribers = n }
}

// WithMaxSubscribersPerClient caps the streams of one Subscription.ClientAddr;
// Serve returns ErrTooManySubscribers past it. Zero means no cap. Behind a
// proxy every client may share one address: set ClientAddr accordingly.
// Default: 0.
func WithMaxSubscribersPerClient(n int) Option {
	mustNonNegative("WithMaxSubscribersPerClient", n)
	return func(o *options) { o.maxPerClient = n }
}

// WithMaxTopicsPerSubscriber caps the topics one subscription may name;
// Serve returns ErrTooManyTopics past it.
// Default: 32.
func WithMaxTopicsPerSubscriber(n int) Option {
	mustPositive("WithMaxTopicsPerSubscriber", n)
	return func(o *options) { o.maxTopics = n }
}

// WithSnapshot sets a hook that returns the events a new subscriber gets first:
// the current state, before any live event. It runs on every connect, after
// replayed events (if any). When it returns events, they replace every event
// published before the hook was called, which the stream then skips; events
// published while it runs may arrive twice (in the state and live), so give
// events ids and let clients skip ids they have seen. Update your state
// before you publish, and nothing is lost. Snapshot events get no hub id: set
// Event.ID yourself if they need one. An error or a panic ends that stream.
func WithSnapshot(fn func(*Subscriber) ([]Event, error)) Option {
	return func(o *options) { o.snapshot = fn }
}

// WithOnConnect sets a hook called when a stream starts, once the subscriber
// is counted (Hub.Subscribers includes it). It runs on the stream's goroutine;
// a panic ends that stream.
func WithOnConnect(fn func(*Subscriber)) Option {
	return func(o *options) { o.onConnect = fn }
}

// WithOnDisconnect sets a hook called when a stream has ended, once the
// subscriber is no longer counted, with the reason. A panic is logged.
func WithOnDisconnect(fn func(*Subscriber, DisconnectReason)) Option {
	return func(o *options) { o.onDisconnect = fn }
}

// WithShutdownEvent sets an event written to every stream when the hub shuts
// down, before the stream ends. It must be valid: WithShutdownEvent panics
// otherwise.
func WithShutdownEvent(e Event) Option {
	if err := e.Validate(); err != nil {
		panic("ssehub/core: WithShutdownEvent: " + err.Error())
	}
	return func(o *options) { o.shutdownEvent = &e }
}

// WithDrain spreads the end of a hub's streams over window when it shuts
// down: each stream gets the shutdown event (WithShutdownEvent) at once, then
// ends at a random moment within the window. When an instance behind a load
// balancer shuts down, its clients then reconnect to the others spread over
// the window instead of all in the same instant; with a broker, each resumes
// from its Last-Event-ID, so nothing is lost. Shutdown returns once the last
// stream has ended, or cuts the rest off when its context ends: give it
// (and, on Kubernetes, terminationGracePeriodSeconds) at least the window
// plus the write timeout, and take the instance out of the load balancer
// (readiness) first, since a browser's EventSource does not retry a refused
// connect.
// Default: 0, every stream ends at once.
func WithDrain(window time.Duration) Option {
	mustNonNegative("WithDrain", window)
	return func(o *options) { o.drain = window }
}

// WithPresence counts the streams on the topics match selects, across every
// instance when the hub's broker is a Cluster, and calls onChange with the
// hub and the new count whenever it changes: on every instance, from one
// goroutine of the hub's, in order, possibly before NewHub has returned
// (hence the hub argument). A live-visitors dashboard sends the count to its
// own streams from onChange (Hub.PublishLocal); Hub.Count answers it at any
// time. An instance that dies stops counting within the cluster's bound (the
// Redis broker: about 8 s), with nobody cleaning up. Count only topics whose
// count the app shows: with a Cluster, each change costs a round trip to it.
// Default: none.
func WithPresence(match func(topic string) bool, onChange func(hub *Hub, topic string, n int)) Option {
	return func(o *options) { o.presenceMatch, o.presenceChange = match, onChange }
}

// WithSubscriberKey sets how a subscriber's key is named for Hub.End's
// Selector.Key: typically the user, from its Meta. Then
// hub.End(ctx, core.Selector{Key: user}) ends that user's streams on every
// instance.
// Default: none; Selector.Key selects nothing.
func WithSubscriberKey(key func(*Subscriber) string) Option {
	return func(o *options) { o.subscriberKey = key }
}

// WithLogger sets where the hub logs. It logs nothing per event; lines carry
// structured fields: "client" (Subscription.ClientAddr), "topics" or
// "topic", "reason" (a DisconnectReason, or which cap refused), "err".
//
//   - Warn: faults an operator should look at. The broker lost (for a broker
//     that reports its state), or a publish or subscribe through it failed;
//     subscriptions refused at a cap (WithMaxSubscribers,
//     WithMaxSubscribersPerClient, WithMaxTopicsPerSubscriber); streams cut
//     off by the write timeout, or disconnected for lagging, once there are
//     ten within ten seconds (one slow client is no fault of the server's);
//     a panic in a hook or topic function; an invalid event from the broker;
//     a Shutdown whose deadline cut streams off. A flood could make many of
//     these at once, so each kind logs at most one line per ten seconds, with
//     "count": how many happened since its previous line.
//   - Info: the broker is back after a loss.
//   - Debug: lifecycle: a stream started (with its replay result) or ended
//     (with its reason), a subscription refused for another reason (bad
//     topics, shutdown), a topic the broker starts or stops feeding, the
//     hub shutting down and shut down.
//
// Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithBroker makes the hub share its events with other hubs through b: Publish
// hands events to b, and the hub serves what b delivers. The hub starts b and
// closes it on Shutdown.
// Default: none; events stay in the process.
func WithBroker(b Broker) Option {
	return func(o *options) { o.broker = b }
}

// WithBrokerTimeout bounds each call to the broker: a Publish (a
// PublishContext ends sooner if its context does) and the Subscribe that
// fills a topic's history when its first stream arrives. Publishes made
// within a hundredth of d of each other share one deadline, so a Publish may
// take up to d plus a hundredth.
// Default: 5s.
func WithBrokerTimeout(d time.Duration) Option {
	mustPositive("WithBrokerTimeout", d)
	return func(o *options) { o.brokerTimeout = d }
}

// WithTakeover lets adapters take over HTTP/1.1 connections once the
// response headers are decided: the framework's goroutine, buffers and
// request state are released, and the stream is written by a goroutine of
// the hub's straight to the socket, with a buffer only while it writes. An
// idle stream then costs a few KiB instead of tens (see the README's
// Performance section). HTTP/2 streams are always served the usual way.
//
// The trade-offs: middleware that acts after the handler returns no longer
// sees the response (adapters do not take over when a compressor has set
// Content-Encoding, so compressed streams keep working); the connection is
// closed when the stream ends, not kept for another request; and a client
// that leaves is noticed by the hub's check of its socket, once a second, or
// by a failed write, instead of at once through the request's context. Turn
// it off to keep every stream inside the framework.
// Default: true.
func WithTakeover(on bool) Option {
	return func(o *options) { o.takeover = on }
}
