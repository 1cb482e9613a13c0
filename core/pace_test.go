package core_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

var payload = strings.Repeat("x", 256)

// readers connects n streams to topic t whose clients read at most 512
// bytes every pause, until they have read events events; read counts each
// one's bytes. Small socket buffers (with small) keep what a stream has
// written close to what its client has read.
func readers(t *testing.T, h *core.Hub, n, events int, pause time.Duration, small bool) (read []atomic.Int64, wait func()) {
	read = make([]atomic.Int64, n)
	var wg sync.WaitGroup
	for i := range n {
		server, conn := tcpPair(t)
		if small {
			server.(*net.TCPConn).SetWriteBuffer(4096)
			conn.(*net.TCPConn).SetReadBuffer(4096)
		}
		c := serveOver(t, h, core.Subscription{Topics: []string{"t"}}, server, conn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			var last byte
			for got := 0; got < events; {
				c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				k, err := c.conn.Read(buf)
				if err != nil {
					t.Errorf("reader %d: %v after %d events", i, err, got)
					return
				}
				// Frames end in a blank line; one may straddle two reads.
				if last == '\n' && k > 0 && buf[0] == '\n' {
					got++
				}
				got += bytes.Count(buf[:k], []byte("\n\n"))
				last = buf[k-1]
				read[i].Add(int64(k))
				time.Sleep(pause)
			}
		}()
	}
	return read, wg.Wait
}

// A burst to readers slower than the publisher moves at their speed: when
// Publish returns, no more than two of eight streams (the sixteenth allowed,
// at least two) are far behind it. Unpaced, the whole burst is published
// before the readers have taken a tenth of it.
func TestBackpressure_BurstMovesAtTheStreamsSpeed(t *testing.T) {
	const readerCount, events, lag = 8, 400, 16
	h := newHub(t, core.WithBackpressure(lag, 10*time.Second))
	read, wait := readers(t, h, readerCount, events, 200*time.Microsecond, true)

	// Bytes published but not read: lag events, and what sits in the
	// stream's 4 KiB writer and both sockets' small buffers. Unpaced, it
	// grows to most of the burst's 400 × ~290 bytes.
	const slack = 64 << 10
	frame := int64(len(payload) + 40) // data: ...\n\n and the id line
	worst := 0
	start := time.Now()
	for i := 1; i <= events; i++ {
		publish(t, h, core.Event{Data: payload}, "t")
		far := 0
		for r := range read {
			if int64(i)*frame-read[r].Load() > slack {
				far++
			}
		}
		worst = max(worst, far)
	}
	took := time.Since(start)
	wait()
	t.Logf("published %d events in %v; paced %d times", events, took, h.Stats().Paced)
	if worst > 2 {
		t.Errorf("when Publish returned, %d of %d readers had more than %d bytes unread; want at most 2", worst, readerCount, slack)
	}
	assert.True(t, "publisher paced", h.Stats().Paced > 0)
}

// Two streams that never read, among ten that do, do not hold the publisher:
// no Publish comes near the backpressure wait, and the readers get every event.
func TestBackpressure_StuckMinorityDoesNotHold(t *testing.T) {
	const events, maxWait = 2000, 3 * time.Second
	h := newHub(t, core.WithBackpressure(16, maxWait), core.WithWriteTimeout(time.Minute))
	stuckClient(t, h, "t")
	stuckClient(t, h, "t")
	read, wait := readers(t, h, 10, events, 0, false)

	var slowest time.Duration
	for range events {
		t0 := time.Now()
		publish(t, h, core.Event{Data: payload}, "t")
		slowest = max(slowest, time.Since(t0))
	}
	wait()
	for i := range read {
		assert.True(t, "reader got every event", read[i].Load() >= int64(events*len(payload)))
	}
	if slowest >= maxWait/2 {
		t.Errorf("slowest Publish took %v: the stuck streams held it", slowest)
	}
}

// When too many streams are stuck, each Publish waits at most maxWait, and
// then returns: the event is queued all the same.
func TestBackpressure_WaitIsBounded(t *testing.T) {
	const maxWait = 50 * time.Millisecond
	h := newHub(t, core.WithBackpressure(8, maxWait), core.WithWriteTimeout(time.Minute))
	for range 3 {
		stuckClient(t, h, "t")
	}
	var slowest time.Duration
	for range 300 { // far more than the stuck sockets and writers hold
		t0 := time.Now()
		publish(t, h, core.Event{Data: payload}, "t")
		slowest = max(slowest, time.Since(t0))
		if slowest >= maxWait {
			break
		}
	}
	if slowest < maxWait || slowest > maxWait+time.Second {
		t.Errorf("slowest Publish took %v; want maxWait (%v), not much more", slowest, maxWait)
	}
	assert.True(t, "paced", h.Stats().Paced > 0)
}

// A waiting Publish returns when its context ends, and when the hub shuts down.
func TestBackpressure_WaitEndsWithContextAndShutdown(t *testing.T) {
	h := newHub(t, core.WithBackpressure(8, time.Minute), core.WithWriteTimeout(time.Minute))
	for range 3 {
		stuckClient(t, h, "t")
	}
	// Fill the stuck streams until a Publish has to wait, here for its context.
	var t0 time.Time
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("no Publish waited")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		t0 = time.Now()
		_, err := h.PublishContext(ctx, core.Event{Data: payload}, "t")
		cancel()
		assert.NoError(t, err)
		if time.Since(t0) >= 100*time.Millisecond {
			break
		}
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Publish waited %v past its context", d)
	}

	// A publisher looks at the streams every few events, so of two
	// Publishes at least one waits.
	paced := h.Stats().Paced // before the publisher starts: it may wait at once
	done := make(chan time.Time)
	go func() {
		h.Publish(core.Event{Data: payload}, "t")
		h.Publish(core.Event{Data: payload}, "t")
		done <- time.Now()
	}()
	waitFor(t, "a Publish waiting", func() bool { return h.Stats().Paced > paced })
	shut := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h.Shutdown(ctx) // cuts the stuck streams off when ctx ends
	select {
	case at := <-done:
		assert.True(t, "Publish returned after Shutdown began", !at.Before(shut))
	case <-time.After(5 * time.Second):
		t.Fatal("Publish still waiting 5s after Shutdown")
	}
}

// WithBackpressure(0, 0) turns pacing off: stuck streams never make Publish wait.
func TestBackpressure_Off(t *testing.T) {
	h := newHub(t, core.WithBackpressure(0, 0), core.WithWriteTimeout(time.Minute))
	for range 3 {
		stuckClient(t, h, "t")
	}
	start := time.Now()
	for range 300 {
		publish(t, h, core.Event{Data: payload}, "t")
	}
	assert.Equal(t, "paced", h.Stats().Paced, uint64(0))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("300 publishes took %v", d)
	}
}

func TestWithBackpressure_RejectsNonsense(t *testing.T) {
	for name, f := range map[string]func(){
		"negative lag":  func() { core.WithBackpressure(-1, time.Second) },
		"no wait":       func() { core.WithBackpressure(8, 0) },
		"negative wait": func() { core.WithBackpressure(8, -time.Second) },
	} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), "WithBackpressure") {
					t.Errorf("%s: panic %v; want one naming WithBackpressure", name, r)
				}
			}()
			f()
		}()
	}
}
