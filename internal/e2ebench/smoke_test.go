package e2ebench

import (
	"testing"
	"time"
)

// TestSmoke runs the benchmarks' machinery small, for both adapters: a child
// load generator, a warm-up, a burst and a paced round, nothing lost.
func TestSmoke(t *testing.T) {
	for _, ad := range adapters {
		t.Run(ad.name, func(t *testing.T) {
			e := newEnv(t, ad)
			defer e.close()
			e.connect(20, 1, 0)
			e.warmUp()
			r := e.round(200, 256, true, 0, 30*time.Second)
			if r.lost != 0 || r.received != 20*200 || r.timedOut || r.p99 <= 0 {
				t.Fatalf("burst: %+v", r)
			}
			r = e.round(5, 64, true, 5*time.Millisecond, 30*time.Second)
			if r.lost != 0 || r.received != 20*5 {
				t.Fatalf("paced: %+v", r)
			}
		})
		t.Run(ad.name+"/written", func(t *testing.T) {
			e := newEnv(t, ad)
			defer e.close()
			e.connect(20, 0, 0)
			e.warmUp()
			r := e.round(200, 256, true, 0, 30*time.Second)
			// The server writes every delivery before the last one arrives
			// (the measure polls: allow for a late look).
			if r.written <= 0 || r.start.Add(r.written).After(r.lastRecv.Add(100*time.Millisecond)) {
				t.Fatalf("written %v, last receive %v after the start", r.written, r.elapsed())
			}
		})
	}
}
