package core

import (
	"context"
	"time"
)

// Backpressure. A publisher that outruns its subscribers builds a queue
// somewhere: without pacing, in every stream's share of the ring and then in
// every socket's kernel buffer, where each event costs its bytes once per
// subscriber and every later event waits behind it. Publish instead waits,
// briefly, while too many of a topic's streams are far behind, so a burst
// moves at the speed the streams take it and its events stay fresh. A few
// slow or stuck streams never hold it: they are cut off by the write timeout,
// or fall out of the history.

// pollEvery is how often a waiting publisher looks again.
const pollEvery = 100 * time.Microsecond

// tooFarBehind reports whether more of t's streams than it allows (a
// sixteenth, and at least two) have not yet written the event lag places
// before the newest. Unless always, it looks only at every (lag/4)-th event:
// a publisher pays one scan of the subscribers per several events.
func (t *topic) tooFarBehind(lag uint64, always bool) bool {
	end := t.ring.end.Load()
	if end <= lag || (!always && end%max(lag/4, 1) != 0) {
		return false
	}
	e := t.ring.at(end - 1 - lag)
	if e == nil {
		return false // dropped already: those behind it have lagged out
	}
	mark := e.f.seq
	t.subs.mu.RLock()
	defer t.subs.mu.RUnlock()
	allowed := max(2, len(t.subs.list)/16)
	late := 0
	for _, s := range t.subs.list {
		if s.progress.Load() < mark {
			if late++; late > allowed {
				return true
			}
		}
	}
	return false
}

// pace waits while any of topics has too many streams too far behind, at most
// the hub's backpressure wait, or until ctx ends or the hub shuts down.
func (h *Hub) pace(ctx context.Context, topics []*topic) {
	lag := uint64(h.opt.backpressureLag)
	if lag == 0 {
		return
	}
	for i, t := range topics {
		if t.tooFarBehind(lag, false) {
			h.waitFor(ctx, lag, topics[i:])
			return
		}
	}
}

func (h *Hub) waitFor(ctx context.Context, lag uint64, topics []*topic) {
	h.stats.paced.Add(1)
	deadline := time.Now().Add(h.opt.backpressureWait)
	timer := time.NewTimer(pollEvery)
	defer timer.Stop()
	for _, t := range topics {
		for t.tooFarBehind(lag, true) {
			if time.Now().After(deadline) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-h.done:
				return
			case <-timer.C:
				timer.Reset(pollEvery)
			}
		}
	}
}
