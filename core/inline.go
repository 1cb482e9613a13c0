package core

import "sync"

// Inline writing. A parked stream on a plain socket is served by one of the
// hub's inline writers (GOMAXPROCS of them) instead of its own goroutine: the
// writer takes what is pending and writes it with one non-blocking write.
// Waking a goroutine per stream per event costs more than that write's
// bookkeeping; the stream's goroutine is woken only when a write would
// block, a batch is larger than its buffer, or anything else needs it
// (shutdown, close, heartbeat, lag).

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

// inlineWriter serves chunks until the hub shuts down; Shutdown wakes every
// stream, so those of a chunk left in the queue are not forgotten.
func (h *Hub) inlineWriter() {
	defer h.maint.Done()
	for {
		select {
		case <-h.done:
			return
		case chunk := <-h.inline:
			for _, s := range *chunk {
				if !s.serveInline() {
					s.wakeNow()
				}
			}
			putChunk(chunk)
		}
	}
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
	s.waiting.Store(true) // parked again; then look once more, as the goroutine does
	return !(s.pending() && s.waiting.CompareAndSwap(true, false))
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
