package core

import (
	"sync"
	"time"
)

// Inline writing. A parked stream on a plain socket is served by one of the
// hub's inline writers (GOMAXPROCS of them) instead of its own goroutine: the
// writer takes what is pending and writes it with one non-blocking write.
// Waking a goroutine per stream per event costs more than that write's
// bookkeeping; the stream's goroutine is woken only when a write would
// block, a batch is larger than its buffer, or anything else needs it
// (shutdown, close, heartbeat, lag).
//
// When a publisher outruns its streams, the writers leave one CPU to the rest
// of the process. One of them, the helper, rests for a while after a stretch
// of nearly unbroken writing during which Publish was paced: the publisher
// then slows to what the others deliver. Taking every CPU would not deliver
// such a burst sooner: it starves the application's other goroutines (and, on
// a shared machine, the clients' side), and moves the queue from the ring,
// where pacing sees it, into the kernel's socket buffers, where it does not.
// Load the writers keep up with never makes the helper rest (its events would
// only wait), nor does one event to very many streams.

// The helper rests for helperRest after a window of at least helperWindow in
// which it spent helperBusy percent of the time writing and Publish was paced.
const (
	helperWindow = 20 * time.Millisecond
	helperBusy   = 80
	helperRest   = 80 * time.Millisecond
)

// inlineChunk is how many claimed streams go to a writer at once: small, so
// that a writer whose thread the OS sets aside holds up few streams.
const inlineChunk = 16

// inlineQueue is how many chunks may wait for a writer; past it, streams'
// goroutines are woken instead.
const inlineQueue = 1024

var inlineChunks = sync.Pool{New: func() any { c := make([]*Subscriber, 0, inlineChunk); return &c }}

// queueInline hands a chunk of claimed streams to the inline writers, or, if
// they are that far behind, wakes the streams' goroutines.
func (h *Hub) queueInline(chunk *[]*Subscriber) {
	select {
	case h.inline <- chunk:
	default:
		for _, s := range *chunk {
			s.wakeNow()
		}
		putChunk(chunk)
	}
}

func putChunk(c *[]*Subscriber) {
	clear(*c)
	*c = (*c)[:0]
	inlineChunks.Put(c)
}

// startInlineWriters starts n writers, one of them the helper when n > 1.
func (h *Hub) startInlineWriters(n int) {
	h.inline = make(chan *[]*Subscriber, inlineQueue)
	for i := range max(n, 1) {
		h.maint.Add(1)
		go h.inlineWriter(i > 0 && i == n-1)
	}
}

// inlineWriter serves chunks until the hub shuts down; Shutdown wakes every
// stream, so those of a chunk left in the queue are not forgotten.
func (h *Hub) inlineWriter(helper bool) {
	defer h.maint.Done()
	var duty dutyCycle
	rest := time.NewTimer(helperRest)
	rest.Stop()
	defer rest.Stop()
	for {
		select {
		case <-h.done:
			return
		case chunk := <-h.inline:
			var start time.Time
			if helper {
				start = time.Now()
			}
			for _, s := range *chunk {
				if !s.serveInline() {
					s.wakeNow()
				}
			}
			putChunk(chunk)
			if !helper || !duty.worked(start, time.Now(), h.stats.paced.Load()) {
				continue
			}
			h.stats.writerRests.Add(1)
			rest.Reset(helperRest)
			select {
			case <-h.done:
				return
			case <-rest.C:
			}
		}
	}
}

// A dutyCycle judges the helper's work over windows of at least helperWindow,
// each starting with its first chunk.
type dutyCycle struct {
	start       time.Time
	busy        time.Duration
	pacedBefore uint64
}

// worked records a chunk served from start to end; paced is the hub's count
// of paced Publish calls at its end. It reports whether the window the chunk
// closes was busy enough, and saw pacing, for the helper to rest.
func (d *dutyCycle) worked(start, end time.Time, paced uint64) (rest bool) {
	if d.start.IsZero() {
		d.start, d.pacedBefore = start, paced
	}
	d.busy += end.Sub(start)
	window := end.Sub(d.start)
	if window < helperWindow {
		return false
	}
	rest = d.busy*100 >= window*helperBusy && paced > d.pacedBefore
	*d = dutyCycle{}
	return rest
}

// serveInline writes what is pending to a claimed stream's socket without
// waking its goroutine, if one non-blocking write takes it all. It reports
// false when the goroutine must take over.
func (s *Subscriber) serveInline() bool {
	if !s.serveMu.TryLock() {
		return false // the goroutine is up: it looks for new events before it parks
	}
	defer s.serveMu.Unlock()
	if !s.inlineLocked() {
		return false
	}
	return s.park() // as the goroutine does
}

func (s *Subscriber) inlineLocked() bool {
	h := s.hub
	cs := s.cs.Load()
	if cs == nil || closedChan(h.done) || closedChan(s.closed) || s.heartbeatDue.Load() || cs.buffered() {
		return false
	}
	// No write deadline: the write does not block. The batch fits the
	// stream's buffer, so buffering it never writes.
	b := &batch{s: s, w: cs, armed: true, limit: connBufSize - chunkRoom - 2}
	more, err := s.drain(b, h.committed.Load())
	if err != nil || b.err != nil {
		return false // the goroutine meets the same error, and says why
	}
	if b.n == 0 {
		return !more
	}
	whole := cs.tryFlush()
	if whole {
		h.stats.inlineWrites.Add(1)
	}
	b.account() // now, or by the goroutine, which counts only its own batches
	return whole && !more
}
