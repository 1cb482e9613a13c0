package redisbroker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
)

// A Broker is a core.Broker on Redis Streams. Create it with New or
// NewFromClient and give it to core.WithBroker; the hub starts it, and closes
// it on Shutdown.
//
// All methods are safe for concurrent use. The broker publishes through one
// client (its own, from New, or the app's, from NewFromClient), and reads on
// a connection of its own, which follows a failover: see the package doc.
// Close ends the reader and what the broker made; it never closes a client
// the app passed in.
type Broker struct {
	cfg    config
	pub    redis.UniversalClient // Publish, history and wake-ups: a pool
	ownPub bool                  // made by New: Close closes it
	kMeta  string
	kAll   string
	kWake  string // this instance's wake-up stream
	kTop   string // prefix of topic streams
	inst   string // this instance's name in the cluster's counts and messages
	cl     cluster

	// readerOptions returns the options of the server the reader dials now:
	// those of the app's client, or of the cluster node holding the broker's
	// slot. readerLost is called after a failed session (it has a
	// ClusterClient reload the slots).
	readerOptions func(ctx context.Context) (*redis.Options, error)
	readerLost    func()

	// mu is the delivery lock: deliver is only called under it, so calls never
	// overlap. It is held from each read of the streams to the end of its
	// deliveries, so reads and moves of pos never interleave.
	mu      sync.Mutex
	deliver func(core.Message)
	epoch   string // the epoch the reader synced with; "" before the first sync
	pos     uint64 // seq of the last event delivered: every stream is read after it
	seqBase uint64 // added to seqs for Message.Seq, raised when an epoch restarts them
	wakePos string
	events  []entry // catchUp's, kept between rounds
	stream  []int

	// tmu guards topics, so that Unsubscribe (called from the hub's
	// housekeeping) never waits for a read. Subscribe adds under mu as well.
	tmu    sync.Mutex
	topics map[string]string // subscribed topic → its stream key

	// st guards what Publish and Subscribe need without waiting for deliveries.
	st struct {
		sync.Mutex
		epoch    string        // copy of the reader's epoch
		floor    uint64        // highest seq seen in epoch (delivered or published)
		recheck  bool          // someone met another epoch: the reader syncs again
		live     bool          // the reader is in a synced session
		trying   bool          // the reader is connecting
		attempts uint64        // connection attempts finished, failed or not
		changed  chan struct{} // closed, and replaced, when live or attempts change
		started  bool
		closed   bool
		everUp   bool
		downAt   time.Time
	}
	kick chan struct{} // cuts the reader's backoff short
	pubq pubQueue      // to the publisher goroutine (publish.go)

	connMu sync.Mutex
	// baseDial dials the server of the reader's current session: the
	// Dialer of its options, or go-redis's default one.
	baseDial   func(ctx context.Context, network, addr string) (net.Conn, error)
	next       net.Conn // dialed by the reader, not yet taken by go-redis
	conn       net.Conn // the reader's socket: Close closes it to end a blocked XREAD
	connClosed bool

	connected  atomic.Bool
	reconnects atomic.Uint64
	lastErr    atomic.Pointer[string]

	ctx    context.Context // the reader's; cancelled by Close
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
}

var (
	_ core.Broker       = (*Broker)(nil)
	_ core.BrokerStater = (*Broker)(nil)
)

// New returns a broker on the Redis server that opt describes, with clients
// of its own that Close closes; it connects when the hub starts it, and
// reconnects by itself. It makes its clients from a copy of opt, with
// ContextTimeoutEnabled set, so that the hub's deadline bounds a publish, and
// MaxRetries -1.
//
// For Sentinel, Cluster, or the client an app already has (TLS, auth, pool
// settings, hooks), use NewFromClient.
//
// New panics if opt is nil or an option is invalid.
func New(opt *redis.Options, options ...Option) *Broker {
	if opt == nil {
		panic("redisbroker: New: nil *redis.Options")
	}
	pubOpt := *opt
	pubOpt.MaxRetries = -1
	pubOpt.ContextTimeoutEnabled = true
	rdOpt := *opt
	b := newBroker(redis.NewClient(&pubOpt), true, options)
	b.readerOptions = func(context.Context) (*redis.Options, error) {
		o := rdOpt
		return &o, nil
	}
	return b
}

// NewFromClient returns a broker that publishes through rdb, the app's client,
// and reads on a connection of its own made with rdb's settings. rdb may be
//   - a *redis.Client from redis.NewClient: one server;
//   - a *redis.Client from redis.NewFailoverClient: Sentinel. Publishes and
//     the reader's connection both go to the primary the sentinels name, and
//     follow it when a replica is promoted (see "Failover" in the package doc);
//   - a *redis.ClusterClient: every key of the broker is in one hash slot
//     (WithPrefix), so it works on the node that serves that slot, and
//     follows the slot to another node.
//
// Or what redis.NewUniversalClient returns for these. A *redis.Ring, whose
// shards share nothing, is refused. A failover client on replicas only
// (FailoverOptions.ReplicaOnly) cannot publish: its publishes fail.
//
// The app owns rdb: the broker never closes it, and the app must not close it
// before the broker (core.Hub.Shutdown closes the broker). Publishes go
// through rdb's pool and hooks, bounded by its timeouts (and by the hub's
// deadline if it has ContextTimeoutEnabled), and are never retried, whatever
// rdb's MaxRetries: an event is never published twice. The reader does not
// take a connection from rdb's pool: it dials one with rdb's options (address
// or sentinels, TLS, credentials, DB, OnConnect), so that its blocking read
// never holds a connection the app needs.
//
// NewFromClient panics if rdb is nil or of another type, or an option is
// invalid.
func NewFromClient(rdb redis.UniversalClient, options ...Option) *Broker {
	switch c := rdb.(type) {
	case *redis.Client:
		if c == nil {
			break
		}
		b := newBroker(c, false, options)
		b.readerOptions = func(context.Context) (*redis.Options, error) {
			o := *c.Options()
			return &o, nil
		}
		return b
	case *redis.ClusterClient:
		if c == nil {
			break
		}
		b := newBroker(c, false, options)
		b.readerOptions = func(ctx context.Context) (*redis.Options, error) {
			node, err := c.MasterForKey(ctx, b.kMeta)
			if err != nil {
				return nil, err
			}
			o := *node.Options()
			return &o, nil
		}
		b.readerLost = func() { c.ReloadState(context.Background()) }
		return b
	default:
		if rdb != nil {
			panic(fmt.Sprintf("redisbroker: NewFromClient: %T is not supported: pass a *redis.Client (redis.NewClient, redis.NewFailoverClient) or a *redis.ClusterClient", rdb))
		}
	}
	panic("redisbroker: NewFromClient: nil client")
}

func newBroker(pub redis.UniversalClient, own bool, options []Option) *Broker {
	cfg := defaultConfig()
	for _, o := range options {
		o(&cfg)
	}
	inst := newTag()
	b := &Broker{
		cfg:        cfg,
		pub:        pub,
		ownPub:     own,
		kMeta:      "{" + cfg.prefix + "}:meta",
		kAll:       "{" + cfg.prefix + "}:all",
		kWake:      "{" + cfg.prefix + "}:wake:" + inst,
		kTop:       "{" + cfg.prefix + "}:t:",
		inst:       inst,
		topics:     make(map[string]string),
		readerLost: func() {},
		done:       make(chan struct{}),
	}
	b.st.changed = make(chan struct{})
	b.kick = make(chan struct{}, 1)
	b.pubq.wake = make(chan struct{}, 1)
	b.pubq.filled = make(chan struct{}, 1)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// newTag returns 10 random base-36 digits: an epoch tag, or an instance name.
func newTag() string {
	var r [8]byte
	rand.Read(r[:])
	s := strconv.FormatUint(binary.LittleEndian.Uint64(r[:])%3656158440062976, 36) // 36^10
	return strings.Repeat("0", 10-len(s)) + s
}

// Start starts the reader, which connects to Redis in the background: Start
// does not wait for it, so a hub starts even while Redis is down; and the
// publisher goroutine. It is called once, by core.NewHub.
func (b *Broker) Start(deliver func(core.Message)) error {
	b.st.Lock()
	defer b.st.Unlock()
	switch {
	case b.st.closed:
		return ErrClosed
	case b.st.started:
		return errors.New("redisbroker: Start called twice")
	}
	b.st.started = true
	b.deliver = deliver
	b.wg.Add(2)
	go b.run()
	go b.publisher()
	return nil
}

// Subscribe makes the reader read topic's stream from now on. Under the lock
// the reader delivers under, it first brings the reader's position up to date
// (delivering whatever the subscribed streams hold up to now), then delivers
// up to historyHint of the topic's events up to that position, then adds the
// topic: history and live events meet with no gap and no duplicate. While the
// reader is disconnected it fails as Publish does.
func (b *Broker) Subscribe(ctx context.Context, topic string, historyHint int) error {
	if err := core.ValidateTopic(topic); err != nil {
		return err
	}
	if err := b.connection(ctx); err != nil {
		return fmt.Errorf("subscribe %q: %w", topic, err)
	}
	if err := b.subscribe(ctx, topic, historyHint); err != nil {
		if errors.Is(err, errEpoch) { // the reader must sync first
			b.requestSync(ctx)
		}
		b.setErr(err)
		return fmt.Errorf("%w: subscribe %q: %w", ErrUnavailable, topic, err)
	}
	b.wake(ctx)
	return nil
}

func (b *Broker) subscribe(ctx context.Context, topic string, historyHint int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subscribed(topic) {
		return nil
	}
	for { // ends: each round delivers entries, and the backlog is bounded by WithMaxLen
		caughtUp, _, err := b.catchUp(ctx, b.pub)
		if err != nil {
			return err
		}
		if caughtUp {
			break
		}
	}
	key := b.kTop + topic
	if historyHint > 0 && b.pos > 0 {
		res, err := historyScript.Run(ctx, b.pub, []string{b.kMeta, key}, b.epoch,
			strconv.FormatUint(b.pos, 10)+"-0", historyHint).Result()
		if errors.Is(err, redis.Nil) {
			return errEpoch
		}
		if err != nil {
			return err
		}
		hist, _, err := appendEntries(nil, res) // at least historyHint events
		if err != nil {
			return err
		}
		slices.SortFunc(hist, func(x, y entry) int { return cmp.Compare(x.seq, y.seq) })
		for _, e := range hist[max(0, len(hist)-historyHint):] {
			b.deliver(e.message([]string{topic}, b.seqBase))
		}
	}
	b.tmu.Lock()
	b.topics[topic] = key
	b.tmu.Unlock()
	return nil
}

func (b *Broker) subscribed(topic string) bool {
	b.tmu.Lock()
	defer b.tmu.Unlock()
	_, ok := b.topics[topic]
	return ok
}

// Unsubscribe stops delivering topic at once (a read under way delivers
// nothing more for it); the reader leaves its stream out from the next read.
func (b *Broker) Unsubscribe(topic string) {
	b.tmu.Lock()
	delete(b.topics, topic)
	b.tmu.Unlock()
}

// requestSync asks the reader to check the epoch again, and wakes it.
func (b *Broker) requestSync(ctx context.Context) {
	b.st.Lock()
	b.st.recheck = true
	b.st.Unlock()
	b.wake(ctx)
}

// wake adds an entry to this instance's wake-up stream, which every XREAD of
// the reader includes, so that a blocked XREAD returns and the reader starts
// again with the current set of streams. Nothing is lost if it fails: the
// reader sees the change at its next return, within WithBlock.
func (b *Broker) wake(ctx context.Context) {
	_, err := b.pub.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: b.kWake, MaxLen: 1, Values: []any{"w", "1"}})
		p.PExpire(ctx, b.kWake, max(10*b.cfg.block, time.Minute))
		return nil
	})
	if err != nil {
		b.cfg.logger.Debug("redisbroker: waking the reader failed", "err", err)
	}
}

// Close stops the reader, cutting a blocked read short, waits for it, for the
// publisher goroutine (and the call it has in flight, if any) and for the
// cluster's goroutines, removes this instance's counts, and closes the
// clients the broker made (New's, and the reader's), never the app's
// (NewFromClient's). A publish making its call on its own goroutine meanwhile
// may be cut short: it fails with ErrUnavailable. Later calls return nil.
func (b *Broker) Close() error {
	b.st.Lock()
	if b.st.closed {
		b.st.Unlock()
		return nil
	}
	b.st.closed = true
	close(b.done)
	b.st.Unlock()

	b.cancel()
	b.connMu.Lock()
	b.connClosed = true
	for _, c := range []net.Conn{b.next, b.conn} {
		if c != nil {
			c.Close()
		}
	}
	b.connMu.Unlock()
	b.wg.Wait()
	b.leave()

	if b.connected.Swap(false) { // tidy up; with Redis away there is nothing to tidy
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		b.pub.Del(ctx, b.kWake)
		cancel()
	}
	if b.ownPub {
		return b.pub.Close()
	}
	return nil
}
