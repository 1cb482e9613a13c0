package core_test

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// Every field the spec lets a server send, through a hub and over a real
// socket, read with the Decoder as a browser would.

func TestHub_RetryZero(t *testing.T) {
	h := newHub(t, core.WithRetry(0))
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	publish(t, h, core.Event{Data: "x", Retry: core.RetryNow}, "a")
	e := c.next()
	assert.Equal(t, "event retry", e.Retry, core.RetryNow)
	assert.Equal(t, "stream retry", c.dec.Retry(), time.Duration(0))
	raw := rawStream(t, h, "retry: 0\n\n")
	assert.True(t, "the stream starts with retry: 0, got "+raw, strings.HasPrefix(raw, "retry: 0\n\n"))
}

// rawStream returns the first bytes of a new stream on topic "raw", at
// least as long as want.
func rawStream(t *testing.T, h *core.Hub, want string) string {
	t.Helper()
	server, conn := tcpPair(t)
	c := serveOver(t, h, core.Subscription{Topics: []string{"raw"}}, server, conn)
	buf := make([]byte, len(want))
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.conn.Read(buf)
	return string(buf[:n])
}

func TestHub_PublishLive(t *testing.T) {
	h := newHub(t)
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	id := publish(t, h, core.Event{Data: "kept"}, "a")
	assert.NoError(t, h.PublishLive(core.Event{Type: "typing", Data: "ada"}, "a"))
	publish(t, h, core.Event{Data: "kept too"}, "a")

	assert.Equal(t, "kept", c.next().ID, id)
	live := c.next()
	assert.Equal(t, "live event", live, core.Event{ID: id, Type: "typing", Data: "ada"}) // the last event id did not move
	last := c.next().ID

	// A client that reconnects after the first event gets the second kept
	// one, not the live one.
	r := connect(t, h, core.Subscription{Topics: []string{"a"}, LastEventID: id})
	assert.Equal(t, "replay skips live events", r.next().Data, "kept too")
	assert.Equal(t, "replayed id", r.dec.LastEventID(), last)

	assert.ErrorIs(t, h.PublishLive(core.Event{ID: "x"}, "a"), core.ErrInvalidID)
	assert.ErrorIs(t, h.PublishLive(core.Event{}), core.ErrNoTopics)
}

func TestHub_ResetID(t *testing.T) {
	h := newHub(t)
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	publish(t, h, core.Event{Data: "1"}, "a")
	id, err := h.Publish(core.Event{Data: "reset", ResetID: true}, "a")
	assert.NoError(t, err)
	assert.Equal(t, "no id returned", id, "")
	c.next()
	e := c.next()
	assert.True(t, "reset", e.ResetID && e.ID == "" && c.dec.LastEventID() == "")
	assert.ErrorIs(t, errOf(h.Publish(core.Event{ID: "1", ResetID: true}, "a")), core.ErrInvalidID)
}

func TestHub_NoHistoryTopics(t *testing.T) {
	h := newHub(t, core.WithNoHistory(func(topic string) bool { return strings.HasPrefix(topic, "count:") }))
	c := connect(t, h, core.Subscription{Topics: []string{"news", "count:visitors"}})
	newsID := publish(t, h, core.Event{Data: "headline"}, "news")
	countID := publish(t, h, core.Event{Data: "7"}, "count:visitors")
	followID := publish(t, h, core.Event{Data: "follow-up"}, "news")
	assert.Equal(t, "no id for a topic without history", countID, "")

	assert.Equal(t, "first", c.nextN(3), []string{"headline", "7", "follow-up"})
	r := connect(t, h, core.Subscription{Topics: []string{"news", "count:visitors"}, LastEventID: newsID})
	assert.Equal(t, "replay: the news, not the count", r.next().Data, "follow-up")
	publish(t, h, core.Event{Data: "8"}, "count:visitors")
	e := r.next()
	assert.Equal(t, "live count", e.Data, "8")
	assert.Equal(t, "its id is the last news's", e.ID, followID)
}

func TestHub_Comments(t *testing.T) {
	h := newHub(t)
	var connected atomic.Pointer[core.Subscriber]
	h2 := newHub(t, core.WithOnConnect(func(s *core.Subscriber) { connected.Store(s) }))
	c := connect(t, h, core.Subscription{Topics: []string{"a"}})
	assert.NoError(t, h.PublishComment("padding\nline two", "a"))
	publish(t, h, core.Event{Data: "after"}, "a")
	assert.Equal(t, "event after the comments", c.next().Data, "after")
	c.mu.Lock()
	got := slices.Clone(c.comments)
	c.mu.Unlock()
	assert.Equal(t, "comments", got, []string{" open", " padding", " line two"})

	d := connect(t, h2, core.Subscription{Topics: []string{"b"}})
	waitFor(t, "OnConnect", func() bool { return connected.Load() != nil })
	sub := connected.Load()
	assert.NoError(t, sub.SendComment("just you"))
	assert.NoError(t, sub.Send(core.Event{Data: "then this"}))
	assert.Equal(t, "event", d.next().Data, "then this")
	assert.Equal(t, "comment to one", d.commentCount(), 2)

	assert.ErrorIs(t, h.PublishComment("\xff", "a"), core.ErrInvalidData)
	assert.ErrorIs(t, sub.SendComment("\xff"), core.ErrInvalidData)
}
