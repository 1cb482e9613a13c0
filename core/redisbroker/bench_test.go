package redisbroker_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
)

// BenchmarkLatency measures publish→receive latency, one event in flight at a
// time, as a client sees it over real HTTP: "in-process" publishes on the
// hub that serves the client; "redis" publishes on instance A and the client
// reads from instance B, both on one local Redis. Each op is one event end to
// end; p50-ms and p99-ms are the latency percentiles.
func BenchmarkLatency(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		in := serve(b, core.NewHub(), nil)
		benchLatency(b, in, dial(b, in, "", "t"))
	})
	b.Run("redis", func(b *testing.B) {
		r := startRedis(b)
		pub, sub := newInstance(b, r.Addr()), newInstance(b, r.Addr())
		benchLatency(b, pub, dial(b, sub, "", "t"))
	})
}

func benchLatency(b *testing.B, pub *instance, c *client) {
	lat := make([]time.Duration, 0, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		data := strconv.Itoa(i)
		start := time.Now()
		if _, err := pub.hub.Publish(core.Event{Data: data}, "t"); err != nil {
			b.Fatal(err)
		}
		if e := c.next(); e.Data != data {
			b.Fatalf("got %q, want %q", e.Data, data)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

// benchTopics are the topics BenchmarkThroughput publishes to, in turn.
var benchTopics = []string{"t0", "t1", "t2", "t3"}

// BenchmarkThroughput measures the Redis path between two instances on one
// local redis-server. Instance A publishes events of about ten bytes over four
// topics; a client of instance B, over real HTTP, receives them all. Each op
// is one event. Modes: one goroutine calling Publish, 64 of them, and one
// goroutine calling PublishBatch with 256 events at a time. Reported:
//   - events/s: publishes acknowledged per second, at full speed;
//   - redis-us/event: the microseconds Redis spent in commands per event, by
//     INFO commandstats (every command of both instances, publishing and
//     reading; the plain sum, so a command run by a script or MULTI/EXEC
//     counts in its own line and again in the script's); unlike the rates, it
//     hardly depends on the machine's noise;
//   - redis-cpu-us/event: the redis-server process's CPU time per event
//     (INFO cpu), network I/O included;
//   - go-cpu-us/event: this process's CPU time per event: both instances
//     and the HTTP client;
//   - p50-ms, p99-ms: publish→receive latency from A to B's client, with the
//     events paced at half the events/s just measured.
//
// The machine's noise moves events/s and the latencies: compare them within
// one run. Run it as:
//
//	go test -run '^$' -bench Throughput -benchtime 100000x ./core/redisbroker
func BenchmarkThroughput(b *testing.B) {
	for _, m := range []benchMode{
		{name: "publishers=1", publishers: 1},
		{name: "publishers=64", publishers: 64},
		{name: "batch=256", publishers: 1, batch: 256},
	} {
		b.Run(m.name, func(b *testing.B) { benchThroughput(b, m) })
	}
}

// A benchMode is how the benchmark publishes: publishers goroutines each
// calling Publish, or with batch > 0, PublishBatch with that many events.
type benchMode struct {
	name       string
	publishers int
	batch      int
}

func benchThroughput(b *testing.B, m benchMode) {
	r := startRedis(b)
	opts := []core.Option{core.WithHistory(1<<16, time.Minute)}
	a, bb := newBenchInstance(b, r.Addr(), opts), newBenchInstance(b, r.Addr(), opts)
	rx := newBenchReceiver(dial(b, bb, "", benchTopics...))
	defer rx.stop()
	base := time.Now()

	// Full speed: b.N events.
	if _, err := r.Do("CONFIG", "RESETSTAT"); err != nil {
		b.Fatal(err)
	}
	cpu0, goCPU0 := redisCPU(b, r), processCPU()
	out := rx.expect(b.N, false, base)
	b.ResetTimer()
	start := time.Now()
	benchPublish(b, a.hub, m, b.N, 0, base)
	elapsed := time.Since(start)
	wait(b, out)
	b.StopTimer()
	goCPU := processCPU() - goCPU0
	us := redisCommandUS(b, r)
	cpu := redisCPU(b, r) - cpu0
	rate := float64(b.N) / elapsed.Seconds()
	perEvent := func(us float64) float64 { return us / float64(b.N) }
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(perEvent(us), "redis-us/event")
	b.ReportMetric(perEvent(cpu.Seconds()*1e6), "redis-cpu-us/event")
	b.ReportMetric(perEvent(goCPU.Seconds()*1e6), "go-cpu-us/event")
	if b.N < 1000 { // a calibration run: too few events for percentiles
		return
	}

	// Half that rate, as long: latency as a client sees it.
	n := b.N / 2
	out = rx.expect(n, true, base)
	benchPublish(b, a.hub, m, n, rate/2, base)
	lat := wait(b, out)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

func newBenchInstance(b *testing.B, addr string, opts []core.Option) *instance {
	br := redisbroker.New(&redis.Options{Addr: addr})
	return serve(b, core.NewHub(append(opts, core.WithBroker(br))...), br)
}

// benchPublish publishes n events, event i to benchTopics[i%4], with
// m.publishers goroutines. With rate > 0 event i is published no sooner than
// i/rate seconds after the start (a batch once its last event is due). Each
// event's data is the time it was published, as nanoseconds since base.
func benchPublish(b *testing.B, hub *core.Hub, m benchMode, n int, rate float64, base time.Time) {
	start := time.Now()
	due := func(i int) {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
	}
	stamp := func() string { return strconv.FormatInt(int64(time.Since(base)), 10) }
	per := max(m.batch, 1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range m.publishers {
		wg.Go(func() {
			batch := make([]core.Publication, 0, m.batch)
			for {
				i := int(next.Add(int64(per)) - int64(per))
				if i >= n {
					return
				}
				if m.batch == 0 {
					due(i)
					if _, err := hub.Publish(core.Event{Data: stamp()}, benchTopics[i%len(benchTopics)]); err != nil {
						b.Error(err)
						return
					}
					continue
				}
				k := min(per, n-i)
				due(i + k - 1)
				at := stamp()
				batch = batch[:0]
				for j := i; j < i+k; j++ {
					batch = append(batch, core.Publication{Event: core.Event{Data: at}, Topics: benchTopics[j%len(benchTopics) : j%len(benchTopics)+1]})
				}
				if _, err := hub.PublishBatch(context.Background(), batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A benchReceiver reads a client's events and, when asked, records each
// one's latency: the time since the publish its data records.
type benchReceiver struct {
	c    *client
	cmd  chan benchExpect
	quit chan struct{}
	done chan struct{}
}

type benchExpect struct {
	n      int
	record bool
	base   time.Time
	out    chan []time.Duration
}

func newBenchReceiver(c *client) *benchReceiver {
	rx := &benchReceiver{c: c, cmd: make(chan benchExpect), quit: make(chan struct{}), done: make(chan struct{})}
	go rx.run()
	return rx
}

func (rx *benchReceiver) run() {
	defer close(rx.done)
	for {
		var x benchExpect
		select {
		case x = <-rx.cmd:
		case <-rx.quit:
			return
		}
		var lat []time.Duration
		if x.record {
			lat = make([]time.Duration, 0, x.n)
		}
		for range x.n {
			var e core.Event
			select {
			case e = <-rx.c.events:
			case <-rx.quit:
				return
			}
			if x.record {
				sent, _ := strconv.ParseInt(e.Data, 10, 64)
				lat = append(lat, time.Since(x.base)-time.Duration(sent))
			}
		}
		x.out <- lat
	}
}

// expect has the receiver take the next n events; wait on what it returns.
func (rx *benchReceiver) expect(n int, record bool, base time.Time) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	rx.cmd <- benchExpect{n: n, record: record, base: base, out: out}
	return out
}

// wait returns the latencies of the events expected, once all have come.
func wait(b *testing.B, out <-chan []time.Duration) []time.Duration {
	b.Helper()
	select {
	case lat := <-out:
		return lat
	case <-time.After(time.Minute):
		b.Fatal("timed out waiting for the events at instance B")
		return nil
	}
}

func (rx *benchReceiver) stop() {
	close(rx.quit)
	<-rx.done
}

// redisCommandUS returns the microseconds Redis spent in commands since the
// last CONFIG RESETSTAT: the sum of every command's usec.
func redisCommandUS(b *testing.B, r *redisServer) float64 {
	b.Helper()
	stats, err := r.Info("commandstats")
	if err != nil {
		b.Fatal(err)
	}
	var us float64
	for k, v := range stats {
		if !strings.HasPrefix(k, "cmdstat_") {
			continue
		}
		for f := range strings.SplitSeq(v, ",") {
			if n, ok := strings.CutPrefix(f, "usec="); ok {
				x, _ := strconv.ParseFloat(n, 64)
				us += x
			}
		}
	}
	return us
}

// redisCPU returns the CPU time redis-server has used, user and system.
func redisCPU(b *testing.B, r *redisServer) time.Duration {
	b.Helper()
	cpu, err := r.Info("cpu")
	if err != nil {
		b.Fatal(err)
	}
	sys, _ := strconv.ParseFloat(cpu["used_cpu_sys"], 64)
	user, _ := strconv.ParseFloat(cpu["used_cpu_user"], 64)
	return time.Duration((sys + user) * float64(time.Second))
}

// processCPU returns the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
