package core

import (
	"bytes"
	"sync/atomic"
)

// A frame is one encoded event, shared by every stream that writes it.
type frame struct {
	seq   uint64 // the hub's order; also the id's number for hub-assigned ids
	pubAt int64  // when Publish accepted it, unix nanoseconds: at, or a broker's Message.PublishedAt (freshness); beside seq, in the cache line streams read
	id    string // the app's id, when it set one
	data  []byte // the complete encoded frame; never modified
	at    int64  // when it was appended, unix nanoseconds (history age, on this hub's clock)
	own   bool   // sent to one subscriber (Subscriber.Send): never replay's or a snapshot's
	// shared: numbered with the event before it (the hub's numbers are its
	// broker's: Send, PublishLocal), so told apart from it by identity
	shared bool
	live   bool  // no id, never replayed (Hub.PublishLive, comments, topics without history)
	hubID  bool  // its id is the hub's: "id: <epoch>-<seq>", its first line
	first  entry // the entry of the first ring it is appended to: one allocation less
}

// wireID is the id clients see for f: the app's, the hub's, which the
// frame's first line carries ("id: <epoch>-<seq>"), or none.
func (f *frame) wireID() string {
	if !f.hubID {
		return f.id
	}
	line, _, _ := bytes.Cut(f.data, []byte("\n"))
	return string(line[len("id: "):])
}

// An entry places a frame at an index of one ring: a frame published to
// several topics has one entry in each.
type entry struct {
	index uint64
	f     *frame
}

// A ring is a topic's history and its fan-out queue at once. The hub appends
// under its mutex; streams read without locks, each at its own cursor. A reader
// that finds its next slot empty or reused has lagged beyond the history.
//
// Slots are allocated as the ring fills (up to max), so a quiet topic costs a
// few words, not its whole history.
type ring struct {
	buf atomic.Pointer[ringBuf]
	end atomic.Uint64 // entries ever appended: the next index

	// Guarded by Hub.mu.
	start   uint64 // oldest index still held
	dropped uint64 // seq of the newest frame no longer held: replay must start after it
	bytes   int    // encoded bytes held
	max     int    // capacity, a power of two

	noReplay bool // a topic without history (WithNoHistory): a fan-out queue only
}

type ringBuf struct {
	mask  uint64
	slots []atomic.Pointer[entry]
}

func newRing(max int, floor uint64) *ring {
	n := 1
	for n < max {
		n <<= 1
	}
	return &ring{max: n, dropped: floor}
}

// append adds f; the caller holds Hub.mu. It drops the oldest entries to stay
// within the ring's capacity and maxBytes, keeping at least f.
func (r *ring) append(f *frame, maxBytes int) {
	i := r.end.Load()
	b := r.buf.Load()
	if b == nil || (int(i-r.start) >= len(b.slots) && len(b.slots) < r.max) {
		b = r.grow(b, i)
	}
	if int(i-r.start) >= len(b.slots) {
		r.dropOldest(b)
	}
	e := &f.first
	if e.f != nil { // appended to another ring already
		e = &entry{}
	}
	e.index, e.f = i, f
	b.slots[i&b.mask].Store(e)
	r.end.Store(i + 1) // after the slot, so readers that see end see the entry
	r.bytes += len(f.data)
	for r.bytes > maxBytes && r.start < i {
		r.dropOldest(b)
	}
}

func (r *ring) grow(old *ringBuf, end uint64) *ringBuf {
	n := 8
	if old != nil {
		n = len(old.slots) * 2
	}
	n = min(n, r.max)
	b := &ringBuf{mask: uint64(n - 1), slots: make([]atomic.Pointer[entry], n)}
	for i := r.start; i < end; i++ {
		b.slots[i&b.mask].Store(old.slots[i&old.mask].Load())
	}
	r.buf.Store(b) // before end moves on: a reader that sees the new end sees this buffer
	return b
}

func (r *ring) dropOldest(b *ringBuf) {
	slot := &b.slots[r.start&b.mask]
	if e := slot.Load(); e != nil && e.index == r.start {
		r.dropped = e.f.seq
		r.bytes -= len(e.f.data)
		slot.Store(nil)
	}
	r.start++
}

// pruneOlderThan drops entries appended before cutoff; the caller holds Hub.mu.
func (r *ring) pruneOlderThan(cutoff int64) {
	b := r.buf.Load()
	for b != nil && r.start < r.end.Load() {
		e := b.slots[r.start&b.mask].Load()
		if e != nil && e.f.at >= cutoff {
			return
		}
		r.dropOldest(b)
	}
}

// at returns the entry at index i, or nil if it is no longer held.
// Callers load end before calling, so the buffer they read holds every index
// below it that was not dropped.
func (r *ring) at(i uint64) *entry {
	b := r.buf.Load()
	if b == nil {
		return nil
	}
	e := b.slots[i&b.mask].Load()
	if e == nil || e.index != i {
		return nil
	}
	return e
}

// newest returns the newest entry, or nil; the caller holds Hub.mu.
func (r *ring) newest() *entry {
	end := r.end.Load()
	if end == r.start {
		return nil
	}
	return r.at(end - 1)
}

// after returns the index of the first held entry with a seq above seq;
// the caller holds Hub.mu.
func (r *ring) after(seq uint64) uint64 {
	end := r.end.Load()
	i := end
	for i > r.start {
		e := r.at(i - 1)
		if e == nil || e.f.seq <= seq {
			break
		}
		i--
	}
	return i
}

// findID returns the seq of the newest held frame whose wire id is id;
// the caller holds Hub.mu.
func (r *ring) findID(id string) (uint64, bool) {
	for i := r.end.Load(); i > r.start; i-- {
		if e := r.at(i - 1); e != nil && e.f.id == id {
			return e.f.seq, true
		}
	}
	return 0, false
}
