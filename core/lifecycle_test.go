package core_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// stuckClient connects a stream whose client never reads, with small socket
// buffers so that the server's writes block soon.
func stuckClient(t *testing.T, h *core.Hub, topics ...string) (served chan error, conn net.Conn) {
	server, conn := tcpPair(t)
	server.(*net.TCPConn).SetWriteBuffer(4096)
	conn.(*net.TCPConn).SetReadBuffer(4096)
	served = make(chan error, 1)
	st := h.Stats()
	go func() {
		err := h.Serve(context.Background(), connStream{bufio.NewWriterSize(server, 4096), server}, core.Subscription{Topics: topics})
		server.Close()
		served <- err
	}()
	waitFor(t, "stuck client subscribed", func() bool { return h.Stats().Connects > st.Connects })
	t.Cleanup(func() { conn.Close() })
	return served, conn
}

func TestHub_StuckClientDelaysNoOne(t *testing.T) {
	const events, writeTimeout = 1000, 2 * time.Second
	h := newHub(t, core.WithWriteTimeout(writeTimeout))
	stuck, _ := stuckClient(t, h, "t")

	const readers = 10
	var wg sync.WaitGroup
	worst := make([]time.Duration, readers)
	for i := range readers {
		c := connect(t, h, core.Subscription{Topics: []string{"t"}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range events {
				c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				e, err := c.dec.Next()
				if err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				sent, _ := strconv.ParseInt(strings.Fields(e.Data)[0], 10, 64)
				worst[i] = max(worst[i], time.Since(time.Unix(0, sent)))
			}
		}()
	}
	pad := strings.Repeat("x", 1024)
	var slowestPublish time.Duration
	for range events {
		start := time.Now()
		publish(t, h, core.Event{Data: strconv.FormatInt(start.UnixNano(), 10) + " " + pad}, "t")
		slowestPublish = max(slowestPublish, time.Since(start))
		time.Sleep(100 * time.Microsecond)
	}
	wg.Wait()
	t.Logf("slowest publish %v, readers' worst latency %v", slowestPublish, worst)
	// A stuck write would hold a reader up for the whole write timeout.
	for i, w := range worst {
		assert.True(t, fmt.Sprintf("reader %d worst latency %v < %v", i, w, writeTimeout/2), w < writeTimeout/2)
	}
	assert.True(t, "publish never waits on the stuck client", slowestPublish < writeTimeout/2)

	select {
	case err := <-stuck:
		assert.True(t, "stuck client cut off by the write timeout: "+fmt.Sprint(err), errors.Is(err, context.DeadlineExceeded) || strings.Contains(fmt.Sprint(err), "timeout"))
	case <-time.After(2 * writeTimeout):
		t.Fatal("stuck client was not cut off")
	}
	assert.Equal(t, "write timeouts", h.Stats().Disconnects[core.DisconnectWriteTimeout], uint64(1))
}

func TestHub_LaggingClientIsDropped(t *testing.T) {
	h := newHub(t, core.WithHistory(16, time.Minute), core.WithWriteTimeout(time.Minute))
	served, conn := stuckClient(t, h, "t")
	pad := strings.Repeat("x", 1024)
	for i := range 200 {
		publish(t, h, core.Event{Data: strconv.Itoa(i) + pad}, "t")
	}
	// Now read: the server's write completes, and its next slot is long gone.
	dec := core.NewDecoder(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n := 0
	for ; ; n++ {
		if _, err := dec.Next(); err != nil {
			break
		}
	}
	assert.True(t, fmt.Sprintf("got %d of 200 events before the cut", n), n < 200)
	assert.ErrorIs(t, <-served, core.ErrLagged)
	st := h.Stats()
	assert.Equal(t, "lagged", st.Disconnects[core.DisconnectLagged], uint64(1))
	assert.Equal(t, "subscribers", st.Subscribers, 0)
}

func TestHub_Shutdown(t *testing.T) {
	h := core.NewHub(core.WithShutdownEvent(core.Event{Type: "bye", Data: "restarting"}))
	a := connect(t, h, core.Subscription{Topics: []string{"a"}})
	b := connect(t, h, core.Subscription{Topics: []string{"b"}})

	var wg sync.WaitGroup
	for range 3 { // concurrent calls all return once the streams have ended
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, h.Shutdown(context.Background()))
		}()
	}
	for _, c := range []*client{a, b} {
		assert.Equal(t, "shutdown event", c.next(), core.Event{Type: "bye", Data: "restarting"})
		assert.ErrorIs(t, c.wait(), core.ErrClosed)
	}
	wg.Wait()
	assert.NoError(t, h.Shutdown(context.Background()))
	assert.NoError(t, h.Close())

	assert.ErrorIs(t, errOf(h.Publish(core.Event{}, "a")), core.ErrClosed)
	assert.ErrorIs(t, errOf(h.PublishAll(core.Event{})), core.ErrClosed)
	server, _ := tcpPair(t)
	assert.ErrorIs(t, h.Serve(context.Background(), connStream{bufio.NewWriter(server), server}, core.Subscription{Topics: []string{"a"}}), core.ErrClosed)
	st := h.Stats()
	assert.Equal(t, "shutdown disconnects", st.Disconnects[core.DisconnectShutdown], uint64(2))
	assert.Equal(t, "no subscribers", st.Subscribers, 0)
}

func TestHub_ShutdownCutsOffStuckClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := core.NewHub(core.WithWriteTimeout(time.Hour))
		server, conn := net.Pipe() // conn is never read: a write blocks until cut off
		defer conn.Close()
		served := make(chan error, 1)
		go func() {
			served <- h.Serve(context.Background(), connStream{bufio.NewWriterSize(server, 4096), server}, core.Subscription{Topics: []string{"t"}})
		}()
		synctest.Wait() // subscribed and parked
		publish(t, h, core.Event{Data: strings.Repeat("x", 8192)}, "t")
		synctest.Wait() // the stream is blocked in its write

		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		assert.ErrorIs(t, h.Shutdown(ctx), context.DeadlineExceeded)
		assert.Equal(t, "returned when ctx ended", time.Since(start), 200*time.Millisecond)
		assert.True(t, "stuck stream cut off", <-served != nil)
	})
}

func TestHub_ShutdownDuringHeavyPublishing(t *testing.T) {
	h := core.NewHub()
	for range 5 {
		connect(t, h, core.Subscription{Topics: []string{"t"}})
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				if _, err := h.Publish(core.Event{Data: "x"}, "t"); err != nil {
					assert.ErrorIs(t, err, core.ErrClosed)
					return
				}
			}
		}()
	}
	waitFor(t, "publishers under way", func() bool { return h.Stats().Published >= 1000 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.NoError(t, h.Shutdown(ctx))
	wg.Wait()
}

// TestHub_ConcurrentPublishersAndSubscribers checks, under -race, that every
// subscriber gets exactly the events of its topics, in publish order.
func TestHub_ConcurrentPublishersAndSubscribers(t *testing.T) {
	h := newHub(t)
	topics := []string{"a", "b", "c", "d"}
	type sub struct {
		c      *client
		topics []string
	}
	var subs []sub
	for i := range 12 {
		ts := []string{topics[i%4]}
		if i%3 == 0 {
			ts = append(ts, topics[(i+1)%4])
		}
		subs = append(subs, sub{connect(t, h, core.Subscription{Topics: ts}), ts})
	}
	const publishers, perPublisher = 4, 300
	var mu sync.Mutex
	sentTo := map[string][]string{} // data -> topics
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(p), 1))
			for i := range perPublisher {
				ts := []string{topics[r.IntN(4)]}
				if r.IntN(3) == 0 {
					ts = append(ts, topics[r.IntN(4)])
				}
				data := fmt.Sprintf("%d/%d", p, i)
				mu.Lock()
				sentTo[data] = ts
				mu.Unlock()
				if _, err := h.Publish(core.Event{Data: data}, ts...); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	assert.NoError(t, errOf(h.PublishAll(core.Event{Type: "end"})))

	for _, s := range subs {
		want := 0
		for _, ts := range sentTo {
			if overlaps(ts, s.topics) {
				want++
			}
		}
		seen := map[string]bool{}
		lastSeq, perPub := 0, map[string]int{}
		for {
			e := s.c.next()
			seq, _ := strconv.Atoi(seqOf(t, e.ID))
			assert.True(t, "ids increase", seq > lastSeq)
			lastSeq = seq
			if e.Type == "end" {
				break
			}
			assert.True(t, "no duplicate "+e.Data, !seen[e.Data])
			seen[e.Data] = true
			assert.True(t, e.Data+" is for this subscriber", overlaps(sentTo[e.Data], s.topics))
			p, i, _ := strings.Cut(e.Data, "/")
			n, _ := strconv.Atoi(i)
			assert.True(t, "publisher order kept", n >= perPub[p])
			perPub[p] = n + 1
		}
		assert.Equal(t, fmt.Sprintf("events for %v", s.topics), len(seen), want)
	}
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// TestHub_ShutdownAndSubscribersNotYetServed: one whose Serve starts during
// Shutdown still gets the shutdown event; one never served is dropped after
// the grace period instead of holding Shutdown up.
func TestHub_ShutdownAndSubscribersNotYetServed(t *testing.T) {
	h := core.NewHub(core.WithShutdownEvent(core.Event{Type: "bye"}))
	late, err := h.Subscribe(core.Subscription{Topics: []string{"t"}})
	assert.NoError(t, err)
	_, err = h.Subscribe(core.Subscription{Topics: []string{"t"}}) // never served
	assert.NoError(t, err)

	shut := make(chan error, 1)
	start := time.Now()
	go func() { shut <- h.Shutdown(context.Background()) }()
	waitFor(t, "shutdown to begin", func() bool { return closed(h) })

	server, conn := tcpPair(t)
	defer conn.Close()
	served := make(chan error, 1)
	go func() { served <- late.Serve(context.Background(), connStream{bufio.NewWriter(server), server}) }()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	e, err := core.NewDecoder(conn).Next()
	assert.NoError(t, err)
	assert.Equal(t, "shutdown event for the late one", e.Type, "bye")
	assert.ErrorIs(t, <-served, core.ErrClosed)

	select {
	case err := <-shut:
		assert.NoError(t, err)
		assert.True(t, fmt.Sprintf("shutdown took %v", time.Since(start)), time.Since(start) < 5*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown waited for a subscriber that is never served")
	}
	assert.Equal(t, "no subscribers", h.Stats().Subscribers, 0)
}
