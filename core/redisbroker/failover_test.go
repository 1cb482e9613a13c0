package redisbroker_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// replUser makes the primary's replication go through an ACL user of its
// own, so that a test can cut it (cutReplication): the replica then misses
// what the primary acknowledges next, as a lagging replica would.
var replUser = []string{"--user", "repl", "on", ">pw", "+psync", "+replconf", "+ping"}

// cutReplication disables the replica's user on primary and ends its link:
// the replica cannot reconnect, and the primary goes on alone.
func cutReplication(t *testing.T, primary, replica *redisServer) {
	t.Helper()
	_, err := primary.Do("ACL", "SETUSER", "repl", "off")
	assert.NoError(t, err)
	_, err = primary.Do("CLIENT", "KILL", "TYPE", "replica")
	assert.NoError(t, err)
	redistest.WaitFor(t, "the replica to lose its link", 5*time.Second, func() bool {
		info, err := replica.Info("replication")
		return err == nil && info["master_link_status"] == "down"
	})
}

// The race an epoch check on the counter alone would lose. Instance A has
// seen events that the replica never got; instance B, which has seen fewer,
// reaches the promoted replica first and publishes. The replica's counter is
// at or above all B has seen, so only the promotion can tell B that the
// numbers after it may have been handed out already: B's event must get a new
// epoch, not the id of one that A's client already has. Then A comes back:
// its client gets B's event, and its own next one, under the new epoch.
//
// The replica is promoted by hand (REPLICAOF NO ONE), as a sentinel does, and
// the clients' Dialer switches to it: the test needs no sentinels.
func TestFailover_PromotedReplicaNeverReusesIDs(t *testing.T) {
	primary := startRedis(t, replUser...)
	replica := redistest.StartReplica(t, primary, "--masteruser", "repl", "--masterauth", "pw")
	var target atomic.Pointer[string]
	addr := primary.Addr()
	target.Store(&addr)
	newApp := func(opts ...redisbroker.Option) *instance {
		b := redisbroker.New(&redis.Options{Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, *target.Load())
		}}, opts...)
		return serve(t, core.NewHub(core.WithBroker(b)), b)
	}
	// A's reader stays away after losing the primary until A publishes; B's
	// reader, with no topic to read, waits a minute between rounds: it has
	// seen nothing since it started.
	a := newApp(redisbroker.WithBackoff(time.Minute, time.Minute))
	b := newApp(redisbroker.WithBackoff(10*time.Millisecond, 100*time.Millisecond), redisbroker.WithBlock(time.Minute))
	ca := dial(t, a, "", "t")
	for i := range 5 {
		ssetest.Publish(t, a.hub, core.Event{Data: fmt.Sprint("kept", i)}, "t")
	}
	cutReplication(t, primary, replica)
	for i := range 5 {
		ssetest.Publish(t, a.hub, core.Event{Data: fmt.Sprint("lost", i)}, "t")
	}
	before := ca.nextN(10)
	seen := map[string]bool{}
	for _, e := range before {
		seen[e.ID] = true
	}

	primary.Kill()
	waitFor(t, "both brokers to see the primary gone", func() bool {
		return !a.state().Connected && !b.state().Connected
	})
	newAddr := replica.Addr()
	target.Store(&newAddr)
	_, err := replica.Do("REPLICAOF", "NO", "ONE")
	assert.NoError(t, err)

	fromB := ssetest.Publish(t, b.hub, core.Event{Data: "from b"}, "t")
	assert.True(t, "B's event has an id of its own, not one A's client has: "+fromB, !seen[fromB])
	assert.True(t, "B's event is in a new epoch", epochOf(fromB) != epochOf(before[0].ID))
	assert.True(t, "A is still away", !a.state().Connected)
	fromA := ssetest.Publish(t, a.hub, core.Event{Data: "from a"}, "t")
	after := ca.nextN(2)
	assert.Equal(t, "A's client: both new events, in order", datas(after), []string{"from b", "from a"})
	assert.Equal(t, "with the ids their publishers got", ids(after), []string{fromB, fromA})
	assert.Equal(t, "in one epoch", epochOf(fromA), epochOf(fromB))
}
