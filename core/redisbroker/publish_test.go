package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// Many goroutines publish at once on two instances, so that the brokers put
// many events in each Redis call: both clients receive every event once, in
// one order, with the ids their publishers got, and each goroutine's events
// in the order it published them.
func TestBroker_ConcurrentPublishesOneOrder(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	topics := []string{"t0", "t1", "t2", "t3"}
	ca, cb := dial(t, a, "", topics...), dial(t, b, "", topics...)

	const goroutines, each = 32, 100
	var mu sync.Mutex
	idOf := map[string]string{}
	var wg sync.WaitGroup
	for g := range goroutines {
		in := []*instance{a, b}[g%2]
		wg.Go(func() {
			for n := range each {
				data := fmt.Sprintf("%d-%d", g, n)
				id, err := in.hub.Publish(core.Event{Data: data}, topics[(g+n)%len(topics)])
				if err != nil {
					t.Errorf("publish %s: %v", data, err)
					return
				}
				mu.Lock()
				idOf[data] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	ea, eb := ca.nextN(goroutines*each), cb.nextN(goroutines*each)
	assert.Equal(t, "one order on both instances", datas(eb), datas(ea))
	assert.Equal(t, "the same ids", ids(eb), ids(ea))
	last := map[string]int{}
	for _, e := range ea {
		g, n, _ := strings.Cut(e.Data, "-")
		i, _ := strconv.Atoi(n)
		if prev, ok := last[g]; ok && i != prev+1 {
			t.Fatalf("goroutine %s: event %d after %d", g, i, prev)
		}
		last[g] = i
		assert.Equal(t, "the id its publisher got", e.ID, idOf[e.Data])
	}
	assert.Equal(t, "every goroutine's events", len(last), goroutines)
}

// One PublishBatch of more events than one Redis call takes, to several
// topics, with an app id and an id reset among them: another instance's
// client receives them all, in order, with the ids returned, and the
// broker's numbers run on without a gap.
func TestBroker_PublishBatch(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	cb := dial(t, b, "", "x", "y")
	var batch []core.Publication
	for i := range 1300 {
		p := core.Publication{Event: core.Event{Data: strconv.Itoa(i)}, Topics: []string{"x"}}
		switch i % 100 {
		case 7:
			p.Topics = []string{"x", "y", "x"}
		case 8:
			p.Topics = []string{"y"}
		case 9:
			p.Event.ID = "app-" + strconv.Itoa(i)
		case 10:
			p.Event.ResetID = true
		}
		batch = append(batch, p)
	}
	got, err := a.hub.PublishBatch(context.Background(), batch)
	assert.NoError(t, err)
	assert.Equal(t, "an id each", len(got), len(batch))

	events := cb.nextN(len(batch))
	var seqs []int
	for i, e := range events {
		assert.Equal(t, "in order", e.Data, strconv.Itoa(i))
		assert.Equal(t, "with the id returned", e.ID, got[i])
		switch i % 100 {
		case 9:
			assert.Equal(t, "the app's id", e.ID, "app-"+strconv.Itoa(i))
		case 10:
			assert.Equal(t, "an id reset", e.ID, "")
		default:
			_, seq, _ := strings.Cut(e.ID, "-")
			n, _ := strconv.Atoi(seq)
			seqs = append(seqs, n)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] || seqs[i]-seqs[i-1] > 3 { // an app id or a reset in between
			t.Fatalf("numbers jump from %d to %d", seqs[i-1], seqs[i])
		}
	}
	next := strings.Split(ssetest.Publish(t, a.hub, core.Event{Data: "after"}, "x"), "-")[1]
	assert.Equal(t, "the next number follows", next, strconv.Itoa(len(batch)+1))
	assert.Equal(t, "and arrives after", cb.next().Data, "after")
}

// Eight goroutines publish one at a time and one publishes batches, through
// redis-server (an AOF synced on every write) killed and restarted: what a
// client of the other instance receives is every event acknowledged, once,
// each publisher's in its order, and nothing else but events whose publish
// failed with ErrUnavailable (their reply was lost in the crash).
func TestBroker_ConcurrentPublishingThroughACrash(t *testing.T) {
	r := startRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	ca := dial(t, a, "", "t")

	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		failed int
	)
	record := func(data []string, n int, err error) {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range data[:n] {
			acked[d] = true
		}
		if err != nil {
			if !errors.Is(err, redisbroker.ErrUnavailable) {
				t.Errorf("unexpected error %v", err)
			}
			failed++
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Stops the publishers: at the end of the crash, or, should a wait below
	// fail, before the hubs close.
	stopPublishing := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopPublishing)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100_000 {
				select {
				case <-stop:
					return
				default:
				}
				d := fmt.Sprintf("p%d-%d", g, i)
				_, err := b.hub.Publish(core.Event{Data: d}, "t")
				acknowledged := 0
				if err == nil {
					acknowledged = 1
				}
				record([]string{d}, acknowledged, err)
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for i := 0; i < 1_000_000; i += 50 {
			select {
			case <-stop:
				return
			default:
			}
			var batch []core.Publication
			var data []string
			for j := i; j < i+50; j++ {
				d := fmt.Sprintf("b-%d", j)
				data = append(data, d)
				batch = append(batch, core.Publication{Event: core.Event{Data: d}, Topics: []string{"t"}})
			}
			ids, err := b.hub.PublishBatch(context.Background(), batch)
			record(data, len(ids), err)
			time.Sleep(5 * time.Millisecond)
		}
	})
	time.Sleep(100 * time.Millisecond)
	r.Kill()
	waitFor(t, "a publish to fail", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failed > 0
	})
	r.Start()
	waitFor(t, "both back", func() bool { return a.state().Connected && b.state().Connected })
	time.Sleep(100 * time.Millisecond)
	stopPublishing()
	ssetest.Publish(t, b.hub, core.Event{Data: "end"}, "t")

	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	last := map[string]int{}
	got, extra := 0, 0
	for e := ca.next(); e.Data != "end"; e = ca.next() {
		assert.True(t, "once: "+e.Data, !seen[e.Data])
		seen[e.Data] = true
		who, n, _ := strings.Cut(e.Data, "-")
		i, _ := strconv.Atoi(n)
		if prev, ok := last[who]; ok {
			assert.True(t, fmt.Sprintf("%s: in order, %d after %d", who, i, prev), i > prev)
		}
		last[who] = i
		if acked[e.Data] {
			got++
		} else {
			extra++
		}
	}
	for d := range acked {
		assert.True(t, "acknowledged event "+d+" delivered", seen[d])
	}
	t.Logf("%d events acknowledged and delivered; %d publishes failed, %d events of which arrived all the same",
		got, failed, extra)
}

// With Redis gone, PublishBatch fails with ErrUnavailable and no ids.
func TestBroker_PublishBatchRedisDown(t *testing.T) {
	r := startRedis(t)
	a := newInstance(t, r.Addr())
	r.Kill()
	waitFor(t, "the broker to see Redis gone", func() bool { return !a.state().Connected })
	got, err := a.hub.PublishBatch(context.Background(), []core.Publication{{Topics: []string{"t"}}, {Topics: []string{"u"}}})
	assert.ErrorIs(t, err, redisbroker.ErrUnavailable)
	assert.Equal(t, "no ids", len(got), 0)
}

// Each batch trims the streams it added to: with WithMaxLen(100) a stream
// holds about 100 entries (Redis trims whole nodes of 100), however many
// events went through it, in batches (up to maxEntryEvents to an entry) or
// one by one.
func TestBroker_StreamsStayTrimmed(t *testing.T) {
	r := startRedis(t)
	a := newInstance(t, r.Addr(), redisbroker.WithMaxLen(100))
	var batch []core.Publication
	for i := range 20000 {
		batch = append(batch, core.Publication{Event: core.Event{Data: strconv.Itoa(i)}, Topics: []string{"x", "y"}})
	}
	_, err := a.hub.PublishBatch(context.Background(), batch)
	assert.NoError(t, err)
	ssetest.Publish(t, a.hub, core.Event{Data: "one more"}, "y")
	for _, key := range []string{"{ssehub}:t:x", "{ssehub}:t:y"} {
		n, err := r.Do("XLEN", key)
		assert.NoError(t, err)
		assert.True(t, fmt.Sprintf("%s holds %d entries", key, n), n.(int64) >= 100 && n.(int64) <= 200)
	}
}
