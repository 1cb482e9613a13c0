package redisbroker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/httpsse"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// A member is one instance of an app on a Redis cluster: a hub counting
// "visitors" (WithPresence), keyed by user (Meta, from the X-User header),
// served over real HTTP with the net/http adapter.
type member struct {
	hub *core.Hub
	url string

	mu     sync.Mutex
	counts []int // what WithPresence reported, in order
}

func newMember(t *testing.T, addr string, opts ...core.Option) *member {
	m := &member{}
	b := redisbroker.New(&redis.Options{Addr: addr}, redisbroker.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	opts = append([]core.Option{
		core.WithBroker(b),
		core.WithPresence(func(topic string) bool { return topic == "visitors" }, m.changed),
		core.WithSubscriberKey(func(s *core.Subscriber) string { u, _ := s.Meta().(string); return u }),
	}, opts...)
	m.hub = core.NewHub(opts...)
	srv := httptest.NewServer(httpsse.Handler(m.hub, httpsse.Config{
		Topics: func(r *http.Request) ([]string, error) { return []string{r.URL.Query().Get("topic")}, nil },
		Meta:   func(r *http.Request) any { return r.Header.Get("X-User") },
	}))
	m.url = srv.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := httpsse.Shutdown(ctx, srv.Config, m.hub); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return m
}

func (m *member) changed(_ *core.Hub, _ string, n int) {
	m.mu.Lock()
	m.counts = append(m.counts, n)
	m.mu.Unlock()
}

// reported is the count WithPresence reported last.
func (m *member) reported() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.counts) == 0 {
		return 0
	}
	return m.counts[len(m.counts)-1]
}

// visit opens a stream on topic as user.
func (m *member) visit(t *testing.T, topic, user string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, m.url+"/?topic="+topic, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-User", user)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	assert.NoError(t, err)
	assert.Equal(t, "status", resp.StatusCode, http.StatusOK)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// agree waits until every member counts n visitors, and returns how long
// that took.
func agree(t *testing.T, n int, members ...*member) time.Duration {
	t.Helper()
	start := time.Now()
	ssetest.WaitFor(t, 15*time.Second, fmt.Sprintf("every instance to count %d", n), func() bool {
		for _, m := range members {
			if m.reported() != n || m.hub.Count("visitors") != n {
				return false
			}
		}
		return true
	})
	return time.Since(start)
}

// TestCluster_CountAcrossInstances: two instances on one Redis agree on the
// count of visitors as streams open and close on either.
func TestCluster_CountAcrossInstances(t *testing.T) {
	r := startRedis(t)
	a, b := newMember(t, r.Addr()), newMember(t, r.Addr())
	v1 := a.visit(t, "visitors", "u1")
	t.Logf("open on A: both count 1 after %v", agree(t, 1, a, b))
	b.visit(t, "visitors", "u2")
	b.visit(t, "visitors", "u3")
	t.Logf("two open on B: both count 3 after %v", agree(t, 3, a, b))
	v1.Body.Close()
	t.Logf("close on A: both count 2 after %v", agree(t, 2, a, b))
}

// TestCluster_KilledInstanceStopsCounting: an instance killed by its PID,
// without a shutdown, stops counting within the broker's bound, with nobody
// cleaning up. The instance is this test binary, run again as a child.
func TestCluster_KilledInstanceStopsCounting(t *testing.T) {
	if ssetest.IsChild(t) {
		ssetest.RunChild(func() error { return child(os.Getenv("SSEHUB_CLUSTER_REDIS")) })
	}
	r := startRedis(t)
	a := newMember(t, r.Addr())
	a.visit(t, "visitors", "u1")

	c, _ := ssetest.StartChild(t, "ready", "SSEHUB_CLUSTER_REDIS="+r.Addr())
	agree(t, 4, a) // 1 here, 3 in the child

	start := time.Now()
	c.Kill() // SIGKILL, by its PID: no shutdown
	took := agree(t, 1, a)
	t.Logf("instance killed: the other counts without it after %v (bound: presence TTL %v + a recount)", took, 6*time.Second)
	assert.True(t, "within 10s", time.Since(start) < 10*time.Second)
}

// child is the instance TestCluster_KilledInstanceStopsCounting kills: a hub
// with three visitors, which then waits to be killed.
func child(addr string) error {
	hub := core.NewHub(core.WithBroker(redisbroker.New(&redis.Options{Addr: addr})),
		core.WithPresence(func(topic string) bool { return topic == "visitors" }, nil))
	for i := range 3 {
		if _, err := hub.Subscribe(core.Subscription{Topics: []string{"visitors"}, Meta: strconv.Itoa(i)}); err != nil {
			return err
		}
	}
	for hub.Count("visitors") < 3 { // counted in Redis
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("ready")
	select {} // until killed (or its stdin closes: RunChild exits then)
}

// TestCluster_EndEverywhere: a logout ends the user's streams on every
// instance, and only theirs, within about a second.
func TestCluster_EndEverywhere(t *testing.T) {
	r := startRedis(t)
	var mu sync.Mutex
	ended := map[string]time.Time{}
	onEnd := core.WithOnDisconnect(func(s *core.Subscriber, reason core.DisconnectReason) {
		if reason == core.DisconnectEnded {
			mu.Lock()
			ended[s.Meta().(string)+"@"+s.Topics()[0]] = time.Now()
			mu.Unlock()
		}
	})
	a, b := newMember(t, r.Addr(), onEnd), newMember(t, r.Addr(), onEnd)
	a.visit(t, "user:alice", "alice")
	b.visit(t, "news", "alice")
	bob := b.visit(t, "news", "bob")
	ssetest.WaitFor(t, 5*time.Second, "streams", func() bool { return a.hub.Stats().Subscribers == 1 && b.hub.Stats().Subscribers == 2 })

	start := time.Now()
	assert.NoError(t, a.hub.End(context.Background(), core.Selector{Key: "alice"}))
	ssetest.WaitFor(t, 5*time.Second, "alice's streams to end on both", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ended) == 2
	})
	mu.Lock()
	same, other := ended["alice@user:alice"].Sub(start), ended["alice@news"].Sub(start)
	mu.Unlock()
	t.Logf("End to stream ended: %v on the same instance, %v on the other", same, other)
	assert.True(t, "within a second", same < time.Second && other < time.Second)

	_, err := b.hub.Publish(core.Event{Data: "bob stays"}, "news")
	assert.NoError(t, err)
	e, err := core.NewDecoder(bob.Body).Next()
	assert.NoError(t, err)
	assert.Equal(t, "bob's stream", e.Data, "bob stays")
}

// TestCluster_RedisRestartRecovers: a Redis that restarts empty has every
// instance's counts again within a renewal.
func TestCluster_RedisRestartRecovers(t *testing.T) {
	r := startRedis(t)
	a, b := newMember(t, r.Addr()), newMember(t, r.Addr())
	a.visit(t, "visitors", "u1")
	b.visit(t, "visitors", "u2")
	agree(t, 2, a, b)
	r.Kill()
	r.Start() // empty: no persistence
	start := time.Now()
	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	ssetest.WaitFor(t, 15*time.Second, "both instances' counts back in Redis", func() bool {
		n, _ := rc.HLen(context.Background(), "{ssehub}:n:visitors").Result()
		return n == 2
	})
	t.Logf("after a Redis restart, the counts are back after %v", time.Since(start))
	b.visit(t, "visitors", "u3")
	agree(t, 3, a, b)
}
