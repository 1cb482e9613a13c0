package redisbroker

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ssehub/ssehub/core"
)

// Publishing. Publish and PublishBatch never run two calls to Redis at
// once: a caller that finds none in flight makes one itself, with its own
// events; callers that come meanwhile queue theirs, and when the call ends the
// broker's publisher goroutine sends everything queued in one run of
// publishScript (one round trip, one epoch check and one move of the counter
// for the whole batch), and again, until the queue is empty. When its last
// call carried several callers' events, it first waits, 100 µs at most, for
// as many to queue again: most publish again at once, and one call for all of
// them costs less than two (group commit). Each caller waits for its own
// result. A lone publisher is served at once, on its own
// goroutine; under load each call carries many events, so Redis spends a few
// microseconds per event instead of a few tens, and a caller waits for at
// most the call in flight and its own.

// Bounds of one publishScript run: Redis runs a script without serving
// anyone else, so a batch is kept to about a millisecond of its time.
const (
	maxBatchEvents = 512
	maxBatchBytes  = 1 << 20
)

var _ core.BatchBroker = (*Broker)(nil)

// A pubReq is a Publish, or one chunk of a PublishBatch, on its way to the
// publisher goroutine, which answers it by setting ids or err and sending on
// done. Requests are pooled: one that was answered goes back to the pool once
// its caller has read the answer; one its caller gave up on does not.
type pubReq struct {
	ctx  context.Context
	ms   []core.Message
	keys [][]string // the streams of each message
	size int        // about how many bytes ms take in the script call

	ids  []string
	err  error
	done chan struct{} // buffered: the answer never waits

	// A Publish's message, streams and id, held here to spare allocations.
	one    [1]core.Message
	oneKey [1][]string
	keyBuf [4]string
	oneID  [1]string
}

var reqPool = sync.Pool{New: func() any { return &pubReq{done: make(chan struct{}, 1)} }}

func newReq(ctx context.Context) *pubReq {
	r := reqPool.Get().(*pubReq)
	r.ctx = ctx
	return r
}

func (r *pubReq) release() {
	*r = pubReq{done: r.done}
	reqPool.Put(r)
}

// Publish adds the event to the stream of each of m.Topics (or to the
// broadcast stream when there are none) under one new id, atomically, and
// returns the id clients see: m.ID, or "<epoch>-<seq>". Concurrent calls
// share a Redis call (see PublishBatch).
//
// While the reader is disconnected, Publish does not try Redis on its own: it
// has the reader try at once, without waiting out its backoff, and fails if
// that attempt does (see connection). Errors wrap ErrUnavailable (or are
// ErrClosed, or a validation error): Publish never fails silently, and is
// never retried, so an event is never added twice.
func (b *Broker) Publish(ctx context.Context, m core.Message) (string, error) {
	r := newReq(ctx)
	keys, size, err := b.streams(m, r.keyBuf[:0])
	if err != nil {
		r.release()
		return "", err
	}
	r.one[0], r.oneKey[0] = m, keys
	r.ms, r.keys, r.size = r.one[:], r.oneKey[:], size
	if err := b.connection(ctx); err != nil {
		r.release()
		return "", fmt.Errorf("publish: %w", err)
	}
	if err := b.publishReq(ctx, r); err != nil {
		return "", err
	}
	var id string
	if r.err == nil {
		id = r.ids[0] // before release clears it
	}
	err = r.err
	r.release()
	return id, err
}

// PublishBatch publishes ms in order, each as Publish would, and returns
// their ids: up to maxBatchEvents (512) messages go in one Redis call, with
// one round trip, together with whatever other publishes are waiting. An
// invalid message fails the whole batch before anything is sent. On a Redis
// error, ids holds the ids of the messages published before it, in order;
// the error wraps ErrUnavailable, and the messages after may or may not have
// been published (as with Publish, none is ever retried).
func (b *Broker) PublishBatch(ctx context.Context, ms []core.Message) (ids []string, err error) {
	ms = slices.Clone(ms) // the publisher may read them after ctx ends
	reqs, err := b.newRequests(ctx, ms)
	if err != nil {
		return nil, err
	}
	done := 0 // reqs[:done] are answered, or were never handed over
	defer func() {
		for _, r := range reqs[:done] {
			r.release()
		}
	}()
	if err := b.connection(ctx); err != nil {
		done = len(reqs)
		return nil, fmt.Errorf("publish: %w", err)
	}
	ids = make([]string, 0, len(ms))
	for _, r := range reqs {
		if err := b.publishReq(ctx, r); err != nil {
			return ids, err
		}
		done++
		if r.err != nil {
			done = len(reqs) // the rest were never handed over
			return ids, r.err
		}
		ids = append(ids, r.ids...)
	}
	return ids, nil
}

// streams validates m and appends the keys of its streams to keys; it also
// returns about how many bytes m takes in the script call.
func (b *Broker) streams(m core.Message, keys []string) ([]string, int, error) {
	if err := core.ValidateID(m.ID); err != nil {
		return nil, 0, err
	}
	size := len(m.ID) + len(m.Event.Type) + len(m.Event.Data) + 32
	if len(m.Topics) == 0 {
		return append(keys, b.kAll), size, nil
	}
	for j, t := range m.Topics {
		if err := core.ValidateTopic(t); err != nil {
			return nil, 0, err
		}
		if !slices.Contains(m.Topics[:j], t) {
			keys = append(keys, b.kTop+t)
			size += len(b.kTop) + len(t)
		}
	}
	return keys, size, nil
}

// newRequests validates ms and cuts them into requests of at most
// maxBatchEvents messages and about maxBatchBytes.
func (b *Broker) newRequests(ctx context.Context, ms []core.Message) ([]*pubReq, error) {
	var reqs []*pubReq
	var r *pubReq
	for i, m := range ms {
		keys, size, err := b.streams(m, nil)
		if err != nil {
			for _, r := range reqs {
				r.release()
			}
			return nil, err
		}
		if r == nil || len(r.ms) == maxBatchEvents || r.size+size > maxBatchBytes {
			r = newReq(ctx)
			r.ms = ms[i:i]
			reqs = append(reqs, r)
		}
		r.ms = r.ms[:len(r.ms)+1]
		r.keys = append(r.keys, keys)
		r.size += size
	}
	return reqs, nil
}

// publishReq has r published and waits for its answer, or for ctx. A nil
// error means r holds the answer (r.ids, or r.err); otherwise r may still be
// in the publisher's hands, and must not be released.
//
// When no call is in flight, the caller makes one itself, at once, with r
// alone: a lone publisher pays no hand-off to another goroutine. Otherwise r
// queues; when the call in flight ends, the publisher goroutine takes over
// and sends what queued meanwhile, batch after batch, until the queue is
// empty.
func (b *Broker) publishReq(ctx context.Context, r *pubReq) error {
	q := &b.pubq
	q.Lock()
	if q.closed {
		q.Unlock()
		return ErrClosed
	}
	if !q.busy {
		q.busy = true
		q.Unlock()
		q.run.publish(b, []*pubReq{r})
		<-r.done // answered already
		q.Lock()
		handOff := len(q.reqs) > 0
		q.busy = handOff
		q.Unlock()
		if handOff {
			q.wake <- struct{}{} // never blocks: one hand-off at a time
		}
		return nil
	}
	q.reqs = append(q.reqs, r)
	if q.want > 0 && len(q.reqs) >= q.want {
		q.want = 0
		q.filled <- struct{}{} // never blocks: one wait at a time
	}
	q.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done(): // the publisher may publish it still: "may or may not"
		return fmt.Errorf("%w: publish: %w", ErrUnavailable, ctx.Err())
	}
}

// A pubQueue holds the requests waiting for a call to Redis. Whoever makes
// the calls holds busy: a caller (one call, its own), or the publisher
// goroutine, which a caller hands busy to when others queued meanwhile.
type pubQueue struct {
	sync.Mutex
	reqs   []*pubReq
	busy   bool          // a call is in flight, or about to be
	closed bool          // Close: requests fail with ErrClosed
	wake   chan struct{} // hands busy to the publisher goroutine
	run    publishRun    // used by whoever holds busy

	want   int           // the publisher waits for this many queued requests
	filled chan struct{} // and is told here
}

// siblingsWait bounds how long the publisher waits for the callers of its
// last call to publish again (see gather).
const siblingsWait = 100 * time.Microsecond

// gather waits, at most siblingsWait, until n requests are queued: the
// callers of a call that carried n requests mostly publish again at once, and
// one call for all of them costs Redis less than two.
func (q *pubQueue) gather(n int, t *time.Timer) {
	q.Lock()
	if len(q.reqs) >= n {
		q.Unlock()
		return
	}
	q.want = n
	q.Unlock()
	t.Reset(siblingsWait)
	select {
	case <-q.filled:
		t.Stop()
	case <-t.C:
		q.Lock()
		if q.want == 0 { // filled meanwhile
			<-q.filled
		}
		q.want = 0
		q.Unlock()
	}
}

// take removes requests of up to maxBatchEvents messages and about
// maxBatchBytes from the front of the queue and appends them to batch. The
// caller holds busy; when the queue is empty, it no longer does.
func (q *pubQueue) take(batch []*pubReq) []*pubReq {
	q.Lock()
	defer q.Unlock()
	if len(q.reqs) == 0 {
		q.busy = false
		return batch
	}
	n, size, i := 0, 0, 0
	for ; i < len(q.reqs); i++ {
		r := q.reqs[i]
		if i > 0 && (n+len(r.ms) > maxBatchEvents || size+r.size > maxBatchBytes) {
			break
		}
		batch = append(batch, r)
		n, size = n+len(r.ms), size+r.size
	}
	rest := copy(q.reqs, q.reqs[i:])
	clear(q.reqs[rest:])
	q.reqs = q.reqs[:rest]
	return batch
}

// close fails the queued requests, and every later one, with ErrClosed.
func (q *pubQueue) close() {
	q.Lock()
	defer q.Unlock()
	q.closed = true
	for _, r := range q.reqs {
		r.answer(nil, ErrClosed)
	}
	q.reqs = nil
}

// publisher is the goroutine that sends what queues up while a call is in
// flight, from a hand-off until the queue is empty, until Close; then it
// fails what is still queued with ErrClosed. A request taken is answered even
// if Close comes meanwhile.
func (b *Broker) publisher() {
	defer b.wg.Done()
	q := &b.pubq
	var batch []*pubReq
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-q.wake:
		case <-b.done:
			q.close()
			return
		}
		last := 1 // requests in the last call
		for {
			// Let the callers just answered run first: those that publish
			// again at once join this batch instead of waiting for the next
			// round trip.
			runtime.Gosched()
			if last > 1 {
				q.gather(last, t)
			}
			batch = q.take(batch[:0])
			last = len(batch)
			if len(batch) == 0 {
				break // busy is released
			}
			q.run.publish(b, batch)
			clear(batch) // let the requests go
		}
	}
}

// maxEntryEvents bounds the events one stream entry holds: a batch's events
// for one stream share an entry (one XADD, which costs Redis about as much
// as the rest of an event's publishing) up to this many. It also bounds how
// far a stream of WithMaxLen entries may hold more events than that.
const maxEntryEvents = 32

// A publishRun is the scratch space of the calls to Redis, kept between them.
type publishRun struct {
	keys   []string       // KEYS: the meta hash, then each stream of the batch once
	index  map[string]int // key → its index in keys
	events [][]int        // for keys[i], the offsets in msgs of its events
	msgs   []*core.Message
	packed []byte // the packed events of every entry, one after another
	args   []any
}

// publish runs publishScript for the messages of batch and answers each
// request. A request whose context has ended is failed, not sent. The call's
// deadline is the earliest of theirs; its values are the first request's
// (for the client's hooks).
func (p *publishRun) publish(b *Broker, batch []*pubReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.answer(nil, fmt.Errorf("%w: publish: %w", ErrUnavailable, err))
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx := context.WithoutCancel(live[0].ctx)
	var deadline time.Time
	for _, r := range live {
		if d, ok := r.ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
	}
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}

	b.st.Lock()
	closed, epoch, floor := b.st.closed, b.st.epoch, b.st.floor
	b.st.Unlock()
	if closed {
		for _, r := range live {
			r.answer(nil, ErrClosed)
		}
		return
	}
	p.args = p.entryArgs(b, live, epoch, floor)
	n := len(p.msgs)
	res, err := runOnce(ctx, b.pub, publishScript, p.keys, p.args...)
	clear(p.args) // let the data go
	clear(p.msgs)
	var out []string
	if err == nil {
		out, err = replyStrings(res, 2)
	}
	if err != nil {
		b.setErr(err)
		err = fmt.Errorf("%w: publish: %w", ErrUnavailable, err)
		for _, r := range live {
			r.answer(nil, err)
		}
		return
	}
	first, _ := strconv.ParseUint(out[1], 10, 64)
	last := first + uint64(n) - 1
	b.st.Lock()
	other := epoch != "" && out[0] != b.st.epoch && !b.st.recheck
	if other {
		b.st.recheck = true // Redis lost data behind the reader's back
	} else if out[0] == b.st.epoch {
		b.st.floor = max(b.st.floor, last)
	}
	b.st.Unlock()
	if other {
		b.wake(ctx)
	}
	seq := first
	for _, r := range live {
		ids := r.oneID[:]
		if len(r.ms) > 1 {
			ids = make([]string, len(r.ms))
		}
		for i, m := range r.ms {
			ids[i] = wireID(m.ID, m.Live, out[0], seq)
			seq++
		}
		r.answer(ids, nil)
	}
}

// entryArgs returns the arguments of publishScript for the messages of
// batch, and sets its keys in p.keys and the messages, in batch order, in
// p.msgs. Each stream gets its events in entries of up to maxEntryEvents;
// its last entry trims it.
func (p *publishRun) entryArgs(b *Broker, batch []*pubReq, epoch string, floor uint64) []any {
	if p.index == nil {
		p.index = make(map[string]int)
	}
	p.keys = append(p.keys[:0], b.kMeta)
	p.msgs = p.msgs[:0]
	for i := range p.events {
		p.events[i] = p.events[i][:0]
	}
	for _, r := range batch {
		for i := range r.ms {
			off := len(p.msgs)
			p.msgs = append(p.msgs, &r.ms[i])
			for _, k := range r.keys[i] {
				x, ok := p.index[k]
				if !ok {
					x = len(p.keys)
					p.keys = append(p.keys, k)
					p.index[k] = x
					for len(p.events) <= x {
						p.events = append(p.events, nil)
					}
				}
				p.events[x] = append(p.events[x], off)
			}
		}
	}
	clear(p.index)

	args := append(p.args[:0], newTag(), epoch, floor, b.cfg.maxLen, b.cfg.ttl.Milliseconds(), len(p.msgs))
	p.packed = p.packed[:0]
	for x := 1; x < len(p.keys); x++ {
		for offs := p.events[x]; len(offs) > 0; {
			chunk := offs[:min(len(offs), maxEntryEvents)]
			offs = offs[len(chunk):]
			key := x + 1 // in Lua, KEYS[1] is keys[0]
			if len(offs) == 0 {
				key = -key // the stream's last entry trims it
			}
			from, next := len(p.packed), 0
			for _, o := range chunk[:len(chunk)-1] {
				p.packed = appendPacked(p.packed, o-next, *p.msgs[o])
				next = o + 1
			}
			var packed any = ""
			if len(p.packed) > from {
				// Capped, so that the next entry's bytes never land in it:
				// they go after it, or to a new array.
				packed = p.packed[from:len(p.packed):len(p.packed)]
			}
			last := chunk[len(chunk)-1]
			at := len(args)
			args = append(args, key, last, 0, packed)
			args = fieldArgs(args, *p.msgs[last])
			args[at+2] = len(args) - at - 4
		}
	}
	return args
}

func (r *pubReq) answer(ids []string, err error) {
	r.ids, r.err = ids, err
	r.done <- struct{}{}
}
