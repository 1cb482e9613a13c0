package e2ebench

import (
	"slices"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/loadgen"
)

// env is one server under test and its load generators.
type env struct {
	tb      testing.TB
	adapter string
	hub     *core.Hub
	url     string
	stop    func()
	kids    []*loadgen.Child
	clients int // reading + stuck clients of all kids
	stuck   int // clients that never read
	seq     uint64
	buf     []byte
	windows int
}

// newEnv starts ad's server on a hub with the benchmarks' history (enough
// for every scenario's burst), no cap on streams (BenchmarkMaxConnections
// goes up to the process's file limit on purpose), and opts.
func newEnv(tb testing.TB, ad adapter, opts ...core.Option) *env {
	base := []core.Option{core.WithHistory(1<<14, time.Minute), core.WithMaxSubscribers(0)}
	opts = append(append(base, ad.opts...), opts...)
	hub := core.NewHub(opts...)
	url, stop := ad.start(tb, hub)
	return &env{tb: tb, adapter: ad.name, hub: hub, url: url, stop: stop}
}

func (e *env) close() {
	for _, k := range e.kids {
		k.Close()
	}
	e.kids = nil
	e.stop()
}

// connect starts a load generator with n reading clients and stuck ones,
// and returns once all have their headers and the hub counts them.
func (e *env) connect(n, stuck, readBuf int) *loadgen.Child {
	e.tb.Helper()
	k, err := loadgen.Start(loadgen.Config{URL: e.url, Clients: n, Stuck: stuck, ReadBuf: readBuf}, childTest)
	if err != nil {
		e.tb.Fatal(err)
	}
	e.kids = append(e.kids, k)
	if _, err := k.Ready(3 * time.Minute); err != nil {
		e.tb.Fatal(err)
	}
	e.clients += n + stuck
	e.stuck += stuck
	e.waitSubscribers(e.clients)
	return k
}

func (e *env) waitSubscribers(n int) {
	e.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.hub.Stats().Subscribers != n {
		if time.Now().After(deadline) {
			e.tb.Fatalf("hub counts %d subscribers, want %d", e.hub.Stats().Subscribers, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publish publishes one event of size bytes and returns how long Publish took.
func (e *env) publish(size int) time.Duration {
	e.seq++
	t := time.Now()
	e.buf = loadgen.AppendPayload(e.buf[:0], e.seq, t.UnixNano(), size)
	if _, err := e.hub.Publish(core.Event{Data: string(e.buf)}, topic); err != nil {
		e.tb.Fatal(err)
	}
	return time.Since(t)
}

// A roundResult is one burst of events, as every load generator saw it.
type roundResult struct {
	start       time.Time     // before the first Publish
	publishing  time.Duration // first Publish to the return of the last
	slowest     time.Duration // the slowest Publish call
	publishes   []time.Duration
	sums        []loadgen.Summary
	expected    int64
	received    int64
	lost        int64
	lastRecv    time.Time // the last in-window receive, on any child
	p50, p99    time.Duration
	p90, p999   time.Duration
	max         time.Duration
	written     time.Duration // first Publish until the server had written every delivery
	childCPU    time.Duration
	timedOut    bool
	complete    int
	readersGone int
}

// elapsed is first publish to last receive.
func (r roundResult) elapsed() time.Duration { return r.lastRecv.Sub(r.start) }

// round has every child count the next k events, publishes them of size
// bytes (back to back, or one per pace), and collects the summaries.
// Percentiles are the worst child's.
func (e *env) round(k, size int, lat bool, pace, timeout time.Duration) roundResult {
	return e.groupRound(k, 1, size, lat, pace, timeout)
}

// groupRound is round publishing group events back to back per pace.
func (e *env) groupRound(k, group, size int, lat bool, pace, timeout time.Duration) roundResult {
	e.tb.Helper()
	lo, hi := e.seq+1, e.seq+uint64(k)
	e.windows++
	for _, kid := range e.kids {
		if err := kid.Window(e.windows, lo, hi, timeout, lat); err != nil {
			e.tb.Fatal(err)
		}
	}
	var r roundResult
	var tick *time.Ticker
	if pace > 0 {
		tick = time.NewTicker(pace)
		defer tick.Stop()
	}
	frames0 := e.hub.Stats().FramesWritten
	r.start = time.Now()
	r.publishes = make([]time.Duration, 0, k)
	for i := range k {
		if tick != nil && i > 0 && i%group == 0 {
			<-tick.C
		}
		d := e.publish(size)
		r.slowest = max(r.slowest, d)
		r.publishes = append(r.publishes, d)
	}
	r.publishing = time.Since(r.start)
	if e.stuck == 0 { // a stuck client takes an unknown part of its frames
		r.written = e.waitWritten(frames0+uint64(k*e.clients), r.start, timeout)
	}
	for _, kid := range e.kids {
		s, err := kid.Summary(timeout + 30*time.Second)
		if err != nil {
			e.tb.Fatal(err)
		}
		r.sums = append(r.sums, s)
		r.expected += s.Expected
		r.received += s.Received
		r.lost += s.Lost
		r.complete += s.Complete
		r.readersGone += s.Gone
		r.timedOut = r.timedOut || s.TimedOut
		if t := time.Unix(0, s.LastRecv); s.LastRecv != 0 && t.After(r.lastRecv) {
			r.lastRecv = t
		}
		r.p50 = max(r.p50, time.Duration(s.P50))
		r.p90 = max(r.p90, time.Duration(s.P90))
		r.p99 = max(r.p99, time.Duration(s.P99))
		r.p999 = max(r.p999, time.Duration(s.P999))
		r.max = max(r.max, time.Duration(s.Max))
		r.childCPU += time.Duration((s.CPUUser + s.CPUSys) * 1e9)
	}
	return r
}

// waitWritten returns when the hub has written frames in all, as time since
// start: what the clients have not received by then sits in the kernel's
// socket buffers or in the clients. It polls, so it is exact to about 1 ms.
func (e *env) waitWritten(frames uint64, start time.Time, timeout time.Duration) time.Duration {
	deadline := start.Add(timeout)
	for e.hub.Stats().FramesWritten < frames && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// warmUp publishes single events until every client has received one,
// which proves every subscription live.
func (e *env) warmUp() roundResult {
	e.tb.Helper()
	r := e.round(1, 64, true, 0, 60*time.Second)
	if r.lost > 0 {
		e.tb.Fatalf("warm-up: %d of %d clients missed the event (%+v)", r.lost, r.expected, r.sums)
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// scale is n, or n/10 under -short.
func scale(n int) int {
	if testing.Short() {
		return max(1, n/10)
	}
	return n
}
