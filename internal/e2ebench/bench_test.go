package e2ebench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// BenchmarkFanout: 1000 clients, bursts of 2000 events of 256 B published
// back to back; one burst per b.N. The figures are per delivered event.
func BenchmarkFanout(b *testing.B) {
	for _, ad := range adapters {
		b.Run(ad.name, func(b *testing.B) { fanout(b, ad, scale(1000), scale(2000), 1, 0) })
	}
}

// BenchmarkFanoutPaced is BenchmarkFanout with the 2000 events published at
// 1000 events/s (10 every 10 ms): a million deliveries a second, sustained,
// without the queue a back-to-back burst builds.
func BenchmarkFanoutPaced(b *testing.B) {
	for _, ad := range adapters {
		b.Run(ad.name, func(b *testing.B) { fanout(b, ad, scale(1000), scale(2000), 10, 10*time.Millisecond) })
	}
}

func fanout(b *testing.B, ad adapter, n, k, group int, pace time.Duration) {
	e := newEnv(b, ad)
	defer e.close()
	e.connect(n, 0, 0)
	e.warmUp()

	var received, lost int64
	var elapsed, cpu, sys, childCPU, publishing time.Duration
	var syscw, ctxsw int64
	var mallocs uint64
	var p50, p99, written []float64
	paced0 := e.hub.Stats().Paced
	b.ResetTimer()
	for range b.N {
		p0 := sampleProc()
		r := e.groupRound(k, group, 256, true, pace, 2*time.Minute)
		p1 := sampleProc()
		if r.timedOut {
			b.Errorf("burst timed out: %d of %d events delivered", r.received, r.expected)
		}
		received += r.received
		lost += r.lost
		elapsed += r.elapsed()
		publishing += r.publishing
		cpu += p1.cpu() - p0.cpu()
		sys += p1.sys - p0.sys
		syscw += p1.syscw - p0.syscw
		ctxsw += p1.ctxsw - p0.ctxsw
		mallocs += p1.mallocs - p0.mallocs
		childCPU += r.childCPU
		p50 = append(p50, ms(r.p50))
		p99 = append(p99, ms(r.p99))
		written = append(written, ms(r.written))
	}
	b.StopTimer()
	if received == 0 {
		b.Fatal("nothing delivered")
	}
	ev := float64(received)
	b.ReportMetric(ev/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/ev, "srv-cpu-us/event")
	b.ReportMetric(100*float64(sys)/float64(cpu), "srv-sys-%")
	b.ReportMetric(median(p50), "p50-ms")
	b.ReportMetric(median(p99), "p99-ms")
	// When the server had written the last delivery to a socket: the rest of
	// the p99 is queued in the kernel's socket buffers and the clients.
	b.ReportMetric(median(written), "srv-written-ms")
	b.ReportMetric(float64(lost), "lost")
	if syscw >= 0 {
		b.ReportMetric(float64(syscw)/ev, "writes/event")
	}
	b.ReportMetric(float64(ctxsw)/ev, "ctxsw/event")
	b.ReportMetric(float64(mallocs)/ev, "srv-allocs/event")
	b.ReportMetric(ms(publishing)/float64(b.N), "publish-ms")
	b.ReportMetric(float64(e.hub.Stats().Paced-paced0)/float64(b.N), "paced")
	b.ReportMetric(float64(childCPU.Microseconds())/ev, "lg-cpu-us/event")
}

// BenchmarkLatency: 1000 clients, 50 events/s for 3 s; one such run per b.N.
func BenchmarkLatency(b *testing.B) {
	n, rate, dur := scale(1000), 50, 3*time.Second
	k := int(dur.Seconds() * float64(rate))
	for _, ad := range adapters {
		b.Run(ad.name, func(b *testing.B) {
			e := newEnv(b, ad)
			defer e.close()
			e.connect(n, 0, 0)
			e.warmUp()

			var p50, p90, p99, p999, mx, cpuPct, sysPct, lgPct []float64
			var lost int64
			b.ResetTimer()
			for range b.N {
				p0 := sampleProc()
				r := e.round(k, 256, true, time.Second/time.Duration(rate), time.Minute)
				p1 := sampleProc()
				lost += r.lost
				p50 = append(p50, ms(r.p50))
				p90 = append(p90, ms(r.p90))
				p99 = append(p99, ms(r.p99))
				p999 = append(p999, ms(r.p999))
				mx = append(mx, ms(r.max))
				cpuPct = append(cpuPct, 100*float64(p1.cpu()-p0.cpu())/float64(r.elapsed()))
				sysPct = append(sysPct, 100*float64(p1.sys-p0.sys)/float64(p1.cpu()-p0.cpu()))
				lgPct = append(lgPct, 100*float64(r.childCPU)/float64(r.elapsed()))
			}
			b.StopTimer()
			b.ReportMetric(median(p50), "p50-ms")
			b.ReportMetric(median(p90), "p90-ms")
			b.ReportMetric(median(p99), "p99-ms")
			b.ReportMetric(median(p999), "p99.9-ms")
			b.ReportMetric(median(mx), "max-ms")
			b.ReportMetric(float64(lost), "lost")
			b.ReportMetric(median(cpuPct), "srv-cpu-%")
			b.ReportMetric(median(sysPct), "srv-sys-%")
			b.ReportMetric(median(lgPct), "lg-cpu-%")
		})
	}
}

// BenchmarkIdleMemory: 10,000 idle clients, each past one warm-up event.
// Memory per connection is the server process's growth from before the
// clients connected.
func BenchmarkIdleMemory(b *testing.B) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	profDir := os.Getenv("SSEHUB_BENCH_PROFILE_DIR")
	if profDir != "" {
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 4096
		defer func() { runtime.MemProfileRate = old }()
	}
	for _, ad := range adapters {
		b.Run(ad.name, func(b *testing.B) {
			var rss, rssFreed, heap, stack, gor, connect, warm []float64
			for range b.N {
				e := newEnv(b, ad)
				runtime.GC()
				debug.FreeOSMemory()
				rss0, m0 := vmRSSKiB(), sampleMem()
				t := time.Now()
				e.connect(n, 0, 4096)
				connect = append(connect, time.Since(t).Seconds())
				w := e.warmUp()
				warm = append(warm, ms(w.elapsed()))
				rss1 := vmRSSKiB() // as it stands, as an outside observer sees it
				m1 := sampleMem()
				debug.FreeOSMemory()
				rss2 := vmRSSKiB()
				if profDir != "" {
					writeProfiles(b, profDir, "idle-"+ad.name)
				}
				perConn := func(a, b uint64) float64 { return (float64(b) - float64(a)) / 1024 / float64(n) }
				rss = append(rss, float64(rss1-rss0)/float64(n))
				rssFreed = append(rssFreed, float64(rss2-rss0)/float64(n))
				heap = append(heap, perConn(m0.heapInuse, m1.heapInuse))
				stack = append(stack, perConn(m0.stackInuse, m1.stackInuse))
				gor = append(gor, float64(m1.goroutines-m0.goroutines)/float64(n))
				e.close()
			}
			b.ReportMetric(median(rss), "rss-KiB/conn")
			b.ReportMetric(median(heap)+median(stack), "heap+stack-KiB/conn")
			b.ReportMetric(median(heap), "heap-KiB/conn")
			b.ReportMetric(median(stack), "stack-KiB/conn")
			b.ReportMetric(median(rssFreed), "rss-after-free-KiB/conn")
			b.ReportMetric(median(gor), "goroutines/conn")
			b.ReportMetric(median(connect), "connect-s")
			b.ReportMetric(median(warm), "warmup-ms")
		})
	}
}

func writeProfiles(tb testing.TB, dir, name string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, p := range []struct {
		profile, file string
		debug         int
	}{{"heap", name + ".heap.pprof", 0}, {"goroutine", name + ".goroutines.txt", 1}} {
		f, err := os.Create(filepath.Join(dir, p.file))
		if err != nil {
			tb.Fatal(err)
		}
		pprof.Lookup(p.profile).WriteTo(f, p.debug)
		f.Close()
	}
}

// BenchmarkSlowClient: 100 reading clients and one that reads its headers
// and then nothing (4 KiB receive buffer), 10 rounds of 1000 × 1 KiB events,
// compared with the same run without the stuck client. One pair of runs per
// b.N.
func BenchmarkSlowClient(b *testing.B) {
	const writeTimeout = 2 * time.Second
	readers, rounds, per := 100, 10, scale(1000)
	for _, ad := range adapters {
		b.Run(ad.name, func(b *testing.B) {
			var base, stuck []slowResult
			for range b.N {
				base = append(base, slowRun(b, ad, readers, 0, rounds, per, writeTimeout))
				stuck = append(stuck, slowRun(b, ad, readers, 1, rounds, per, writeTimeout))
			}
			get := func(rs []slowResult, f func(slowResult) float64) float64 {
				var v []float64
				for _, r := range rs {
					v = append(v, f(r))
				}
				return median(v)
			}
			worst := func(r slowResult) float64 { return r.worstP99 }
			med := func(r slowResult) float64 { return r.medianP99 }
			b.ReportMetric(get(stuck, func(r slowResult) float64 { return float64(r.slowest.Microseconds()) }), "max-publish-us")
			b.ReportMetric(get(base, func(r slowResult) float64 { return float64(r.slowest.Microseconds()) }), "base-max-publish-us")
			// Bursts are paced to the readers (WithBackpressure) with or
			// without the stuck client; the two p99s show it adds nothing.
			b.ReportMetric(get(stuck, func(r slowResult) float64 { return float64(r.publishP99.Microseconds()) }), "publish-p99-us")
			b.ReportMetric(get(base, func(r slowResult) float64 { return float64(r.publishP99.Microseconds()) }), "base-publish-p99-us")
			b.ReportMetric(get(stuck, worst), "p99-ms")
			b.ReportMetric(get(base, worst), "base-p99-ms")
			b.ReportMetric(get(stuck, worst)/get(base, worst), "p99-ratio")
			b.ReportMetric(get(stuck, med)/get(base, med), "median-round-p99-ratio")
			b.ReportMetric(get(stuck, func(r slowResult) float64 { return r.rssGrowthMiB }), "rss-growth-MiB")
			b.ReportMetric(get(base, func(r slowResult) float64 { return r.rssGrowthMiB }), "base-rss-growth-MiB")
			b.ReportMetric(get(stuck, func(r slowResult) float64 { return r.heapGrowthMiB }), "heap-growth-MiB")
			b.ReportMetric(get(stuck, func(r slowResult) float64 { return r.cutoff.Seconds() }), "cutoff-s")
			b.ReportMetric(get(stuck, func(r slowResult) float64 { return float64(r.writeTimeouts) }), "write-timeouts")
			b.ReportMetric(get(stuck, func(r slowResult) float64 { return float64(r.lost) }), "lost")
			b.ReportMetric(get(stuck, func(r slowResult) float64 { return r.deliverSeconds }), "deliver-s")
			b.ReportMetric(get(base, func(r slowResult) float64 { return r.deliverSeconds }), "base-deliver-s")
		})
	}
}

type slowResult struct {
	slowest             time.Duration // the slowest Publish
	publishP99          time.Duration
	worstP99, medianP99 float64 // readers' p99 per round, ms: worst and median round
	rssGrowthMiB        float64
	heapGrowthMiB       float64       // Go heap in use after a GC
	cutoff              time.Duration // first publish to the stuck client's cut-off; -1s if none
	writeTimeouts       uint64
	lost                int64
	deliverSeconds      float64 // first publish to last receive, all rounds
}

func slowRun(b *testing.B, ad adapter, readers, stuck, rounds, per int, writeTimeout time.Duration) slowResult {
	var cutAt atomic.Int64
	e := newEnv(b, ad, core.WithWriteTimeout(writeTimeout),
		core.WithOnDisconnect(func(_ *core.Subscriber, r core.DisconnectReason) {
			if r == core.DisconnectWriteTimeout {
				cutAt.CompareAndSwap(0, time.Now().UnixNano())
			}
		}))
	defer e.close()
	e.connect(readers, stuck, 0)
	e.warmUp()
	debug.FreeOSMemory()
	rss0, m0 := vmRSSKiB(), sampleMem()

	res := slowResult{cutoff: -time.Second}
	var p99 []float64
	var pubs []time.Duration
	var start time.Time
	var last time.Time
	for i := range rounds {
		r := e.round(per, 1024, true, 0, time.Minute)
		if i == 0 {
			start = r.start
		}
		last = r.lastRecv
		res.slowest = max(res.slowest, r.slowest)
		pubs = append(pubs, r.publishes...)
		res.lost += r.lost
		p99 = append(p99, ms(r.p99))
		if r.timedOut {
			b.Errorf("%s round %d: readers got %d of %d events", ad.name, i, r.received, r.expected)
		}
	}
	res.deliverSeconds = last.Sub(start).Seconds()
	slices.Sort(pubs)
	res.publishP99 = pubs[len(pubs)*99/100]
	res.rssGrowthMiB = float64(vmRSSKiB()-rss0) / 1024 // as it stands, garbage included
	m1 := sampleMem()
	res.heapGrowthMiB = (float64(m1.heapInuse) - float64(m0.heapInuse)) / (1 << 20)
	res.worstP99, res.medianP99 = slicesMax(p99), median(p99)
	if stuck > 0 { // the stuck client must go within the write timeout of its stall
		deadline := time.Now().Add(writeTimeout + 5*time.Second)
		for cutAt.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if at := cutAt.Load(); at != 0 {
			res.cutoff = time.Unix(0, at).Sub(start)
		}
	}
	res.writeTimeouts = e.hub.Stats().Disconnects[core.DisconnectWriteTimeout]
	return res
}

func slicesMax(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// BenchmarkMaxConnections connects SSEHUB_BENCH_MAXCONN idle clients (say
// 19000: this process, the server, may hold 20,000 files) through several
// load generators, in steps of 1k, 5k, 10k and the maximum; at each step one
// event goes to all, and memory per connection is measured.
func BenchmarkMaxConnections(b *testing.B) {
	maxConn, _ := strconv.Atoi(os.Getenv("SSEHUB_BENCH_MAXCONN"))
	if maxConn <= 0 {
		b.Skip("set SSEHUB_BENCH_MAXCONN (e.g. 19000) to run")
	}
	const perChild = 9500
	var steps []int
	for _, s := range []int{1000, 5000, 10000} {
		if s < maxConn {
			steps = append(steps, s)
		}
	}
	steps = append(steps, maxConn)
	label := func(s int) string {
		if s == maxConn {
			return "max"
		}
		return fmt.Sprintf("%dk", s/1000)
	}
	for _, ad := range adapters {
		b.Run(ad.name, func(b *testing.B) {
			for range b.N {
				e := newEnv(b, ad)
				runtime.GC()
				debug.FreeOSMemory()
				rss0, m0 := vmRSSKiB(), sampleMem()
				for _, step := range steps {
					for e.clients < step {
						e.connect(min(perChild, step-e.clients), 0, 4096)
					}
					r := e.warmUp()
					rss := vmRSSKiB()
					m := sampleMem()
					l := label(step)
					b.ReportMetric(ms(r.elapsed()), "all-received-ms@"+l)
					b.ReportMetric(float64(rss-rss0)/float64(step), "rss-KiB/conn@"+l)
					b.ReportMetric((float64(m.heapInuse+m.stackInuse)-float64(m0.heapInuse+m0.stackInuse))/1024/float64(step), "heap+stack-KiB/conn@"+l)
					b.Logf("%s: %d connections (%d load generators): all received in %v, RSS %d MiB, %d goroutines",
						ad.name, step, len(e.kids), r.elapsed().Round(time.Millisecond), rss>>10, m.goroutines)
				}
				b.ReportMetric(float64(e.clients), "conns")
				e.close()
			}
		})
	}
}
