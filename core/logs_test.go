package core_test

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// A logRecord is what a test sees of a log line: its level, message and
// A crowd refused at a cap makes one Warn line per ten seconds, saying how
// many were refused since the line before; events are never logged.
func TestHub_LogsRefusalsAtACapOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &ssetest.Logs{}
		h := newHub(t, core.WithMaxSubscribers(1), core.WithLogger(slog.New(logs)))
		s, err := h.Subscribe(core.Subscription{Topics: []string{"t"}, ClientAddr: "10.0.0.1"})
		assert.NoError(t, err)
		defer s.Close()
		refuse := func() {
			_, err := h.Subscribe(core.Subscription{Topics: []string{"t"}, ClientAddr: "10.0.0.2"})
			assert.ErrorIs(t, err, core.ErrTooManySubscribers)
		}
		for range 3 {
			refuse()
		}
		for range 100 {
			publish(t, h, core.Event{Data: "x"}, "t")
		}
		warns := logs.At(slog.LevelWarn)
		assert.Equal(t, "warn lines", len(warns), 1)
		assert.Equal(t, "fields", warns[0].Fields, map[string]string{
			"reason": "max_subscribers", "client": "10.0.0.2", "topics": "[t]", "count": "1",
		})

		time.Sleep(5 * time.Second)
		refuse()
		assert.Equal(t, "within ten seconds", len(logs.At(slog.LevelWarn)), 1)
		time.Sleep(5 * time.Second)
		refuse()
		warns = logs.At(slog.LevelWarn)
		assert.Equal(t, "ten seconds later", len(warns), 2)
		assert.Equal(t, "refused since the first line", warns[1].Fields["count"], "4")
		assert.Equal(t, "debug lines: none, no stream was served and events are not logged", len(logs.At(slog.LevelDebug)), 0)
	})
}

// One write timeout is a client's trouble, and only a Debug line; ten within
// ten seconds are worth a Warn.
func TestHub_LogsWriteTimeoutsAboveARate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &ssetest.Logs{}
		h := newHub(t, core.WithWriteTimeout(time.Second), core.WithHeartbeat(0), core.WithLogger(slog.New(logs)))
		stuck := func(n int) { // n clients that never read
			var wg sync.WaitGroup
			for range n {
				server, conn := net.Pipe()
				defer conn.Close()
				wg.Go(func() {
					err := h.Serve(context.Background(), connStream{bufio.NewWriterSize(server, 4096), server}, core.Subscription{Topics: []string{"t"}, ClientAddr: "10.0.0.9"})
					assert.True(t, "timed out", err != nil)
				})
			}
			synctest.Wait()
			publish(t, h, core.Event{Data: "x"}, "t")
			wg.Wait()
		}
		stuck(1)
		assert.Equal(t, "warn lines after one timeout", len(logs.At(slog.LevelWarn)), 0)
		var ended []ssetest.LogRecord
		for _, r := range logs.At(slog.LevelDebug) {
			if r.Msg == "ssehub: stream ended" {
				ended = append(ended, r)
			}
		}
		assert.Equal(t, "debug: stream ended", len(ended), 1)
		assert.Equal(t, "its reason", ended[0].Fields["reason"], string(core.DisconnectWriteTimeout))
		assert.Equal(t, "its client", ended[0].Fields["client"], "10.0.0.9")

		time.Sleep(10 * time.Second) // a new window
		stuck(10)
		warns := logs.At(slog.LevelWarn)
		assert.Equal(t, "warn lines after ten", len(warns), 1)
		assert.Equal(t, "reason", warns[0].Fields["reason"], string(core.DisconnectWriteTimeout))
		assert.Equal(t, "count: every timeout since the start", warns[0].Fields["count"], "11")
		assert.Equal(t, "streams cut off", h.Stats().Disconnects[core.DisconnectWriteTimeout], uint64(11))
	})
}
