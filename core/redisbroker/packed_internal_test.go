package redisbroker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/redistest"
)

// Packed events read back as they were written, and anything else that could
// sit in an entry's "b" field (another version's, a hand-made one) is an
// error, never a wrong event or a panic.
func TestUnpack(t *testing.T) {
	ms := []core.Message{
		{Event: core.Event{Data: "a"}},
		{ID: "app", Event: core.Event{Type: "t", Data: "line\nline", Retry: time.Second}, PublishedAt: time.Unix(0, 42)},
		{Live: true, Comment: true, Event: core.Event{Retry: core.RetryNow, ResetID: true}},
	}
	// Offsets 0, 3 and 4 in a batch whose first seq is 10: seqs 10, 13, 14.
	var b []byte
	b = appendPacked(b, 0, ms[0])
	b = appendPacked(b, 2, ms[1])
	b = appendPacked(b, 0, ms[2])
	got, err := unpack(nil, string(b), 10, 20, "epoch")
	assert.NoError(t, err)
	assert.Equal(t, "events", len(got), 3)
	for i, seq := range []uint64{10, 13, 14} {
		assert.Equal(t, "seq", got[i].seq, seq)
		assert.Equal(t, "epoch", got[i].epoch, "epoch")
		m := got[i].message(nil, 0)
		want := ms[i]
		want.Seq = seq
		if want.ID == "" && !want.Live {
			want.ID = "epoch-" + []string{"10", "13", "14"}[i]
		}
		assert.Equal(t, "message", m, want)
	}

	for name, c := range map[string]struct {
		packed      string
		first, last uint64
	}{
		"truncated value":      {string(b[:len(b)-3]), 10, 20},
		"no end of fields":     {"\x00d\x01a", 10, 20},
		"length past the end":  {"\x00d\x09a\x00", 10, 20},
		"seq at the entry's":   {string(appendPacked(nil, 10, ms[0])), 10, 20},
		"seq past the entry's": {string(appendPacked(nil, 30, ms[0])), 10, 20},
		"first after last":     {string(appendPacked(nil, 0, ms[0])), 20, 10},
		"bad uvarint":          {strings.Repeat("\xff", 11), 10, 20},
	} {
		_, err := unpack(nil, c.packed, c.first, c.last, "e")
		assert.True(t, name+": an error", err != nil)
	}
}

// unpack never panics, and never returns an event at or above the entry's
// own seq, or two with the same seq; what appendPacked wrote, it reads back.
func FuzzUnpack(f *testing.F) {
	f.Add(string(appendPacked(appendPacked(nil, 1, core.Message{Event: core.Event{Data: "x", Type: "y"}}), 0, core.Message{ID: "i"})), uint64(5), uint64(9))
	f.Add("\x00d\x01a\x00", uint64(0), uint64(1))
	f.Fuzz(func(t *testing.T, packed string, first, last uint64) {
		gap := int(first % 1000)
		m := core.Message{ID: packed, Event: core.Event{Type: packed, Data: packed}}
		back, err := unpack(nil, string(appendPacked(nil, gap, m)), 7, 7+uint64(gap)+1, "e")
		if err != nil || len(back) != 1 || back[0].seq != 7+uint64(gap) || back[0].id != packed || back[0].typ != packed || back[0].data != packed {
			t.Fatalf("round trip of %q at gap %d: %+v, %v", packed, gap, back, err)
		}

		got, err := unpack(nil, packed, first, last, "e")
		if err != nil {
			return
		}
		prev := first
		for i, e := range got {
			if e.seq >= last || e.seq < first || (i > 0 && e.seq <= prev) {
				t.Fatalf("event %d has seq %d (first %d, last %d, previous %d)", i, e.seq, first, last, prev)
			}
			prev = e.seq
		}
	})
}

// A backlog that readCount cuts short, where an entry of another stream holds
// events on both sides of the cut: every event is delivered once, in order,
// with its topics, over two rounds. Topic x gets 511 lone publishes, then a
// call publishes y, x, y (seqs 512 to 514: x's 512th entry is 513, y's entry
// holds 512 and 514), then ten more lone publishes alternate x and y.
func TestCatchUpCutsAcrossPackedEntries(t *testing.T) {
	r := redistest.Start(t)
	b := New(&redis.Options{Addr: r.Addr()})
	defer b.Close()
	ctx := context.Background()
	var got []core.Message
	b.deliver = func(m core.Message) { got = append(got, m) }
	b.topics["x"], b.topics["y"] = b.kTop+"x", b.kTop+"y"
	assert.NoError(t, b.sync(ctx, b.pub))

	var run publishRun
	publish := func(topics ...string) {
		var ms []core.Message
		for _, t := range topics {
			ms = append(ms, core.Message{Topics: []string{t}, Event: core.Event{Data: t}})
		}
		reqs, err := b.newRequests(ctx, ms)
		assert.NoError(t, err)
		run.publish(b, reqs)
		for _, r := range reqs {
			<-r.done
			assert.NoError(t, r.err)
		}
	}
	for range 511 {
		publish("x")
	}
	publish("y", "x", "y")
	for i := range 10 {
		publish([]string{"x", "y"}[i%2])
	}

	b.mu.Lock()
	caughtUp, n, err := b.catchUp(ctx, b.pub)
	b.mu.Unlock()
	assert.NoError(t, err)
	assert.True(t, "the first round is cut short", !caughtUp)
	assert.Equal(t, "delivered up to the cut", n, 513)
	b.mu.Lock()
	caughtUp, n, err = b.catchUp(ctx, b.pub)
	b.mu.Unlock()
	assert.NoError(t, err)
	assert.True(t, "the second round catches up", caughtUp)
	assert.Equal(t, "delivered the rest", n, 11)

	assert.Equal(t, "every event", len(got), 524)
	for i, m := range got {
		want := "x"
		switch {
		case i == 511 || i == 513:
			want = "y"
		case i > 513:
			want = []string{"x", "y"}[(i-514)%2]
		}
		assert.Equal(t, fmt.Sprintf("event %d's seq", i), m.Seq, uint64(i+1))
		assert.Equal(t, fmt.Sprintf("event %d's topics", i), m.Topics, []string{want})
		assert.Equal(t, fmt.Sprintf("event %d's data", i), m.Event.Data, want)
	}
}
