// Package redisbroker is a core.Broker on Redis Streams: several instances of
// an app, each with its own core.Hub, serve the same events with the same ids,
// so a client that reconnects to another instance resumes exactly where it
// left off.
//
// # Example
//
//	b := redisbroker.New(&redis.Options{Addr: "127.0.0.1:6379"})
//	hub := core.NewHub(core.WithBroker(b))
//	defer hub.Close() // closes the broker too
//	_, err := hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
//
// # Clients
//
// New makes the broker's clients from a *redis.Options and closes them on
// Close. NewFromClient takes the client the app already has: a plain one,
// a Sentinel failover client, or a Cluster client, with its TLS, credentials,
// pool and hooks. The app owns that client: the broker publishes through it
// but never closes it, and the app closes it after the hub. Either way the
// reader does not use the pool: it dials a connection of its own with the
// client's options (through the sentinels for a failover client, to the node
// serving the broker's slot for a cluster client), so its blocking read never
// holds a connection the app needs, and Close can cut it short.
//
// # Data model
//
// All keys share one hash tag, "{prefix}" (WithPrefix), so the multi-key
// scripts, MULTI/EXEC and XREAD below work on Redis Cluster too (on one node):
//
//	{prefix}:meta         hash: epoch (random tag), seq (last event), base (seq when the epoch began),
//	                      rid (replication id of the server that wrote it last)
//	{prefix}:t:<topic>    stream per topic, trimmed to about WithMaxLen, expiring WithStreamTTL after its last event
//	{prefix}:all          stream of Hub.PublishAll events
//	{prefix}:wake:<inst>  one entry at most: wakes one instance's reader (see Reader)
//	{prefix}:n:<topic>    hash: each instance's stream count on topic (core.WithPresence)
//	{prefix}:alive        sorted set: each instance, scored with when its counts expire
//	{prefix}:ctl          Pub/Sub channel: count changes and Hub.End, for every instance
//
// The broker is also a core.Cluster: hubs on one Redis count each other's
// streams (core.WithPresence), each instance's counts lasting only while it
// renews them, and end each other's streams (core.Hub.End) with a message on
// the channel.
//
// A publish runs one Lua script: it increments seq and adds the event to the
// stream of each of its topics with the explicit stream id "<seq>-0". So every
// event has one number, in one global order, the same on all its topics, and
// the id clients see is "<epoch>-<seq>" (or the app's own Event.ID). Redis 5
// or later is needed (streams). An entry's fields: e (epoch) and d (data),
// and when set, i (the app's id), y (type), r (retry, ms), f (flags: live,
// comment, id reset) and p (when the publishing hub accepted it, unix ns:
// core.Message.PublishedAt, from which every hub measures freshness; entries
// stored before p existed lack it, and hubs then count from their arrival).
//
// Events published in one call (see below) share entries: each stream gets
// one entry for up to 32 of the call's events. The entry's own fields, and
// its stream id, are those of its last event; the others are packed in its
// field b (each with its fields and its offset from the call's first seq,
// which is field s). An XADD costs Redis about as much as all the rest of an
// event's publishing and reading, so under load this divides Redis's time per
// event by several, and an instance's reads return a few entries instead of
// hundreds. A lone publish writes an entry of one event, as versions before
// packing did; those versions read only an entry's own event, so during a
// rolling upgrade from one of them its instances miss the packed events:
// upgrade every instance at once, or accept those gaps while the upgrade
// lasts.
//
// # Publishing in batches
//
// Publishes never run two calls to Redis at once. A publish that finds none
// in flight runs the script itself, at once; publishes that come meanwhile
// (Publish from other goroutines, core.Hub.PublishBatch) queue, and when the
// call ends, the broker's publisher goroutine sends everything queued, up to
// 512 events, in one run of the script, and again until the queue is empty
// (when its last run carried several publishes, it first waits up to 100 µs
// for as many to queue again). Each run checks the epoch and moves seq once
// for all its events, gives each its own number, and adds them to their
// streams in shared entries. Each caller waits for its own id. A lone
// publisher goes out at once, as before; under load, the round trip, the
// epoch check (INFO replication), the script's start and the XADDs are
// shared by the events of a batch, which brings Redis's time per event from
// tens of microseconds to about two. A failed call fails every publish in it
// with ErrUnavailable; none is retried. PublishBatch lets one goroutine send
// many events per round trip.
//
// # Routing: one stream per topic
//
// An instance reads the streams of the topics its hub has subscribers for,
// plus the broadcast stream, and nothing else: a topic nobody watches on an
// instance costs that instance nothing. The price: an event for n topics is
// stored n times, and each of an instance's reads names every topic it serves
// (Redis does work per named stream on each read; thousands are fine, a
// million are not). The other choices were a single stream that
// every instance reads in full (one copy, but every instance decodes every
// event of every topic) or topics hashed onto a fixed number of streams (a
// middle ground that still reads foreign topics). Per-topic streams also make
// history exact per topic: a busy topic never evicts a quiet one's history,
// and filling a hub's history is one XREVRANGE on that topic's stream.
//
// # Reader
//
// One goroutine per broker reads, on a connection of its own. Its position is
// one number, the seq of the last event it passed: stream ids rise across all
// streams together, so one position serves them all. Each round, one
// MULTI/EXEC reads every subscribed topic's stream and the broadcast stream
// after the position, together with the epoch and the current seq, in one
// atomic step (a Lua script would do the same, at several times the cost in
// Redis, copying every entry into Lua and back); the reader
// delivers what it found in seq order (an event on several subscribed topics
// once, with those topics) and moves its position up to that seq. When a round
// finds nothing, the reader waits in XREAD BLOCK over the same streams plus its
// wake-up stream, and starts a round when it returns. The XREAD only signals:
// a blocked XREAD that wakes up may report just the stream that woke it (Redis
// 7.0 does), which is no snapshot of the others.
//
// Subscribe, under the lock the reader delivers under, first runs a round
// itself, so the position is the present even on an instance that had no
// traffic; then it delivers the topic's newest events up to the position (the
// history), and adds the topic. History and live events meet with no gap and
// no duplicate. Then it restarts the reader's XREAD, so that it includes the
// new stream, by adding an entry to this instance's wake-up stream, which the
// blocked XREAD names. A wake-up cannot be missed, since it stays in the
// stream until read; if sending one fails, only latency suffers: the reader's
// next round, at most WithBlock later, reads the new topic from the position.
// Unsubscribe needs no wake-up: delivery stops at once, and the next round
// leaves the stream out.
//
// # Faults
//
// When the reader's connection fails (Redis restarted, the network dropped)
// it reconnects with jittered, doubling backoff (WithBackoff) and resumes
// after its position: events published by other instances meanwhile are
// delivered once, in order, as long as the streams still hold them
// (WithMaxLen). While it is disconnected, Publish and Subscribe have it try
// at once (at most ten times a second) and fail with an error
// wrapping ErrUnavailable if it cannot connect. Publish is never retried, not
// by the broker nor by go-redis, whatever the client's MaxRetries: an event is
// never published twice, and never lost silently. BrokerState
// (Hub.Stats().Broker) reports Connected, Reconnects and LastError; WithLogger
// logs the loss (Warn) and the recovery (Info).
//
// What survives a Redis crash is Redis's choice. With an AOF synced on every
// write, every event Publish acknowledged reaches every instance. Without
// persistence, an event acknowledged just before the crash is lost for the
// instances that had not read it yet, and the numbering starts again in a new
// epoch.
//
// # Failover
//
// With Sentinel, a failover client (redis.NewFailoverClient) asks the
// sentinels for the primary at each dial, so the pool and the reader both
// reach the promoted replica: from the primary's death until the sentinels
// promote it, publishes fail with ErrUnavailable, and the first one after
// succeeds. Replication is asynchronous, so the replica may lack the last
// events the old primary acknowledged: they are lost for the instances that
// had not read them yet, and its counter may be below a number already handed
// out. No instance can know, since the one that saw further may come back
// last; so a promoted replica always begins a new epoch. Each script that
// publishes or syncs reads the server's replication ids (INFO replication, a
// few microseconds) and finds the one recorded in the meta hash among the
// promoted server's former ones. Events the replica kept keep their ids and
// are delivered by every instance that had not delivered them yet; the ids of
// lost events are never given to others. The same holds for a Cluster replica
// taking over the broker's slot.
//
// # Ids and epochs
//
// When Redis loses its data (restarted without persistence, flushed, failed
// over to a replica that lagged, restored from an older snapshot), its
// counter starts again from a lower number. Every script that publishes or
// syncs therefore checks the meta hash first: when it is gone, or holds a seq
// lower than one this instance has already seen in the same epoch, or the
// server is a replica promoted since the hash was written, a new epoch
// begins, with a new random tag. Ids from before never match new ones, and
// hubs treat them as unknown, or find them in their own history. The reader
// checks the epoch on every connect and in every round (at least every
// WithBlock), and a publish that meets another epoch wakes it; when the epoch
// changed, it delivers what the streams still hold after the last event it
// delivered, then the new epoch's events. A rollback to an older snapshot
// (without a promotion) is noticed by the first instance that had seen
// further; an instance that had not may publish under numbers that were
// handed out before, until then. Run Redis with a maxmemory policy that never
// evicts the meta hash (noeviction or volatile-*), or ids break.
//
// # Shutdown
//
// Hub.Shutdown calls Close, which closes the reader's socket (a blocked XREAD
// returns at once), waits for the reader and the broker's other goroutines,
// removes this instance's counts, deletes the wake-up stream and closes the
// clients the broker made (New's): no goroutine or connection of the broker
// is left. A client passed to NewFromClient stays open: the app
// closes it, after the hub.
package redisbroker
