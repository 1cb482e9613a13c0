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
	}
}
