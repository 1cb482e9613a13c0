package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"
)

// A Stream is the transport of one SSE response: what an adapter hands to
// Hub.Serve. Writes are buffered until Flush. Serve calls Write, Flush and
// SetWriteDeadline from one goroutine; SetWriteDeadline may also be called
// from another (at shutdown), so it must be safe for that.
type Stream interface {
	io.Writer
	Flush() error
	SetWriteDeadline(t time.Time) error
}

// maxBatch bounds the bytes written under one write deadline.
const maxBatch = 256 << 10

var (
	heartbeat   = []byte(": ping\n\n")
	openComment = []byte(": open\n\n") // a stream's first bytes when it sends no retry field
	retryNow    = []byte("retry: 0\n\n")
)

// Serve subscribes and streams: Subscribe, then Subscriber.Serve. Adapters
// that must answer a refused subscription with an HTTP status call the two
// separately, setting the status in between.
func (h *Hub) Serve(ctx context.Context, w Stream, sub Subscription) error {
	s, err := h.Subscribe(sub)
	if err != nil {
		return err
	}
	return s.Serve(ctx, w)
}

// Serve streams events to w until the client leaves, ctx ends, the subscriber
// is closed or the hub shuts down. It blocks for the life of the connection.
// The adapter must have set the response headers; Serve flushes at once, so
// the client sees them before the first event.
//
// A stream starts with "retry:" (WithRetry), then the events it missed
// (Last-Event-ID), then the snapshot (WithSnapshot), then live events, with
// heartbeats whenever it is idle.
//
// Serve returns nil when the client left (a write failed, or its socket was
// found closed) or ctx ended; ErrClosed when the hub shut down or the
// subscriber was already served or closed; ErrLagged when the stream fell
// behind its history; an error wrapping os.ErrDeadlineExceeded when a write
// timed out (WithWriteTimeout); and one wrapping ErrHook when a hook failed.
func (s *Subscriber) Serve(ctx context.Context, w Stream) error {
	if !s.state.CompareAndSwap(stateSubscribed, stateServing) {
		return fmt.Errorf("%w: subscriber already served or closed", ErrClosed)
	}
	h := s.hub
	s.stream.Store(&streamRef{w})
	if nc, ok := w.(netConner); ok {
		_, owned := w.(connOwner)
		h.mu.Lock() // the liveness check reads conn under the lock
		s.conn, s.ownsConn = nc.NetConn(), owned
		h.mu.Unlock()
	}
	h.debug("ssehub: stream started", "client", s.sub.ClientAddr, "topics", s.sub.Topics, "replay", s.replay.String())
	reason, err := s.run(ctx, w)
	s.stream.Store(nil)
	defer h.streams.Done() // last: Shutdown waits for the hook too
	h.finish(s, reason)
	h.debug("ssehub: stream ended", "client", s.sub.ClientAddr, "topics", s.sub.Topics, "reason", string(reason), "err", err)
	switch reason {
	case DisconnectWriteTimeout:
		h.warn(warnWriteTimeout, "ssehub: streams cut off: their clients did not take their bytes within the write timeout",
			"reason", string(reason), "client", s.sub.ClientAddr, "topics", s.sub.Topics)
	case DisconnectLagged:
		h.warn(warnLagged, "ssehub: streams disconnected: they fell further behind than their topic's history",
			"reason", string(reason), "client", s.sub.ClientAddr, "topics", s.sub.Topics)
	}
	if fn := h.opt.onDisconnect; fn != nil {
		func() {
			defer h.recoverHook("OnDisconnect", nil)
			fn(s, reason)
		}()
	}
	return err
}

// finish removes an ended stream from the hub; the caller then calls
// h.streams.Done.
func (h *Hub) finish(s *Subscriber, reason DisconnectReason) {
	s.state.Store(stateDone)
	h.unsubscribe(s)
	h.stats.disconnect(reason)
}

// recoverHook turns a panic in hook name into an error wrapping ErrHook.
func (h *Hub) recoverHook(name string, err *error) {
	if p := recover(); p != nil {
		h.appPanicked(name+" hook", p)
		if err != nil {
			*err = fmt.Errorf("%w: %s panicked: %v", ErrHook, name, p)
		}
	}
}

// appPanicked counts and logs a panic in app code; the stream or request it
// ran for ends, nothing else.
func (h *Hub) appPanicked(what string, p any) {
	h.stats.hookPanics.Add(1)
	h.warn(warnPanic, "ssehub: panic in app code; its stream or request ended", "in", what, "panic", p)
}

func (s *Subscriber) run(ctx context.Context, w Stream) (DisconnectReason, error) {
	h := s.hub
	b := batch{s: s, w: w}
	// The first bytes go out with the headers, now: some clients (Firefox)
	// fire EventSource's open only when the body starts.
	if r := h.opt.retry; r >= 0 {
		var line [32]byte
		b.write(append(appendRetry(line[:0], r), '\n'))
	} else {
		b.write(openComment)
	}
	if err := b.flush(); err != nil {
		return classify(err)
	}
	if fn := h.opt.onConnect; fn != nil {
		var err error
		func() {
			defer h.recoverHook("OnConnect", &err)
			fn(s)
		}()
		if err != nil {
			return DisconnectError, err
		}
	}
	for s.replay == ReplayHit { // every missed event before the snapshot
		more, err := s.drain(&b, s.start)
		if err != nil {
			return classify(err)
		}
		if !more {
			break
		}
		if err := b.flush(); err != nil {
			return classify(err)
		}
	}
	if fn := h.opt.snapshot; fn != nil {
		// Events published before the hook runs are in its state (apps
		// update state, then publish): a snapshot replaces them.
		before := h.committed.Load()
		events, err := s.snapshot(fn)
		if err != nil {
			return DisconnectError, err
		}
		for _, e := range events {
			b.write(appendValidEvent(nil, e))
		}
		if len(events) > 0 {
			s.skipUpTo = max(s.skipUpTo, before)
		}
	}
	if err := b.flush(); err != nil {
		return classify(err)
	}

	// Live events from here on: their freshness is measured (replayed ones
	// were published while the client was away).
	if !h.opt.freshnessOff {
		b.measure, b.shard = true, h.stats.freshness.shard()
	}
	ctxDone := ctx.Done()
	for {
		// Single-channel checks: far cheaper than a select over all three.
		if closedChan(h.done) {
			return s.shutdown(ctx, &b)
		}
		if closedChan(s.closed) {
			reason := s.closedReason()
			if reason == DisconnectEnded {
				// Back at once, to be refused by the topic function if the
				// app revoked access: the browser then stops for good.
				b.write(retryNow)
				b.flush()
			}
			return reason, nil
		}
		if closedChan(ctxDone) {
			return DisconnectClientGone, nil
		}
		if _, err := s.drain(&b, h.committed.Load()); err != nil {
			return classify(err)
		}
		if b.n > 0 {
			if err := b.flush(); err != nil {
				return classify(err)
			}
			continue
		}
		// Park: publishers wake only parked streams. Announce it, then look
		// once more, so that an event published in between is not missed.
		s.waiting.Store(true)
		if s.pending() && s.waiting.CompareAndSwap(true, false) {
			continue
		}
		// Shutdown, Close, heartbeats and the liveness check wake the stream
		// too, so it waits on its wake channel alone (and the request's
		// context, when it has one): the checks above then say why.
		select {
		case <-s.wake:
		case <-ctxDone:
			return DisconnectClientGone, nil
		}
		s.waiting.Store(false)
		if s.heartbeatDue.Swap(false) && !s.pending() && s.idleFor() >= h.opt.heartbeat/2 {
			b.write(heartbeat)
			h.stats.heartbeats.Add(1)
			if err := b.flush(); err != nil {
				return classify(err)
			}
		}
	}
}

func closedChan(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (s *Subscriber) closedReason() DisconnectReason {
	if s.ended.Load() {
		return DisconnectEnded
	}
	if s.gone.Load() {
		return DisconnectClientGone
	}
	return DisconnectClosed
}

func (s *Subscriber) snapshot(fn func(*Subscriber) ([]Event, error)) (events []Event, err error) {
	defer s.hub.recoverHook("Snapshot", &err)
	events, err = fn(s)
	if err != nil {
		return nil, fmt.Errorf("%w: Snapshot: %w", ErrHook, err)
	}
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("%w: Snapshot: %w", ErrHook, err)
		}
	}
	return events, nil
}

// shutdown sends the shutdown event, then, draining (WithDrain), keeps the
// stream open until a random moment within the window, so that the clients
// of a hub that shuts down reconnect elsewhere spread out, not all at once.
func (s *Subscriber) shutdown(ctx context.Context, b *batch) (DisconnectReason, error) {
	if f := s.hub.shutdownFrame; f != nil {
		b.write(f)
		b.flush()
	}
	if window := s.hub.opt.drain; window > 0 {
		t := time.NewTimer(rand.N(window))
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.closed: // cut off: Shutdown's context ended
		case <-ctx.Done():
		}
	}
	return DisconnectShutdown, ErrClosed
}

// classify maps a failed write to a reason and Serve's result.
func classify(err error) (DisconnectReason, error) {
	switch {
	case errors.Is(err, ErrLagged):
		return DisconnectLagged, ErrLagged
	case errors.Is(err, os.ErrDeadlineExceeded):
		return DisconnectWriteTimeout, fmt.Errorf("ssehub: write: %w", err)
	}
	return DisconnectClientGone, nil // a failed write means the peer is gone
}

// pending reports whether a committed frame waits on any source.
func (s *Subscriber) pending() bool {
	upto := s.hub.committed.Load()
	for i, r := range s.sources {
		c := s.cursors[i]
		if r.end.Load() > c {
			e := r.at(c)
			if e == nil || e.f.seq <= upto {
				return true
			}
		}
	}
	return false
}

func (s *Subscriber) idleFor() time.Duration {
	return time.Duration(time.Now().UnixNano() - s.lastWrite.Load())
}

// drain writes frames up to seq upto, merging the sources by seq and skipping
// frames already written (an event published to two of the subscriber's
// topics sits in both rings). It stops early, reporting more, when the batch
// is full.
func (s *Subscriber) drain(b *batch, upto uint64) (more bool, err error) {
	for i, r := range s.sources {
		s.ends[i] = r.end.Load()
	}
	for b.n < maxBatch {
		if b.err != nil {
			return false, b.err // the write timed out or failed: say so, not what follows
		}
		best, e := -1, (*entry)(nil)
		for i, r := range s.sources {
			c := s.cursors[i]
			if c >= s.ends[i] {
				continue
			}
			next := r.at(c)
			if next == nil {
				return false, ErrLagged
			}
			if next.f.seq > upto {
				s.ends[i] = c // not committed yet: next round
				continue
			}
			if e == nil || next.f.seq < e.f.seq {
				best, e = i, next
			}
		}
		if e == nil {
			return false, nil
		}
		s.cursors[best]++
		if s.written(e.f) {
			continue // replaced, or already written from another of its rings
		}
		if b.measure {
			b.notePublished(e.f.pubAt)
		}
		s.lastSeq, s.lastFrame = e.f.seq, e.f
		b.write(e.f.data)
		b.frames++
	}
	return true, nil
}

// written reports whether f, or the event it carries, needs no writing: it
// was replaced by replay or the snapshot, is a live event from before the
// stream began, or came already through another of the subscriber's rings (the same frame, or, filled in by a broker, a copy
// with the same number). Frames sent to this subscriber alone may share the
// number of the event before them, so they are told apart.
func (s *Subscriber) written(f *frame) bool {
	switch {
	case f.seq <= s.skipUpTo && !f.own && !f.shared, f.seq < s.lastSeq, f == s.lastFrame:
		return true
	case f.live && !f.own && !f.shared && f.seq <= s.start:
		return true // published before the stream began: live only, never replayed
	case f.seq == s.lastSeq:
		return !f.shared && s.lastFrame != nil && !s.lastFrame.shared
	}
	return false
}

// A batch is what one round writes under one deadline before one flush.
type batch struct {
	s        *Subscriber
	w        Stream
	n        int // bytes since the last flush
	frames   int
	err      error
	armed    bool
	deadline time.Time // the connection's write deadline, as last set

	// The ages of the frames written since the last flush, when measure is
	// on (freshness.go).
	measure bool
	ages    batchAges
	shard   *freshnessShard
}

func (b *batch) write(p []byte) {
	if b.err != nil {
		return
	}
	if !b.armed {
		b.arm()
	}
	n, err := b.w.Write(p)
	b.n += n
	b.err = err
}

// arm makes sure the connection's write deadline is at least half the write
// timeout away. Moving a deadline costs a timer update in the runtime, so it
// moves only when half of it is used up: a stuck write then fails between
// half the timeout and the whole of it after it started.
func (b *batch) arm() {
	b.armed = true
	now := time.Now()
	b.ages.armedAt = now.UnixNano()
	if timeout := b.s.hub.opt.writeTimeout; now.Add(timeout / 2).After(b.deadline) {
		b.deadline = now.Add(timeout)
		b.w.SetWriteDeadline(b.deadline)
	}
}

func (b *batch) flush() error {
	if !b.armed {
		b.arm()
	}
	err := b.err
	if err == nil {
		err = b.w.Flush()
	}
	b.account(err == nil)
	b.n, b.frames, b.armed, b.err = 0, 0, false, nil
	return err
}

// account records a batch handed to the socket: the hub's counters, the
// freshness of its events if it was written (ok), and the stream's last write
// and progress (what publishers pace on).
func (b *batch) account(ok bool) {
	h := b.s.hub
	now := time.Now().UnixNano()
	if b.measure { // before FramesWritten: an event counted as written has its freshness counted
		if ok && b.frames > 0 {
			b.shard.observe(&b.ages, b.frames, now)
		} else {
			b.ages.reset()
		}
	}
	h.stats.bytes.Add(uint64(b.n))
	h.stats.frames.Add(uint64(b.frames))
	b.s.lastWrite.Store(now)
	b.s.progress.Store(b.s.lastSeq)
}
