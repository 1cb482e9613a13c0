//go:build unix

package core_test

import (
	"bufio"
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// BenchmarkFanout_Freshness is what measuring freshness costs the fan-out
// path. Two hubs, each with BenchmarkPublish's 100 streams draining into
// io.Discard (no socket: the hub's own work is all there is to measure), one
// measuring freshness and one not, take turns: 2048 events of 256 B to one,
// until its streams have written them all, then 2048 to the other. Taking
// turns, they share whatever else the machine is doing, and each goes first
// as often as the other. The garbage collector runs between turns, outside
// the measurement: the measurement allocates nothing, and a collection
// landing in one turn or the other would only add noise. Per op: one event
// published, and written to 100 streams. It reports the process's CPU time
// (user and system) per delivered event, on each hub, and the difference:
//
//	go test -run '^$' -bench Fanout_Freshness -count=10 ./core | tee fresh.txt
//	benchstat fresh.txt
func BenchmarkFanout_Freshness(b *testing.B) {
	const streams, turn = 100, 2048
	on, off := newFanout(b, streams, true), newFanout(b, streams, false)
	defer on.close()
	defer off.close()
	e := core.Event{Data: strings.Repeat("x", 256)}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 2 * turn {
		first, second := on, off
		if i/(2*turn)%2 == 1 { // each goes first as often: neither inherits more of the other's garbage
			first, second = off, on
		}
		first.round(b, e, min(turn, b.N-i))
		second.round(b, e, min(turn, max(b.N-i-turn, 0)))
	}
	b.StopTimer()
	perEvent := func(f *fanout) float64 { return float64(f.cpu.Nanoseconds()) / float64(f.written) }
	b.ReportMetric(perEvent(on), "cpu-ns/event")
	b.ReportMetric(perEvent(off), "cpu-ns/event-unmeasured")
	b.ReportMetric(100*(perEvent(on)/perEvent(off)-1), "cost-%")
	if got := on.hub.Stats().Freshness.Count; got != on.written {
		b.Fatalf("measured %d events of %d", got, on.written)
	}
	if got := off.hub.Stats().Freshness.Count; got != 0 {
		b.Fatalf("measured %d events with the measurement off", got)
	}
}

// A fanout is a hub with streams that drain into io.Discard, until the
// benchmark ends.
type fanout struct {
	hub     *core.Hub
	streams int
	cancel  context.CancelFunc
	done    chan struct{}
	written uint64        // events the streams wrote in rounds
	cpu     time.Duration // the process's CPU time in rounds
	closed  sync.Once
}

func newFanout(b *testing.B, streams int, measured bool) *fanout {
	opts := []core.Option{core.WithHistory(1<<16, time.Minute), core.WithHeartbeat(0)}
	if !measured {
		opts = append(opts, core.WithoutFreshness())
	}
	f := &fanout{hub: core.NewHub(opts...), streams: streams, done: make(chan struct{}, streams)}
	b.Cleanup(f.close) // if the benchmark fails first
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	for range streams {
		go func() {
			f.hub.Serve(ctx, discardStream{bufio.NewWriterSize(io.Discard, 4096)}, core.Subscription{Topics: []string{"t"}})
			f.done <- struct{}{}
		}()
	}
	for f.hub.Stats().Subscribers < streams {
		time.Sleep(time.Millisecond)
	}
	return f
}

// round publishes k events and waits until every stream has written them.
func (f *fanout) round(b *testing.B, e core.Event, k int) {
	if k == 0 {
		return
	}
	b.StopTimer()
	runtime.GC()
	b.StartTimer()
	want := core.FramesWritten(f.hub) + uint64(k*f.streams)
	cpu0 := processCPU(b)
	for range k {
		f.hub.Publish(e, "t")
	}
	for core.FramesWritten(f.hub) < want {
		time.Sleep(50 * time.Microsecond)
	}
	f.cpu += processCPU(b) - cpu0
	f.written += uint64(k * f.streams)
}

func (f *fanout) close() {
	f.closed.Do(func() {
		f.cancel()
		for range f.streams {
			<-f.done
		}
		f.hub.Close()
	})
}

// processCPU returns the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
