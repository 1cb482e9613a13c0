package redisbroker_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// epochOf returns the epoch tag of a broker-assigned id, "<epoch>-<seq>".
func epochOf(id string) string {
	epoch, _, _ := strings.Cut(id, "-")
	return epoch
}

// redis-server is killed (SIGKILL, by its PID) while both clients are
// streaming, and started again on the same port:
//   - while it is down, both brokers say so, and Publish returns an error
//     wrapping ErrUnavailable: that event is not published, now or later;
//   - events published right after the restart reach both clients once, in
//     order, with the same ids, even where the reader was still reconnecting;
//   - without persistence Redis comes back empty: the ids carry a new epoch,
//     so none can be taken for one from before; with an AOF synced on every
//     write it comes back whole: the ids continue in the same epoch.
func TestBroker_RedisKilledAndRestarted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		sameEpoch bool
	}{
		{"no persistence", nil, false},
		{"aof fsync always", []string{"--appendonly", "yes", "--appendfsync", "always"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRedis(t, tc.args...)
			logs := &ssetest.Logs{}
			a := newInstance(t, r.Addr(), redisbroker.WithLogger(slog.New(logs)))
			b := newInstance(t, r.Addr())
			ca, cb := dial(t, a, "", "t"), dial(t, b, "", "t")
			for i := range 3 {
				ssetest.Publish(t, b.hub, core.Event{Data: fmt.Sprint("pre", i)}, "t")
			}
			pre := ca.nextN(3)
			cb.nextN(3)

			r.Kill()
			waitFor(t, "both brokers to see Redis gone", func() bool {
				return !a.state().Connected && !b.state().Connected
			})
			_, err := b.hub.Publish(core.Event{Data: "while down"}, "t")
			assert.ErrorIs(t, err, redisbroker.ErrUnavailable)
			assert.Equal(t, "publish error counted", b.hub.Stats().BrokerErrors, uint64(1))
			assert.True(t, "LastError says why", b.state().LastError != "")

			r.Start()
			for i := range 6 { // at once: A's reader may still be backing off
				in := []*instance{b, a}[i%2]
				ssetest.Publish(t, in.hub, core.Event{Data: fmt.Sprint("post", i)}, "t")
			}
			want := []string{"post0", "post1", "post2", "post3", "post4", "post5"}
			post := ca.nextN(6)
			postB := cb.nextN(6)
			assert.Equal(t, "A: every event after the restart, once, in order", datas(post), want)
			assert.Equal(t, "B: the same", datas(postB), want)
			assert.Equal(t, "the same ids", ids(postB), ids(post))

			ssetest.Publish(t, a.hub, core.Event{Data: "end"}, "t")
			assert.Equal(t, "nothing else came in between", ca.next().Data, "end")
			assert.Equal(t, "nothing else came in between on B", cb.next().Data, "end")

			if tc.sameEpoch {
				assert.Equal(t, "same epoch", epochOf(post[0].ID), epochOf(pre[0].ID))
				assert.Equal(t, "ids continue", post[0].ID, epochOf(pre[0].ID)+"-4")
			} else {
				assert.True(t, "new epoch: "+pre[0].ID+" vs "+post[0].ID, epochOf(post[0].ID) != epochOf(pre[0].ID))
			}
			waitFor(t, "both to report the reconnect", func() bool {
				sa, sb := a.state(), b.state()
				return sa.Connected && sb.Connected && sa.Reconnects >= 1 && sb.Reconnects >= 1
			})
			assert.True(t, "loss logged", logs.Has(slog.LevelWarn, "redisbroker: lost Redis; reconnecting"))
			assert.True(t, "recovery logged", logs.Has(slog.LevelInfo, "redisbroker: reconnected to Redis"))
			if !tc.sameEpoch {
				assert.True(t, "data loss logged", logs.Has(slog.LevelWarn, "redisbroker: Redis began a new epoch (it lost data, or a replica was promoted); ids start over"))
			}
		})
	}
}

// Redis stays up but drops the connections. Instance A stays away for a
// second (its backoff); events published on B meanwhile reach A's client
// once, in order, when A's reader resumes after the last id it delivered.
func TestBroker_ResumesAfterConnectionDrop(t *testing.T) {
	r := startRedis(t)
	a := newInstance(t, r.Addr(), redisbroker.WithBackoff(time.Second, time.Second))
	b := newInstance(t, r.Addr())
	ca, cb := dial(t, a, "", "t"), dial(t, b, "", "t")
	ssetest.Publish(t, b.hub, core.Event{Data: "before"}, "t")
	ca.next()
	cb.next()

	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	assert.NoError(t, rc.ClientKillByFilter(context.Background(), "TYPE", "normal", "SKIPME", "yes").Err())
	waitFor(t, "A to see the connection gone", func() bool { return !a.state().Connected })
	for i := range 5 {
		ssetest.Publish(t, b.hub, core.Event{Data: fmt.Sprint("away", i)}, "t")
	}
	assert.True(t, "A was still away while B published", !a.state().Connected)

	got, gotB := ca.nextN(5), cb.nextN(5)
	assert.Equal(t, "missed events, once, in order", datas(got), []string{"away0", "away1", "away2", "away3", "away4"})
	assert.Equal(t, "same ids as B", ids(got), ids(gotB))
	ssetest.Publish(t, b.hub, core.Event{Data: "end"}, "t")
	assert.Equal(t, "no duplicate", ca.next().Data, "end")
	assert.True(t, "reconnect counted", a.state().Reconnects >= 1 && a.state().Connected)
}

// FLUSHALL behind the brokers' backs, with the connections up: the next
// publish starts a new epoch, and both readers find it (B at once, as its
// publish meets the new epoch; A when its XREAD has been idle for WithBlock).
func TestBroker_DataLossWhileConnected(t *testing.T) {
	r := startRedis(t)
	a := newInstance(t, r.Addr(), redisbroker.WithBlock(100*time.Millisecond))
	b := newInstance(t, r.Addr(), redisbroker.WithBlock(time.Minute))
	ca, cb := dial(t, a, "", "t"), dial(t, b, "", "t")
	for i := range 3 {
		ssetest.Publish(t, a.hub, core.Event{Data: fmt.Sprint("pre", i)}, "t")
	}
	pre := ca.nextN(3)
	cb.nextN(3)

	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	assert.NoError(t, rc.FlushAll(context.Background()).Err())
	for i := range 3 {
		ssetest.Publish(t, b.hub, core.Event{Data: fmt.Sprint("post", i)}, "t")
	}
	post, postB := ca.nextN(3), cb.nextN(3)
	assert.Equal(t, "A gets the new events", datas(post), []string{"post0", "post1", "post2"})
	assert.Equal(t, "B the same ids", ids(postB), ids(post))
	assert.True(t, "new epoch", epochOf(post[0].ID) != epochOf(pre[0].ID))
	assert.Equal(t, "numbering starts again", post[0].ID, epochOf(post[0].ID)+"-1")
}

// With Redis down from the start, the broker still starts. Subscribe and
// Publish have the reader try to connect at once, and fail with
// ErrUnavailable when it cannot. Once Redis is up, the next call gets through
// without waiting for the reader's backoff.
func TestBroker_RedisDownAtStart(t *testing.T) {
	r := startRedis(t)
	r.Kill()
	b := redisbroker.New(&redis.Options{Addr: r.Addr()}, redisbroker.WithBackoff(time.Minute, time.Minute))
	assert.NoError(t, b.Start(func(core.Message) {}))
	defer b.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.Subscribe(ctx, "t", 10)
	assert.ErrorIs(t, err, redisbroker.ErrUnavailable)
	assert.True(t, "fails fast", ctx.Err() == nil)
	_, err = b.Publish(ctx, core.Message{Topics: []string{"t"}})
	assert.ErrorIs(t, err, redisbroker.ErrUnavailable)
	st := b.BrokerState()
	assert.True(t, "disconnected, with a reason: "+st.LastError, !st.Connected && st.LastError != "")

	r.Start() // the reader's backoff is a minute: the calls below bring it back
	assert.NoError(t, b.Subscribe(ctx, "t", 10))
	_, err = b.Publish(ctx, core.Message{Topics: []string{"t"}})
	assert.NoError(t, err)
	assert.True(t, "connected", b.BrokerState().Connected)
	assert.Equal(t, "first connection is no reconnect", b.BrokerState().Reconnects, uint64(0))

	assert.NoError(t, b.Close())
	_, err = b.Publish(ctx, core.Message{Topics: []string{"t"}})
	assert.ErrorIs(t, err, redisbroker.ErrClosed)
	assert.ErrorIs(t, b.Subscribe(ctx, "u", 1), redisbroker.ErrClosed)
}
