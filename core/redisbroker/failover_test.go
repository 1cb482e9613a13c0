package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
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

// Sentinel timing for the failover tests: the primary is deemed down after
// downAfter; a failover that has not finished in failoverTimeout is given up.
const (
	downAfter       = 500 * time.Millisecond
	failoverTimeout = 2 * time.Second
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
	ssetest.WaitFor(t, 5*time.Second, "the replica to lose its link", func() bool {
		info, err := replica.Info("replication")
		return err == nil && info["master_link_status"] == "down"
	})
}

// newFailoverInstance is an app instance on Sentinel: its own failover
// client (the app's, closed after the hub) and a hub on a broker made from it.
func newFailoverInstance(t *testing.T, s *redistest.Sentinels) *instance {
	t.Helper()
	return newClientInstance(t, redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.Name, SentinelAddrs: s.Addrs()}))
}

// A publication is one Publish of the publisher loop: event i.
type publication struct {
	id  string
	err error
	at  time.Time // when Publish returned
}

// wireID splits a broker id "<epoch>-<seq>".
func wireID(t *testing.T, id string) (epoch string, seq uint64) {
	t.Helper()
	epoch, n, ok := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil {
		t.Fatalf("id %q is not <epoch>-<seq>", id)
	}
	return epoch, seq
}

// collect reads c's events in the background until one has data "end", and
// returns a function that waits for them (without "end").
func collect(t *testing.T, c *client) func() []core.Event {
	var events []core.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case e := <-c.events:
				if e.Data == "end" {
					return
				}
				events = append(events, e)
			case <-c.done:
				return
			}
		}
	}()
	return func() []core.Event {
		t.Helper()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("timed out waiting for the end of the stream")
		}
		return events
	}
}

// A primary, a replica and three sentinels; two app instances, each with its
// own failover client and a client streaming from it over HTTP. A publisher
// publishes numbered events through both instances in turn, and the primary
// is killed (SIGKILL) mid-stream. "replica in sync" kills it as it is;
// "replica behind" first cuts the replication, so that the primary
// acknowledges events the replica never gets, as a lagging replica would.
//
// What must hold, whatever the timing:
//   - a publish either succeeds or fails with ErrUnavailable, never silently;
//     publishing resumes on the promoted replica once the sentinels name it;
//   - the promotion begins a new epoch. The new epoch's base is the replica's
//     counter: acknowledged events numbered above it were lost with the
//     primary (asynchronous replication), and "replica behind" loses some:
//     the counter went back, and the new ids can never be taken for theirs;
//   - each client sees every acknowledged event the replica kept, and every
//     one published after the failover, once and in publishing order; ids
//     never repeat and rise within an epoch; it sees nothing that was not
//     published (a failed publish may have been published: its reply was
//     lost);
//   - both clients see the same events after the failover, with the same ids.
func TestFailover_Sentinel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		behind bool
	}{
		{"replica in sync", false},
		{"replica behind", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary := startRedis(t, replUser...)
			replica := redistest.StartReplica(t, primary, "--masteruser", "repl", "--masterauth", "pw")
			sentinels := redistest.StartSentinels(t, 3, primary, []*redisServer{replica}, downAfter, failoverTimeout)
			a, b := newFailoverInstance(t, sentinels), newFailoverInstance(t, sentinels)
			waitA, waitB := collect(t, dial(t, a, "", "t")), collect(t, dial(t, b, "", "t"))

			const maxEvents = 20000 // bounds the loop; the test stops it long before
			var (
				mu    sync.Mutex
				pubs  []publication
				stop  = make(chan struct{})
				ended = make(chan struct{})
			)
			acked := func() (n int) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range pubs {
					if p.err == nil {
						n++
					}
				}
				return n
			}
			go func() {
				defer close(ended)
				for i := range maxEvents {
					select {
					case <-stop:
						return
					default:
					}
					id, err := []*instance{a, b}[i%2].hub.Publish(core.Event{Data: strconv.Itoa(i)}, "t")
					mu.Lock()
					pubs = append(pubs, publication{id: id, err: err, at: time.Now()})
					mu.Unlock()
					time.Sleep(time.Millisecond)
				}
			}()
			ssetest.WaitFor(t, 10*time.Second, "events published", func() bool { return acked() >= 100 })
			mu.Lock()
			oldEpoch, _ := wireID(t, pubs[0].id)
			mu.Unlock()
			if tc.behind {
				cutReplication(t, primary, replica)
				before := acked()
				ssetest.WaitFor(t, 10*time.Second, "events the replica misses", func() bool { return acked() >= before+20 })
			}

			killed := time.Now()
			primary.Kill()
			var switched time.Time
			ssetest.WaitFor(t, 30*time.Second, "the sentinels to name the replica", func() bool {
				addr, err := sentinels.Primary()
				switched = time.Now()
				return err == nil && addr == replica.Addr()
			})
			var resumed time.Time
			ssetest.WaitFor(t, 30*time.Second, "a publish to succeed on the replica", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range pubs {
					if p.err == nil && !strings.HasPrefix(p.id, oldEpoch+"-") {
						resumed = p.at
						return true
					}
				}
				return false
			})
			assert.True(t, "publishing resumed within a second of the promotion", resumed.Before(switched.Add(time.Second)))
			after := acked()
			ssetest.WaitFor(t, 10*time.Second, "more events after the failover", func() bool { return acked() >= after+100 })
			close(stop)
			<-ended
			_, err := b.hub.Publish(core.Event{Data: "end"}, "t")
			assert.NoError(t, err)
			got := map[string][]core.Event{"a": waitA(), "b": waitB()}

			// The publications: each acknowledged or ErrUnavailable; two epochs.
			v, err := replica.Do("HMGET", "{ssehub}:meta", "epoch", "base")
			assert.NoError(t, err)
			meta, _ := v.([]any)
			newEpoch, _ := meta[0].(string)
			baseStr, _ := meta[1].(string)
			base, err := strconv.ParseUint(baseStr, 10, 64)
			assert.NoError(t, err)
			assert.True(t, "a new epoch after the promotion: "+oldEpoch+" → "+newEpoch, newEpoch != oldEpoch)
			var (
				failed      int
				lostInRedis []int // acknowledged, then lost with the primary
				maxOld      uint64
			)
			for i, p := range pubs {
				if p.err != nil {
					if !errors.Is(p.err, redisbroker.ErrUnavailable) {
						t.Fatalf("publish %d: %v, want ErrUnavailable", i, p.err)
					}
					assert.True(t, "publish "+strconv.Itoa(i)+" failed before the kill", p.at.After(killed))
					failed++
					continue
				}
				switch epoch, seq := wireID(t, p.id); epoch {
				case newEpoch:
					assert.True(t, "publish "+strconv.Itoa(i)+" in the new epoch before the kill", p.at.After(killed))
				case oldEpoch:
					maxOld = max(maxOld, seq)
					if seq > base {
						lostInRedis = append(lostInRedis, i)
					}
				default:
					t.Fatalf("publish %d: id %s in a third epoch (old %s, new %s)", i, p.id, oldEpoch, newEpoch)
				}
			}
			assert.True(t, "publishes failed while no primary was there", failed > 0)
			if tc.behind {
				assert.True(t, "the replica's counter went back: base "+baseStr+" < "+strconv.FormatUint(maxOld, 10),
					base < maxOld && len(lostInRedis) > 0)
			}

			// What each client saw.
			lostToClients := map[string]int{}
			var tails [2][]core.Event
			for k, name := range []string{"a", "b"} {
				events := got[name]
				seen := map[string]bool{}
				last := map[string]uint64{}
				lastData, epoch := -1, ""
				delivered := map[int]string{}
				for _, e := range events {
					assert.True(t, name+": id "+e.ID+" seen twice", !seen[e.ID])
					seen[e.ID] = true
					ep, seq := wireID(t, e.ID)
					if ep != epoch {
						assert.True(t, name+": back to epoch "+ep, epoch == "" || (epoch == oldEpoch && ep == newEpoch))
						epoch = ep
					}
					assert.True(t, name+": id "+e.ID+" does not rise", seq > last[ep])
					last[ep] = seq
					i, err := strconv.Atoi(e.Data)
					assert.NoError(t, err)
					assert.True(t, name+": event "+e.Data+" out of order", i > lastData)
					lastData = i
					assert.True(t, name+": event "+e.Data+" was never published", i < len(pubs))
					if p := pubs[i]; p.err == nil {
						assert.Equal(t, name+": id of event "+e.Data, e.ID, p.id)
					}
					delivered[i] = e.ID
					if ep == newEpoch {
						tails[k] = append(tails[k], e)
					}
				}
				for i, p := range pubs {
					if p.err != nil {
						continue
					}
					if _, ok := delivered[i]; ok {
						continue
					}
					ep, seq := wireID(t, p.id)
					assert.True(t, name+": acknowledged event "+strconv.Itoa(i)+" ("+p.id+") kept by the replica, not delivered",
						ep == oldEpoch && seq > base)
					lostToClients[name]++
				}
			}
			assert.Equal(t, "both clients: the same events after the failover", ids(tails[1]), ids(tails[0]))
			assert.True(t, "both brokers reconnected", a.state().Reconnects >= 1 && b.state().Reconnects >= 1)

			t.Logf("kill → sentinels name the replica: %v; kill → first publish acknowledged: %v",
				switched.Sub(killed).Round(time.Millisecond), resumed.Sub(killed).Round(time.Millisecond))
			t.Logf("%d publishes, %d failed with ErrUnavailable; epoch %s → %s at base %d (highest acknowledged before: %d)",
				len(pubs), failed, oldEpoch, newEpoch, base, maxOld)
			t.Logf("acknowledged but not on the promoted replica: %d; of those, never delivered: a %d, b %d",
				len(lostInRedis), lostToClients["a"], lostToClients["b"])
		})
	}
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
