package core

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Freshness is how long each delivered event took from Publish to the end of
// the write that carried it to its stream's socket (Stats.Freshness).
// Measuring it must cost the fan-out path next to nothing: no clock reading,
// lock or allocation of its own, and a few instructions per event.
//
// A batch already reads the clock twice: when its first write begins (arm)
// and when it has been flushed (account). As a stream copies a frame into its
// batch, the frame's age at the first reading is known, and so is its bucket;
// and since a stream writes frames in the order they were published, ages
// come in long runs of one bucket. So the batch keeps the range of publish
// times its current bucket takes, and per frame it only adds the publish time
// to a sum and compares it with the range; it looks a bucket up, and counts
// the run (by the batch's frame count), when a run ends. Once flushed, the
// batch's counts move by the time its write took (between the two readings)
// and go to the hub's shared buckets: a few atomic adds per batch.
//
// The count and the sum are exact. The buckets are as exact as the write was
// quick: where the write's duration moves a bucket's ages partly across a
// bound, its events are taken to have been spread evenly over the bucket.

// freshnessBounds are the buckets' upper bounds. Each is at least twice the
// one before, so a power of two holds at most one of them: bucketOf needs one
// table lookup and one comparison.
var freshnessBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 30 * time.Second,
}

const freshnessBuckets = len(freshnessBounds) + 1 // the last one holds what is above every bound

var (
	// boundAt[j] is freshnessBounds[j] in nanoseconds, and above them all the
	// largest int64, which no duration exceeds: bucket j holds durations from
	// lowAt[j] to boundAt[j].
	boundAt, lowAt [freshnessBuckets]int64
	// firstBound[n] is the first bucket whose bound is at least 2^(n-1):
	// where a duration of n significant bits belongs, or the next one.
	firstBound [65]uint8
)

func init() {
	for j, b := range freshnessBounds {
		boundAt[j] = int64(b)
	}
	boundAt[len(freshnessBounds)] = math.MaxInt64
	for j := 1; j < freshnessBuckets; j++ {
		lowAt[j] = boundAt[j-1] + 1
	}
	for n := range firstBound {
		var low uint64 // the least duration of n significant bits
		if n > 0 {
			low = 1 << (n - 1)
		}
		j := 0
		for j < len(freshnessBounds) && uint64(boundAt[j]) < low {
			j++
		}
		firstBound[n] = uint8(j)
	}
}

// bucketOf returns the bucket of d nanoseconds, d >= 0.
func bucketOf(d int64) int {
	j := int(firstBound[bits.Len64(uint64(d))])
	if d > boundAt[j] {
		j++
	}
	return j
}

// freshness is the hub's histogram, in shards: each stream adds to one, so
// streams on different cores seldom write the same cache line. Stats sums
// them.
type freshness struct {
	shards [freshnessShards]freshnessShard
	next   atomic.Uint32 // the shard the next stream takes
}

const freshnessShards = 8

type freshnessShard struct {
	counts [freshnessBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
	_      [64 - (freshnessBuckets+1)*8%64]byte
}

// shard returns the shard for a new stream.
func (f *freshness) shard() *freshnessShard {
	return &f.shards[f.next.Add(1)%freshnessShards]
}

func (f *freshness) snapshot() Histogram {
	h := Histogram{
		Bounds: append([]time.Duration(nil), freshnessBounds[:]...),
		Counts: make([]uint64, freshnessBuckets),
	}
	for i := range f.shards {
		sh := &f.shards[i]
		for j := range sh.counts {
			h.Counts[j] += sh.counts[j].Load()
		}
		h.Sum += time.Duration(sh.sum.Load())
	}
	for _, c := range h.Counts {
		h.Count += c
	}
	return h
}

// A Histogram counts durations into fixed buckets: Counts[i] counts those
// above Bounds[i-1] and at most Bounds[i], and the last count, one more than
// there are bounds, those above every bound. Count is the sum of Counts; Sum
// is the durations' total. A Prometheus histogram's cumulative buckets are
// running sums of Counts.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// batchAges counts the ages of one batch's frames, as of the batch's first
// write (armedAt). A batch holds it; the zero value is ready once armedAt is set.
type batchAges struct {
	armedAt int64  // unix nanoseconds
	lo      int64  // the earliest publish time the current run's bucket takes,
	span    uint64 // and how much later the latest is (none before the first run)
	run     int    // the current run's bucket
	start   int    // the batch's frames before the run began
	sum     int64  // of the frames' publish times
	used    uint32 // a bit per bucket with a count
	counts  [freshnessBuckets]uint32
}

// notePublished counts a frame published at p (unix nanoseconds), which the
// batch is about to write.
func (b *batch) notePublished(p int64) {
	a := &b.ages
	a.sum += p
	if uint64(p-a.lo) > a.span {
		b.startRun(p)
	}
}

// startRun is notePublished's slow path, out of line so that the fast one
// inlines into drain. The frame's write would arm the batch; its clock
// reading is where ages are counted from, so it arms it now.
//
//go:noinline
func (b *batch) startRun(p int64) {
	if !b.armed {
		b.arm()
	}
	b.ages.newRun(p, b.frames+1)
}

// newRun ends the current run before the batch's frame number n and starts
// one for p's bucket.
func (a *batchAges) newRun(p int64, n int) {
	a.counts[a.run] += uint32(n - 1 - a.start)
	a.start = n - 1
	a.run = bucketOf(max(a.armedAt-p, 0)) // another instance's clock may be ahead (Message.PublishedAt)
	a.used |= 1 << a.run
	a.lo = a.armedAt - boundAt[a.run]
	hi := a.armedAt - lowAt[a.run]
	if a.run == 0 {
		hi = math.MaxInt64
	}
	a.span = uint64(hi - a.lo)
}

// observe adds the batch's n frames' ages, plus the time its write took until
// now, to f, and resets a for the next batch.
func (f *freshnessShard) observe(a *batchAges, n int, now int64) {
	a.counts[a.run] += uint32(n - a.start)
	took := max(now-a.armedAt, 0)
	for used := a.used; used != 0; used &= used - 1 {
		j := bits.TrailingZeros32(used)
		f.add(j, uint64(a.counts[j]), took)
	}
	// Both terms may overflow; their difference, the ages' sum, does not, and
	// wraps back exact.
	f.sum.Add(max(int64(n)*now-a.sum, 0))
	a.reset()
}

// reset readies a for the next batch.
func (a *batchAges) reset() {
	for used := a.used; used != 0; used &= used - 1 {
		a.counts[bits.TrailingZeros32(used)] = 0
	}
	a.lo, a.span, a.run, a.start, a.sum, a.used = 0, 0, 0, 0, 0, 0
}

// add adds c events whose ages, when the batch's write began, fell in bucket
// j, and whose write took took: to the buckets their ages at its end fall in.
func (f *freshnessShard) add(j int, c uint64, took int64) {
	if took == 0 || j == freshnessBuckets-1 {
		f.counts[j].Add(c)
		return
	}
	lo, hi := lowAt[j]+took, boundAt[j]+took
	first, last := bucketOf(lo), bucketOf(hi)
	if first == last {
		f.counts[first].Add(c)
		return
	}
	// The write moved the bucket across a bound: spread its events evenly.
	left, width := c, float64(hi-lo+1)
	for k := first; k < last; k++ {
		share := min(uint64(float64(c)*float64(boundAt[k]-max(lo, lowAt[k])+1)/width), left)
		f.counts[k].Add(share)
		left -= share
	}
	f.counts[last].Add(left)
}
