package redisbroker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// kickEvery is the shortest time between connection attempts that publishes
// and subscribes ask for while Redis is away (see Broker.connection).
const kickEvery = 100 * time.Millisecond

// readCount bounds the entries one read (catchUp) takes from each stream.
const readCount = 512

// run is the reader goroutine: one session per connection, with backoff
// between them, until Close.
func (b *Broker) run() {
	defer b.wg.Done()
	backoff := b.cfg.minBackoff
	for {
		b.st.Lock()
		b.st.trying = true
		b.st.Unlock()
		began := time.Now()
		established, err := b.session()
		if b.isClosed() {
			return
		}
		b.lost(established, err)
		b.readerLost()
		if established {
			backoff = b.cfg.minBackoff
		}
		// Jitter in [backoff/2, backoff]: instances that lost Redis together
		// do not all come back at the same instant.
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-b.done:
			t.Stop()
			return
		case <-b.kick:
			// A publish or subscribe is waiting: try now, but no more than
			// ten times a second, so that publishing through an outage does
			// not turn into a dial per publish.
			t.Reset(time.Until(began.Add(min(b.cfg.minBackoff, kickEvery))))
			select {
			case <-b.done:
				t.Stop()
				return
			case <-t.C:
			}
		case <-t.C:
		}
		backoff = min(2*backoff, b.cfg.maxBackoff)
	}
}

func (b *Broker) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// session reads over a connection of its own until it fails, and reports
// whether it got as far as reading. Each session dials anew, with the options
// readerOptions gives now, so that it reaches the server that serves the
// broker's keys now: a promoted replica, the cluster node the slot moved to.
// Its own connection matters too: a pooled one would be redialed silently,
// and a restarted Redis would go unnoticed.
//
// Each round reads the streams in one MULTI/EXEC (catchUp) until it has caught
// up, then waits in XREAD BLOCK for any of them to grow, or for a wake-up.
// The XREAD's reply is not used: a blocked XREAD that wakes up may report
// only the stream that woke it (Redis 7.0 does), so it is no snapshot of all
// the streams; the next catchUp is.
func (b *Broker) session() (established bool, err error) {
	rd, err := b.readerClient()
	if err != nil {
		return false, err
	}
	defer rd.Close()
	conn := rd.EphemeralConn() // takes the socket just dialed; Close discards it
	defer conn.Close()
	ctx := b.ctx // Close cancels it, and closes the socket to end a blocked read
	if err := b.sync(ctx, conn); err != nil {
		return false, err
	}
	b.up()
	for !b.isClosed() {
		b.st.Lock()
		recheck := b.st.recheck
		b.st.Unlock()
		if recheck {
			if err := b.sync(ctx, conn); err != nil {
				return true, err
			}
		}
		b.mu.Lock()
		caughtUp, n, err := b.catchUp(ctx, conn)
		b.mu.Unlock()
		switch {
		case errors.Is(err, errEpoch):
			if err := b.sync(ctx, conn); err != nil {
				return true, err
			}
			continue
		case err != nil:
			return true, err
		case !caughtUp || n > 0: // busy: read on without waiting
			continue
		}
		res, err := conn.XRead(ctx, &redis.XReadArgs{Streams: b.waitArgs(), Count: 1, Block: b.cfg.block}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return true, err
		}
		for _, s := range res {
			if s.Stream == b.kWake && len(s.Messages) > 0 {
				b.mu.Lock()
				b.wakePos = s.Messages[len(s.Messages)-1].ID
				b.mu.Unlock()
			}
		}
	}
	return true, nil
}

// sync runs syncScript: it learns the epoch on the first session, and keeps
// the position when Redis still holds the same epoch (the reader then resumes
// after the last event it delivered). When Redis began a new epoch, the
// reader goes on after the last event it delivered if the new epoch's base is
// beyond it (the events in between survived, with their ids of before), and
// from the base if the numbers went back below it.
func (b *Broker) sync(ctx context.Context, c redis.Scripter) error {
	b.st.Lock()
	known, floor := b.st.epoch, b.st.floor
	b.st.recheck = false
	b.st.Unlock()
	res, err := syncScript.Run(ctx, c, []string{b.kMeta}, newTag(), known, floor).Result()
	if err != nil {
		return err
	}
	out, err := replyStrings(res, 3)
	if err != nil {
		return err
	}
	epoch := out[0]
	base, _ := strconv.ParseUint(out[1], 10, 64)
	seq, _ := strconv.ParseUint(out[2], 10, 64)

	b.mu.Lock()
	switch {
	case b.epoch == "": // first contact: deliver what is published from now on
		b.epoch, b.pos = epoch, seq
	case epoch != b.epoch:
		b.cfg.logger.Warn("redisbroker: Redis began a new epoch (it lost data, or a replica was promoted); ids start over",
			"old_epoch", b.epoch, "new_epoch", epoch, "last_delivered", b.pos, "base", base)
		if base < b.pos {
			// Numbers went back below what this instance delivered: events it
			// delivered after base are gone from Redis. Keep Message.Seq growing.
			b.seqBase += b.pos - base
			b.pos = base
		}
		// Otherwise the streams still hold the events after pos up to base, of
		// the epoch before (each keeps its id): the reader delivers them first.
		b.epoch, b.wakePos = epoch, ""
	}
	pos := b.pos
	b.mu.Unlock()

	b.st.Lock()
	if b.st.epoch != epoch {
		b.st.floor = 0
	}
	b.st.epoch = epoch
	b.st.floor = max(b.st.floor, pos)
	b.st.Unlock()
	return nil
}

// waitArgs returns the streams and ids for XREAD BLOCK: the wake-up stream
// after the last wake-up seen, the broadcast stream and each subscribed
// topic's after pos.
func (b *Broker) waitArgs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tmu.Lock()
	n := 2 + len(b.topics)
	s := make([]string, 0, 2*n)
	s = append(s, b.kWake, b.kAll)
	for _, k := range b.topics {
		s = append(s, k)
	}
	b.tmu.Unlock()
	wake := b.wakePos
	if wake == "" {
		wake = "0-0"
	}
	s = append(s, wake)
	pos := strconv.FormatUint(b.pos, 10) + "-0"
	for range n - 1 {
		s = append(s, pos)
	}
	return s
}

// errEpoch: Redis holds another epoch than the reader's; it must sync.
var errEpoch = errors.New("redisbroker: Redis holds another epoch (it lost data); resyncing")

// A txPipeliner runs MULTI/EXEC: a client or a connection.
type txPipeliner interface {
	TxPipeline() redis.Pipeliner
}

// catchUp reads the broadcast stream and every subscribed topic's stream after
// pos, in one atomic step that also returns the current seq, and delivers what
// it found in seq order: an event on several subscribed topics once, with
// those topics. The caller holds mu. It returns how many events it delivered,
// and whether it caught up: then every stream holds nothing more up to that
// seq, and pos moves there, even when nothing was delivered, so that a topic
// subscribed next starts from the present.
//
// readCount may cut a busy stream short. Up to the lowest last seq among the
// streams that were cut (the cutoff) every stream's reply is complete; pos
// moves to the cutoff and the rest waits for the next round. An entry's
// stream id is the seq of its last event, and the events packed with it are
// below it: an entry of another stream that holds events on both sides of
// the cutoff comes again in the next round, which delivers only those after
// pos.
func (b *Broker) catchUp(ctx context.Context, c txPipeliner) (caughtUp bool, delivered int, err error) {
	b.tmu.Lock()
	keys := make([]string, 0, 1+len(b.topics)) // the streams; names[i] is keys[i]'s topic
	names := make([]string, 0, 1+len(b.topics))
	keys = append(keys, b.kAll)
	names = append(names, "") // the broadcast stream
	for t, k := range b.topics {
		keys = append(keys, k)
		names = append(names, t)
	}
	b.tmu.Unlock()
	// MULTI/EXEC makes the reads one atomic snapshot, as a script would,
	// without a script's copying of every entry into Lua and back. One XREAD
	// reads every stream after "<pos>-0": our stream ids are "<seq>-0".
	args := make([]any, 0, 4+2*len(keys))
	args = append(args, "XREAD", "COUNT", readCount, "STREAMS")
	for _, k := range keys {
		args = append(args, k)
	}
	after := strconv.FormatUint(b.pos, 10) + "-0"
	for range keys {
		args = append(args, after)
	}
	tx := c.TxPipeline()
	meta := tx.HMGet(ctx, b.kMeta, "epoch", "seq")
	read := tx.Do(ctx, args...)
	if _, err := tx.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) { // Nil: no entries
		return false, 0, err
	}
	byStream, err := xreadReply(read.Val())
	if err != nil {
		return false, 0, err
	}
	if epoch, _ := meta.Val()[0].(string); epoch != b.epoch {
		return false, 0, errEpoch
	}
	seq, _ := meta.Val()[1].(string)
	now, err := strconv.ParseUint(cmp.Or(seq, "0"), 10, 64)
	if err != nil {
		return false, 0, fmt.Errorf("redisbroker: the meta hash's seq %q is no number", seq)
	}
	if now < b.pos { // same epoch, lower seq: Redis went back to an older snapshot
		return false, 0, errEpoch
	}
	gone := make([]bool, len(names)) // unsubscribed while reading: nothing more for them
	b.tmu.Lock()
	for i, name := range names[1:] {
		_, ok := b.topics[name]
		gone[i+1] = !ok
	}
	b.tmu.Unlock()
	cutoff := uint64(math.MaxUint64)
	events, stream := b.events[:0], b.stream[:0] // events[j] came from names[stream[j]]
	defer func() {
		clear(events) // let the data go
		b.events, b.stream = events[:0], stream[:0]
	}()
	for i := range names {
		v, ok := byStream[keys[i]]
		if !ok {
			continue
		}
		var rows int
		if events, rows, err = appendEntries(events, v); err != nil {
			return false, 0, err
		}
		if rows >= readCount {
			cutoff = min(cutoff, events[len(events)-1].seq)
		}
		for len(stream) < len(events) {
			stream = append(stream, i)
		}
	}
	// In seq order, and for one seq in the order of names: an event on
	// several subscribed topics is delivered once, with those topics.
	order := make([]int, 0, len(events))
	for j, e := range events {
		if e.seq > b.pos && e.seq <= cutoff {
			order = append(order, j)
		}
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(events[x].seq, events[y].seq) })
	for k := 0; k < len(order); {
		e := &events[order[k]]
		run := k + 1
		for run < len(order) && events[order[run]].seq == e.seq {
			run++
		}
		var topics []string
		for _, j := range order[k:run] {
			switch i := stream[j]; {
			case i == 0: // the broadcast stream: no topics
			case gone[i]:
			case run-k == 1:
				topics = names[i : i+1 : i+1] // no copy for the common case
			default:
				topics = append(topics, names[i])
			}
		}
		if stream[order[k]] == 0 || len(topics) > 0 {
			b.deliver(e.message(topics, b.seqBase))
			delivered++
		}
		k = run
	}
	caughtUp = cutoff == math.MaxUint64
	if caughtUp {
		b.pos = max(b.pos, now)
	} else {
		b.pos = max(b.pos, cutoff)
	}
	b.st.Lock()
	b.st.floor = max(b.st.floor, b.pos)
	b.st.Unlock()
	return caughtUp, delivered, nil
}

// xreadReply returns the entries of each stream in an XREAD reply: a map
// (RESP3) or a list of [stream, entries] (RESP2); nil when none had any.
func xreadReply(v any) (map[string]any, error) {
	out := make(map[string]any)
	switch v := v.(type) {
	case nil:
	case map[any]any:
		for k, entries := range v {
			name, _ := k.(string)
			out[name] = entries
		}
	case []any:
		for _, s := range v {
			pair, ok := s.([]any)
			if !ok || len(pair) != 2 {
				return nil, fmt.Errorf("redisbroker: unexpected XREAD reply %v", s)
			}
			name, _ := pair[0].(string)
			out[name] = pair[1]
		}
	default:
		return nil, fmt.Errorf("redisbroker: unexpected XREAD reply %T", v)
	}
	return out, nil
}
