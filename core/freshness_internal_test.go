package core

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/assert"
)

func TestBucketOf(t *testing.T) {
	slow := func(d int64) int { // the definition: the first bound d does not exceed
		for j, b := range freshnessBounds {
			if d <= int64(b) {
				return j
			}
		}
		return len(freshnessBounds)
	}
	for j, b := range freshnessBounds {
		assert.Equal(t, "at the bound", bucketOf(int64(b)), j)
		assert.Equal(t, "just above", bucketOf(int64(b)+1), j+1)
	}
	for _, d := range []int64{0, 1, math.MaxInt64} {
		assert.Equal(t, "edge", bucketOf(d), slow(d))
	}
	for range 100000 {
		d := rand.Int64N(int64(time.Minute))
		if bucketOf(d) != slow(d) {
			t.Fatalf("bucketOf(%v) = %d, want %d", time.Duration(d), bucketOf(d), slow(d))
		}
	}
}

// bucket returns the index of the bucket bounded by d.
func bucket(t *testing.T, d time.Duration) int {
	for j, b := range freshnessBounds {
		if b == d {
			return j
		}
	}
	t.Fatalf("no bound %v", d)
	return -1
}

// observed returns what observe added for frames published at the given
// times, written from armedAt until now.
func observed(pubs []time.Duration, armedAt, now time.Duration) Histogram {
	var f freshness
	b := batch{armed: true, ages: batchAges{armedAt: int64(armedAt)}, shard: f.shard()}
	for _, p := range pubs {
		b.notePublished(int64(p))
		b.frames++
	}
	b.shard.observe(&b.ages, b.frames, int64(now))
	return f.snapshot()
}

func TestFreshness_Batch(t *testing.T) {
	const at = time.Hour // the batch's first write
	t.Run("quick write: each age in its bucket", func(t *testing.T) {
		pubs := []time.Duration{at - 3*time.Second, at - 2*time.Second, at - 40*time.Millisecond, at - 30*time.Millisecond, at - 20*time.Microsecond, at}
		h := observed(pubs, at, at)
		assert.Equal(t, "count", h.Count, uint64(6))
		assert.Equal(t, "sum", h.Sum, 5*time.Second+70*time.Millisecond+20*time.Microsecond)
		assert.Equal(t, "5s", h.Counts[bucket(t, 5*time.Second)], uint64(1))
		assert.Equal(t, "2.5s", h.Counts[bucket(t, 2500*time.Millisecond)], uint64(1))
		assert.Equal(t, "50ms", h.Counts[bucket(t, 50*time.Millisecond)], uint64(2))
		assert.Equal(t, "50µs", h.Counts[bucket(t, 50*time.Microsecond)], uint64(2))
	})
	t.Run("out of order", func(t *testing.T) {
		pubs := []time.Duration{at - time.Second, at, at - time.Second, at, at - 2*time.Minute}
		h := observed(pubs, at, at)
		assert.Equal(t, "1s", h.Counts[bucket(t, time.Second)], uint64(2))
		assert.Equal(t, "50µs", h.Counts[bucket(t, 50*time.Microsecond)], uint64(2))
		assert.Equal(t, "above every bound", h.Counts[len(freshnessBounds)], uint64(1))
	})
	t.Run("a slow write moves every age", func(t *testing.T) {
		pubs := []time.Duration{at - 10*time.Microsecond, at - 5*time.Microsecond, at}
		h := observed(pubs, at, at+3*time.Second)
		assert.Equal(t, "all in the 5s bucket", h.Counts[bucket(t, 5*time.Second)], uint64(3))
		assert.Equal(t, "sum", h.Sum, 9*time.Second+15*time.Microsecond)
	})
	t.Run("a write that moves a bucket across a bound spreads it", func(t *testing.T) {
		var pubs []time.Duration // 300 ages in (1ms, 2.5ms]
		for i := range 300 {
			pubs = append(pubs, at-time.Millisecond-time.Duration(i+1)*5*time.Microsecond)
		}
		h := observed(pubs, at, at+time.Millisecond) // then in (2ms, 3.5ms]: a third below 2.5ms
		assert.Equal(t, "count", h.Count, uint64(300))
		assert.Equal(t, "2.5ms", h.Counts[bucket(t, 2500*time.Microsecond)], uint64(100))
		assert.Equal(t, "5ms", h.Counts[bucket(t, 5*time.Millisecond)], uint64(200))
	})
	t.Run("many frames: the sum overflows and wraps back exact", func(t *testing.T) {
		now := time.Duration(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		pubs := make([]time.Duration, 10000)
		for i := range pubs {
			pubs[i] = now - time.Millisecond
		}
		h := observed(pubs, now, now)
		assert.Equal(t, "sum", h.Sum, 10*time.Second)
		assert.Equal(t, "1ms", h.Counts[bucket(t, time.Millisecond)], uint64(10000))
	})
	t.Run("a clock ahead counts as no age", func(t *testing.T) {
		h := observed([]time.Duration{at + time.Second}, at, at)
		assert.Equal(t, "first bucket", h.Counts[0], uint64(1))
		assert.Equal(t, "sum", h.Sum, time.Duration(0))
	})
}
