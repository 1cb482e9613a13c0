package redisbroker_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
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

// newClientInstance is an app instance whose broker runs on rdb, the app's
// client. The app closes rdb after the hub (cleanups run last first).
func newClientInstance(t *testing.T, rdb redis.UniversalClient) *instance {
	t.Helper()
	t.Cleanup(func() { rdb.Close() })
	b := redisbroker.NewFromClient(rdb, redisbroker.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	return serve(t, core.NewHub(core.WithBroker(b)), b)
}

// twoInstancesAgree publishes from both instances and checks that a client
// on each receives the same events with the same ids.
func twoInstancesAgree(t *testing.T, a, b *instance) {
	t.Helper()
	ca, cb := dial(t, a, "", "t"), dial(t, b, "", "t")
	var want []string
	for i := range 10 {
		data := fmt.Sprint("e", i)
		ssetest.Publish(t, []*instance{a, b}[i%2].hub, core.Event{Data: data}, "t")
		want = append(want, data)
	}
	ea, eb := ca.nextN(10), cb.nextN(10)
	assert.Equal(t, "A: every event, in order", datas(ea), want)
	assert.Equal(t, "B: the same", datas(eb), want)
	assert.Equal(t, "the same ids", ids(eb), ids(ea))
}

// The app's own client, limited to one connection: the reader, blocked in
// XREAD, does not hold it (it dials its own with the client's options), so
// the app's commands and the broker's publishes still get through; and
// closing the hub closes the broker but not the app's client.
func TestNewFromClient_AppClient(t *testing.T) {
	r := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr(), PoolSize: 1, MaxActiveConns: 1, PoolTimeout: time.Second})
	a := newClientInstance(t, rdb)
	b := newInstance(t, r.Addr())
	twoInstancesAgree(t, a, b)

	ctx := context.Background()
	assert.NoError(t, rdb.Ping(ctx).Err())
	assert.NoError(t, a.hub.Close())
	assert.NoError(t, rdb.Ping(ctx).Err()) // still the app's
	n, err := rdb.Exists(ctx, "{ssehub}:meta").Result()
	assert.NoError(t, err)
	assert.Equal(t, "the broker's keys are where the app's client points", n, int64(1))
}

// A cutProxy forwards TCP connections to a Redis server. The first request
// that contains the bytes cut reaches Redis, but its connection is dropped
// before the reply comes back: the command ran, and the client cannot know.
type cutProxy struct {
	ln     net.Listener
	target string
	cut    []byte
	once   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startCutProxy(t *testing.T, target string, cut string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NoError(t, err)
	p := &cutProxy{ln: ln, target: target, cut: []byte(cut)}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		var dropped atomic.Bool
		p.wg.Go(func() { // client → server; ends when either side closes
			defer c.Close()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					cutting := bytes.Contains(buf[:n], p.cut) && p.once.CompareAndSwap(false, true)
					if cutting {
						dropped.Store(true) // the reply, which comes after this, is not forwarded
					}
					if _, err := s.Write(buf[:n]); err != nil {
						return
					}
					if cutting {
						time.Sleep(100 * time.Millisecond) // Redis runs the command
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
		p.wg.Go(func() { // server → client
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 && !dropped.Load() {
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

// The app's client retries a command whose reply was lost (MaxRetries: 5).
// A publish must not be retried: the script ran, and running it again would
// publish the event twice, under two ids. So Publish fails with
// ErrUnavailable, the event is in Redis once, and the next publish works.
func TestNewFromClient_PublishNeverRetried(t *testing.T) {
	r := startRedis(t)
	proxy := startCutProxy(t, r.Addr(), "cut-me")
	rdb := redis.NewClient(&redis.Options{Addr: proxy.addr(), MaxRetries: 5})
	a := newClientInstance(t, rdb)
	ca := dial(t, a, "", "t")

	ssetest.Publish(t, a.hub, core.Event{Data: "before"}, "t")
	_, err := a.hub.Publish(core.Event{Data: "cut-me"}, "t")
	assert.ErrorIs(t, err, redisbroker.ErrUnavailable)
	after := ssetest.Publish(t, a.hub, core.Event{Data: "after"}, "t")

	got := ca.nextN(3)
	assert.Equal(t, "the cut event arrives once (it was published), between the others", datas(got), []string{"before", "cut-me", "after"})
	assert.Equal(t, "the next id is the next number", ids(got)[2], after)
	direct := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer direct.Close()
	n, err := direct.XLen(context.Background(), "{ssehub}:t:t").Result()
	assert.NoError(t, err)
	assert.Equal(t, "entries in the stream", n, int64(3))
}

// Redis Cluster with three primaries: every key of the broker has the hash
// tag "{ssehub}", so all of them are on the node that serves its slot, and
// two instances on ClusterClients share events as on one server.
func TestNewFromClient_Cluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	newCluster := func() *instance {
		return newClientInstance(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}))
	}
	a, b := newCluster(), newCluster()
	twoInstancesAgree(t, a, b)

	v, err := nodes[0].Do("CLUSTER", "KEYSLOT", "{ssehub}")
	assert.NoError(t, err)
	slot := v.(int64)
	holders := 0
	for i, n := range nodes {
		keys, err := n.Do("DBSIZE")
		assert.NoError(t, err)
		if keys.(int64) == 0 {
			continue
		}
		holders++
		inSlot, err := n.Do("CLUSTER", "COUNTKEYSINSLOT", strconv.FormatInt(slot, 10))
		assert.NoError(t, err)
		assert.Equal(t, fmt.Sprint("node ", i, ": every key in slot ", slot), inSlot, keys)
	}
	assert.Equal(t, "nodes holding keys", holders, 1)
}
