package ssetest

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// Soak churns clients that connect and disconnect while events are published,
// then checks that nothing is left: no stream, no goroutine, no heap growth,
// and no event lost by the clients that stayed. Its size comes from
// SSEHUB_SOAK (a duration, default 5s) and SSEHUB_SOAK_CLIENTS (concurrent
// churning clients, default 200); -short skips it.
func Soak(t *testing.T, newTarget NewTarget) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	duration := 5 * time.Second
	if v, err := time.ParseDuration(os.Getenv("SSEHUB_SOAK")); err == nil {
		duration = v
	}
	churners := 200
	if v, err := strconv.Atoi(os.Getenv("SSEHUB_SOAK_CLIENTS")); err == nil && v > 0 {
		churners = v
	}
	const stayers = 10

	tr := &http.Transport{DisableKeepAlives: true, MaxIdleConns: -1}
	hc := &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	tg := newTarget(t, core.WithHeartbeat(200*time.Millisecond))

	baseGoroutines, baseHeap := settle()

	var stay []*Client
	for range stayers {
		stay = append(stay, OpenWith(t, hc, tg.URL+"/only"))
	}
	WaitFor(t, 10*time.Second, "stayers", func() bool { return tg.Hub.Subscribers("news") == stayers })

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var published atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // publisher: 500 numbered events a second, in bursts if it gets little CPU
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for due := int64(time.Since(start) / (2 * time.Millisecond)); published.Load() < due; {
				n := published.Add(1)
				Publish(t, tg.Hub, core.Event{Data: strconv.FormatInt(n, 10)}, "news")
				tg.Hub.Publish(core.Event{Data: "x"}, "room:churn")
			}
		}
	}()
	var cycles atomic.Int64
	for w := range churners {
		wg.Add(1)
		go func() { // a churner: connect, maybe read, hang up; bounded in count and time
			defer wg.Done()
			for i := 0; i < 100000 && ctx.Err() == nil; i++ {
				c, err := open(t, hc, tg.URL+"/rooms/churn", "X-Worker", strconv.Itoa(w))
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("churner %d: %v", w, err)
					}
					return
				}
				if i%2 == 0 {
					c.NextWithin(time.Second)
				}
				c.Close()
				cycles.Add(1)
			}
		}()
	}
	var lost atomic.Int64
	for _, c := range stay {
		wg.Add(1)
		go func() { // a stayer: every event, in order
			defer wg.Done()
			want := int64(0)
			for ctx.Err() == nil || want < published.Load() {
				e, ok := c.NextWithin(5 * time.Second)
				if !ok {
					lost.Add(published.Load() - want)
					return
				}
				n, _ := strconv.ParseInt(e.Data, 10, 64)
				if want == 0 {
					want = n
				}
				if n != want {
					t.Errorf("stayer: got event %d, want %d", n, want)
					return
				}
				want++
			}
		}()
	}
	wg.Wait()
	for _, c := range stay {
		c.Close()
	}
	WaitFor(t, 10*time.Second, "no streams left", func() bool { return tg.Hub.Stats().Subscribers == 0 })
	tr.CloseIdleConnections()

	st := tg.Hub.Stats()
	t.Logf("soak %v: %d churn cycles by %d clients, %d events to %d stayers, disconnects %v",
		duration, cycles.Load(), churners, published.Load(), stayers, st.Disconnects)
	if lost.Load() > 0 {
		t.Fatalf("stayers lost %d events", lost.Load())
	}
	var goroutines int
	WaitFor(t, 10*time.Second, "goroutines back to the baseline", func() bool {
		goroutines, _ = settle()
		return goroutines <= baseGoroutines+2
	})
	_, heap := settle()
	t.Logf("goroutines %d (baseline %d), live heap %.1f MiB (baseline %.1f MiB)",
		goroutines, baseGoroutines, float64(heap)/(1<<20), float64(baseHeap)/(1<<20))
	if heap > baseHeap+16<<20 {
		t.Fatalf("heap grew from %d to %d bytes", baseHeap, heap)
	}
}

// settle collects garbage and counts goroutines, leaving out the idle
// workers fasthttp keeps for a while after a burst (its pool's own choice).
func settle() (goroutines int, heap uint64) {
	runtime.GC()
	runtime.GC() // the second empties sync.Pools (write buffers) the first moved aside
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if g != "" && !strings.Contains(g, "fasthttp.(*workerPool).workerFunc") {
			goroutines++
		}
	}
	return goroutines, m.HeapAlloc // live bytes: HeapInuse also counts half-empty spans
}
