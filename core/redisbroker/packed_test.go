package redisbroker_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// packedBatch is 300 messages over topics x and y (some on both), with every
// field a message can carry, in turn: a batch's events for one stream share
// entries, so every kind of event is packed, and some are an entry's own.
func packedBatch() []core.Message {
	at := time.Unix(1700000000, 123456789)
	var ms []core.Message
	for i := range 300 {
		m := core.Message{Topics: [][]string{{"x"}, {"y"}, {"x", "y"}}[i%3], Event: core.Event{Data: strconv.Itoa(i)}}
		switch i % 11 {
		case 1:
			m.Event.Type = "price"
		case 2:
			m.ID = "app-" + strconv.Itoa(i)
		case 3:
			m.Event.Retry = 1500 * time.Millisecond
		case 4:
			m.Event.Retry, m.Event.ResetID = core.RetryNow, true
		case 5:
			m.Event.Data = "line 1\nline 2\n\nline 4 ünï\r\n"
		case 6:
			m.Event.Data = ""
		case 7:
			m.Event.Data = strings.Repeat("large ", 2000)
		case 8:
			m.Live = true
		case 9:
			m.Comment = true
		case 10:
			m.PublishedAt = at.Add(time.Duration(i))
		}
		ms = append(ms, m)
	}
	return ms
}

// Every field of a message crosses Redis exactly when its entry packs several
// events: a bare broker subscribed to both topics receives each message once,
// in order, as it was published, with the ids PublishBatch returned and
// Seq rising by one. Redis holds fewer entries than events, and each entry's
// own fields are its last event's, as an entry of one event has them.
func TestBroker_PackedEntriesCarryEveryField(t *testing.T) {
	r := startRedis(t)
	a := newInstance(t, r.Addr())
	got := make(chan core.Message, 1000)
	b := redisbroker.New(&redis.Options{Addr: r.Addr()})
	assert.NoError(t, b.Start(func(m core.Message) { got <- m }))
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()
	waitFor(t, "the reader to connect", func() bool { return b.BrokerState().Connected })
	assert.NoError(t, b.Subscribe(ctx, "x", 0))
	assert.NoError(t, b.Subscribe(ctx, "y", 0))

	sent := packedBatch()
	ids, err := a.broker.PublishBatch(ctx, sent)
	assert.NoError(t, err)
	assert.Equal(t, "an id each", len(ids), len(sent))
	var seq0 uint64
	for i, want := range sent {
		var m core.Message
		select {
		case m = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d never came", i)
		}
		if i == 0 {
			seq0 = m.Seq
		}
		slices.Sort(m.Topics)
		assert.Equal(t, fmt.Sprintf("message %d's seq", i), m.Seq, seq0+uint64(i))
		assert.Equal(t, fmt.Sprintf("message %d's id", i), m.ID, ids[i])
		want.ID = ids[i]
		m.Seq = 0
		assert.True(t, fmt.Sprintf("message %d's time", i), m.PublishedAt.Equal(want.PublishedAt))
		m.PublishedAt = want.PublishedAt
		assert.Equal(t, fmt.Sprintf("message %d", i), m, want)
	}
	select {
	case m := <-got:
		t.Fatalf("one more message: %+v", m)
	case <-time.After(100 * time.Millisecond):
	}

	rc := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rc.Close()
	byID := map[string]core.Message{}
	for i, m := range sent {
		_, seq, _ := strings.Cut(ids[i], "-")
		if m.ID == "" && !m.Live {
			byID[seq+"-0"] = m
		}
	}
	for _, key := range []string{"{ssehub}:t:x", "{ssehub}:t:y"} {
		entries, err := rc.XRange(ctx, key, "-", "+").Result()
		assert.NoError(t, err)
		assert.True(t, fmt.Sprintf("%s: %d entries for 200 events", key, len(entries)), len(entries) < 20)
		for _, e := range entries {
			if own, ok := byID[e.ID]; ok {
				assert.Equal(t, "an entry's own data is its last event's", e.Values["d"], any(own.Event.Data))
			}
		}
	}
}

// A client moves to instance B, which had no subscriber for the topic, with
// the id of an event in the middle of a packed entry: B's history, read from
// Redis, gives it exactly the events after that one, then live ones.
func TestBroker_ResumeInsidePackedEntry(t *testing.T) {
	r := startRedis(t)
	a, b := newInstance(t, r.Addr()), newInstance(t, r.Addr())
	var batch []core.Publication
	for i := range 100 {
		batch = append(batch, core.Publication{Event: core.Event{Data: strconv.Itoa(i)}, Topics: []string{"news"}})
	}
	sent, err := a.hub.PublishBatch(context.Background(), batch)
	assert.NoError(t, err)
	assert.Equal(t, "b has no subscriber yet", b.hub.Subscribers("news"), 0)

	moved := dial(t, b, sent[37], "news")
	ssetest.Publish(t, a.hub, core.Event{Data: "live"}, "news")
	got := moved.nextN(63)
	var want []string
	for i := 38; i < 100; i++ {
		want = append(want, strconv.Itoa(i))
	}
	assert.Equal(t, "exactly the missed events, then live", datas(got), append(want, "live"))
	assert.Equal(t, "the same ids as on A", ids(got)[:62], sent[38:])
}
