package core_test

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

func BenchmarkAppendEvent(b *testing.B) {
	for _, size := range []int{16, 256, 4096} {
		e := core.Event{ID: "abcdefgh-123456", Type: "tick", Data: strings.Repeat("x", size)}
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			buf := make([]byte, 0, size+128)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = core.AppendEvent(buf[:0], e)
			}
		})
	}
}

func BenchmarkAppendEvent_Multiline(b *testing.B) {
	e := core.Event{Type: "log", Data: strings.Repeat("a line of text\n", 16)}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = core.AppendEvent(buf[:0], e)
	}
}

// discardStream is a Stream that drops its bytes: the benchmark measures the
// hub, not a socket.
type discardStream struct{ *bufio.Writer }

func (discardStream) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkPublish measures Publish with n in-process subscribers on the
// topic, all draining into io.Discard. Per op: one event published (and, in
// the background, delivered to n streams). It also shows that subscribers on
// other topics cost a publish nothing. Pacing is off: it would add the
// streams' delivery time, which the end-to-end benchmarks measure.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) { benchPublish(b, n, "t") })
	}
	b.Run("subscribers=10000/other-topic", func(b *testing.B) { benchPublish(b, 10000, "other") })
}

func benchPublish(b *testing.B, n int, subTopic string) {
	h := core.NewHub(core.WithHistory(1<<16, time.Minute), core.WithHeartbeat(0), core.WithBackpressure(0, 0))
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, n)
	for range n {
		go func() {
			h.Serve(ctx, discardStream{bufio.NewWriterSize(io.Discard, 4096)}, core.Subscription{Topics: []string{subTopic}})
			done <- struct{}{}
		}()
	}
	for h.Stats().Subscribers < n {
		time.Sleep(time.Millisecond)
	}
	e := core.Event{Data: strings.Repeat("x", 256)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Publish(e, "t")
		if i%1024 == 1023 && subTopic == "t" { // let the streams keep up, so none lags
			for h.Stats().FramesWritten < uint64((i+1-512)*n) {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	b.StopTimer()
	cancel()
	for range n {
		<-done
	}
}
