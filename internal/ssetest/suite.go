package ssetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// A Target is an app under test, served on 127.0.0.1, with these routes:
//
//	GET /live               negotiating middleware on topic "news", then a JSON
//	                        handler answering {"snapshot":true}
//	GET /only               stream-only handler on topic "news"
//	GET /users/:user/events stream-only; an auth middleware takes the user from
//	                        the X-User header; topics: "user:"+user when it
//	                        matches :user, else core.Reject(403, "not yours")
//	GET /panic              stream-only; the topic function panics
//	GET /many               stream-only; the topic function returns 100 topics
//	GET /rooms/:room        stream-only; topic "room:"+room, the parameter as is
type Target struct {
	URL string
	Hub *core.Hub
	// Shutdown stops the app the way its package documents (hub, then server).
	Shutdown func(ctx context.Context) error
	// GoneBound is how soon a vanished idle client must be noticed.
	GoneBound time.Duration
}

// NewTarget starts an app on a hub made with opts.
type NewTarget func(t *testing.T, opts ...core.Option) *Target

// Run runs the suite against targets made by newTarget.
func Run(t *testing.T, newTarget NewTarget) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewTarget)
	}{
		{"HeadersAndBytes", testHeadersAndBytes},
		{"Negotiation", testNegotiation},
		{"TopicsFromRequest", testTopicsFromRequest},
		{"ReplayOverReconnect", testReplay},
		{"SnapshotAndRetry", testSnapshotAndRetry},
		{"ClientGoneIsNoticed", testClientGone},
		{"SubscriberLimit", testSubscriberLimit},
		{"Shutdown", testShutdown},
		{"ManyShortConnections", testManyShortConnections},
		{"StuckClient", testStuckClient},
		{"BadLastEventID", testBadLastEventID},
		{"BadTopics", testBadTopics},
		{"HugeEvent", testHugeEvent},
		{"ResetMidWrite", testResetMidWrite},
		{"PanickingHooks", testPanickingHooks},
		{"PerClientCap", testPerClientCap},
		{"ShutdownUnderLoad", testShutdownUnderLoad},
		{"HTTP10", testHTTP10},
		{"FirstBytesAtOnce", testFirstBytesAtOnce},
		{"VaryAndDate", testVaryAndDate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
			tt.fn(t, newTarget)
		})
	}
}

func testHeadersAndBytes(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	c := Open(t, tg.URL+"/only")
	h := c.Resp.Header
	check(t, "status", c.Resp.StatusCode, 200)
	check(t, "Content-Type", h.Get("Content-Type"), "text/event-stream")
	check(t, "Cache-Control", h.Get("Cache-Control"), "no-cache")
	check(t, "X-Accel-Buffering", h.Get("X-Accel-Buffering"), "no")
	check(t, "Content-Length", h.Get("Content-Length"), "")
	WaitFor(t, 5*time.Second, "subscriber", func() bool { return tg.Hub.Subscribers("news") == 1 })

	Publish(t, tg.Hub, core.Event{ID: "a1", Type: "item", Data: "two\nlines"}, "news")
	Publish(t, tg.Hub, core.Event{Data: "\n\ndata: injected\nevent: evil"}, "news")
	c.Next()
	e := c.Next()
	check(t, "injection stays data", e.Data, "\n\ndata: injected\nevent: evil")
	check(t, "injection not an event type", e.Type, "")
	want := ": open\n\nid: a1\nevent: item\ndata: two\ndata: lines\n\n"
	if raw := c.Raw(); !strings.HasPrefix(raw, want) {
		t.Fatalf("bytes on the wire: %q, want prefix %q", raw, want)
	}
}

func testNegotiation(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	tests := []struct {
		accept string
		stream bool
	}{
		{"text/event-stream", true},
		{"text/event-stream; charset=utf-8", true},
		{"TEXT/EVENT-STREAM", true},
		{"application/json, text/event-stream", true},
		{"text/event-stream;q=0.5, application/json;q=0.4", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", false},
		{"*/*", false},
		{"text/*", false},
		{"", false},
		{"application/json", false},
		{"text/event-stream;q=0", false},
		{"text/event-stream;q=0.5, application/json", false},
		{"text/event-stream;q=abc", false},
		{"text/event-stream;q=1.5", false},
		{";;;,,,==", false},
		{strings.Repeat("a/b;q=0.1, ", 300) + "text/event-stream", false}, // past the entry bound
	}
	for _, tt := range tests {
		if tt.stream {
			c := Open(t, tg.URL+"/live", "Accept", tt.accept)
			check(t, "type for "+tt.accept, c.Resp.Header.Get("Content-Type"), "text/event-stream")
			c.Close()
			continue
		}
		resp, body := Get(t, tg.URL+"/live", "Accept", tt.accept)
		if resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
			continue // the server's own header bound came first: fine, and no stream
		}
		check(t, "status for "+tt.accept[:min(len(tt.accept), 40)], resp.StatusCode, 200)
		check(t, "passes through for "+tt.accept[:min(len(tt.accept), 40)], strings.TrimSpace(body), `{"snapshot":true}`)
	}
}

func testTopicsFromRequest(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	alice := Open(t, tg.URL+"/users/alice/events", "X-User", "alice")
	bob := Open(t, tg.URL+"/users/bob/events", "X-User", "bob")
	WaitFor(t, 5*time.Second, "two users", func() bool { return tg.Hub.Stats().Subscribers == 2 })

	resp, body := Get(t, tg.URL+"/users/alice/events", "Accept", "text/event-stream", "X-User", "mallory")
	check(t, "someone else's topic", resp.StatusCode, 403)
	check(t, "refusal body", strings.TrimSpace(body), "ssehub: not yours")
	resp, _ = Get(t, tg.URL+"/users/alice/events?topic=user:alice", "Accept", "text/event-stream", "X-User", "bob")
	check(t, "a query cannot add topics", resp.StatusCode, 403)
	resp, _ = Get(t, tg.URL+"/panic", "Accept", "text/event-stream")
	check(t, "topic function panic", resp.StatusCode, 500)
	resp, body = Get(t, tg.URL+"/many", "Accept", "text/event-stream")
	check(t, "too many topics", resp.StatusCode, 400)
	check(t, "400 body", body, "ssehub: too many topics: 100, at most 32\n")

	Publish(t, tg.Hub, core.Event{Data: "for alice"}, "user:alice")
	Publish(t, tg.Hub, core.Event{Data: "for bob"}, "user:bob")
	check(t, "alice", alice.Next().Data, "for alice")
	check(t, "bob", bob.Next().Data, "for bob")
	if e, ok := alice.NextWithin(200 * time.Millisecond); ok {
		t.Fatalf("alice got %q", e.Data)
	}
	check(t, "still serving both", tg.Hub.Stats().Subscribers, 2)
}

func testReplay(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	c := Open(t, tg.URL+"/only")
	WaitFor(t, 5*time.Second, "subscriber", func() bool { return tg.Hub.Subscribers("news") == 1 })
	for i := range 3 {
		Publish(t, tg.Hub, core.Event{Data: strconv.Itoa(i)}, "news")
	}
	check(t, "first", c.NextData(3), []string{"0", "1", "2"})
	last := c.LastEventID()
	c.Close()
	for i := 3; i < 6; i++ {
		Publish(t, tg.Hub, core.Event{Data: strconv.Itoa(i)}, "news")
	}
	c = Open(t, tg.URL+"/only", "Last-Event-ID", last)
	check(t, "header replay", c.NextData(3), []string{"3", "4", "5"})
	c.Close()
	c = Open(t, tg.URL+"/only?lastEventId="+last)
	check(t, "query replay", c.NextData(3), []string{"3", "4", "5"})
	c = Open(t, tg.URL+"/only", "Last-Event-ID", "not-an-id")
	Publish(t, tg.Hub, core.Event{Data: "live"}, "news")
	check(t, "garbage id starts live", c.Next().Data, "live")
	st := tg.Hub.Stats()
	check(t, "hits", st.ReplayHits, uint64(2))
	check(t, "misses", st.ReplayMisses, uint64(1))
}

func testSnapshotAndRetry(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t, core.WithRetry(1500*time.Millisecond), core.WithHeartbeat(50*time.Millisecond),
		core.WithSnapshot(func(s *core.Subscriber) ([]core.Event, error) {
			return []core.Event{{Type: "state", Data: fmt.Sprint(s.Topics())}}, nil
		}))
	c := Open(t, tg.URL+"/only")
	check(t, "snapshot", c.Next(), core.Event{Type: "state", Data: "[news]"})
	if !strings.HasPrefix(c.Raw(), "retry: 1500\n\n") {
		t.Fatalf("stream starts %q", c.Raw())
	}
	WaitFor(t, 5*time.Second, "heartbeats", func() bool { return c.Comments() >= 2 })
}

func testClientGone(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t, core.WithHeartbeat(100*time.Millisecond))
	c := Open(t, tg.URL+"/only")
	WaitFor(t, 5*time.Second, "subscriber", func() bool { return tg.Hub.Subscribers("news") == 1 })
	c.Close()
	took := WaitFor(t, tg.GoneBound+2*time.Second, "the vanished client to be removed", func() bool {
		return tg.Hub.Stats().Subscribers == 0
	})
	t.Logf("idle client that vanished removed after %v (bound %v)", took, tg.GoneBound)
	if took > tg.GoneBound {
		t.Fatalf("removed after %v, bound %v", took, tg.GoneBound)
	}
	check(t, "reason", tg.Hub.Stats().Disconnects[core.DisconnectClientGone], uint64(1))
}

func testSubscriberLimit(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t, core.WithMaxSubscribers(1))
	Open(t, tg.URL+"/only")
	resp, body := Get(t, tg.URL+"/only", "Accept", "text/event-stream")
	check(t, "status", resp.StatusCode, 503)
	checkRetryAfter(t, resp)
	if !strings.Contains(body, "too many subscribers") {
		t.Fatalf("body %q", body)
	}
}

func testShutdown(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t, core.WithShutdownEvent(core.Event{Type: "bye"}))
	var clients []*Client
	for range 5 {
		clients = append(clients, Open(t, tg.URL+"/only"))
	}
	WaitFor(t, 5*time.Second, "subscribers", func() bool { return tg.Hub.Subscribers("news") == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	must(t, tg.Shutdown(ctx))
	took := time.Since(start)
	t.Logf("shutdown with 5 open streams took %v", took)
	if took > 3*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	for _, c := range clients {
		check(t, "shutdown event", c.Next().Type, "bye")
		if _, ended := c.Ended(5 * time.Second); !ended {
			t.Fatal("stream still open after shutdown")
		}
	}
}

// testManyShortConnections opens and drops streams concurrently while events
// flow: under -race this catches an adapter touching a recycled request.
func testManyShortConnections(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t, core.WithHeartbeat(100*time.Millisecond)) // fasthttp notices the idle ones at a write
	stop := make(chan struct{})
	var pub sync.WaitGroup
	pub.Add(1)
	go func() {
		defer pub.Done()
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			tg.Hub.Publish(core.Event{Data: strconv.Itoa(i)}, "user:u3")
		}
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				user := "u" + strconv.Itoa((w+i)%5)
				path := "/users/" + user + "/events?x=" + strconv.Itoa(i)
				if w%2 == 1 {
					path = "/only" // fixed topics: one slice shared by every request
				}
				c, err := TryOpen(t, tg.URL+path, "X-User", user)
				if err != nil {
					t.Errorf("open: %v", err)
					return
				}
				if c.Resp.StatusCode != 200 {
					t.Errorf("status %d", c.Resp.StatusCode)
				}
				if user == "u3" && w%2 == 0 {
					c.Next()
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	close(stop)
	pub.Wait()
	WaitFor(t, 10*time.Second, "all streams gone", func() bool { return tg.Hub.Stats().Subscribers == 0 })
	st := tg.Hub.Stats()
	check(t, "connects", st.Connects, uint64(200))
	b, _ := json.Marshal(st.Disconnects)
	t.Logf("disconnects: %s", b)
}

func check[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	assert.Equal(t, what, got, want)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testFirstBytesAtOnce: a stream's body starts with the headers, before any
// event or heartbeat: Firefox fires EventSource's open only then.
func testFirstBytesAtOnce(t *testing.T, newTarget NewTarget) {
	for _, path := range []string{"/only", "/live"} {
		tg := newTarget(t)
		start := time.Now()
		resp, conn := RawStream(t, tg.URL, path)
		conn.SetReadDeadline(time.Now().Add(2 * time.Second)) // heartbeats are 15s away
		var first [64]byte
		n, err := io.ReadAtLeast(resp.Body, first[:], len(": open\n\n"))
		if err != nil {
			t.Fatalf("%s: no body bytes within 2s of the request: %v", path, err)
		}
		check(t, path+" first bytes", string(first[:n]), ": open\n\n")
		t.Logf("%s: first body bytes %v after the request", path, time.Since(start))
	}
}

// testVaryAndDate: every answer of a negotiating URL says it varies by
// Accept (the stream, the JSON, a refusal), and streams carry a Date.
func testVaryAndDate(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t, core.WithMaxSubscribers(1))
	c := Open(t, tg.URL+"/live")
	check(t, "stream Vary", c.Resp.Header.Get("Vary"), "Accept")
	if _, err := http.ParseTime(c.Resp.Header.Get("Date")); err != nil {
		t.Fatalf("stream Date %q: %v", c.Resp.Header.Get("Date"), err)
	}
	resp, _ := Get(t, tg.URL+"/live", "Accept", "application/json")
	check(t, "JSON Vary", resp.Header.Get("Vary"), "Accept")
	resp, _ = Get(t, tg.URL+"/live", "Accept", "text/event-stream")
	check(t, "refusal", resp.StatusCode, http.StatusServiceUnavailable)
	check(t, "refusal Vary", resp.Header.Get("Vary"), "Accept")
}

// checkRetryAfter checks a 503's Retry-After: whole seconds, jittered
// between 3 and 7 so that refused clients do not return together.
func checkRetryAfter(t testing.TB, resp *http.Response) {
	t.Helper()
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 3 || n > 7 {
		t.Fatalf("Retry-After %q, want 3 to 7 seconds", resp.Header.Get("Retry-After"))
	}
}
