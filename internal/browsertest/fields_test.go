package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/httpsse"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// Every field the server can send, through Chromium's own EventSource: what
// the page sees (e.lastEventId, which events are dispatched, when it
// reconnects) and what the browser sends back (Last-Event-ID). core's tests
// check the bytes; these check that a real client reads them as intended.

// fieldsPage logs every message the EventSource dispatches, with the
// lastEventId it carried, and counts opens and errors.
const fieldsPage = `<!doctype html>
<meta charset="utf-8">
<title>fields</title>
<script>
  window.got = [];
  window.opens = 0;
  window.errors = 0;
  const es = new EventSource("/events");
  es.onopen = () => { window.opens++; };
  es.onerror = () => { window.errors++; };
  es.onmessage = e => { window.got.push({data: e.data, lastEventId: e.lastEventId}); };
</script>`

// reconnectBound is how soon a browser told "retry: 0" must be back after
// the server ends its stream. Chromium's default delay is 3 seconds
// (TestEventSourceRetry checks that too), so this tells the two apart.
const reconnectBound = 1500 * time.Millisecond

// A streamRequest is what the browser sent when it opened a stream.
type streamRequest struct {
	at          time.Time
	hasID       bool // a Last-Event-ID header was sent
	lastEventID string
}

// fieldsServer serves fieldsPage at / and its stream at /events, on
// 127.0.0.1, with a hub whose topic "nohist" keeps no history. Every stream
// subscribes to "t" and "nohist".
type fieldsServer struct {
	hub  *core.Hub
	url  string
	reqs chan streamRequest    // each stream request, as it arrives
	subs chan *core.Subscriber // each stream, as it starts
}

func newFieldsServer(t *testing.T, opts ...core.Option) *fieldsServer {
	t.Helper()
	s := &fieldsServer{reqs: make(chan streamRequest, 16), subs: make(chan *core.Subscriber, 16)}
	s.hub = core.NewHub(append([]core.Option{
		core.WithNoHistory(func(topic string) bool { return topic == "nohist" }),
		core.WithOnConnect(func(sub *core.Subscriber) { s.subs <- sub }),
	}, opts...)...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, fieldsPage)
	})
	mux.Handle("GET /events", httpsse.Handler(s.hub, httpsse.Config{
		Topics: func(r *http.Request) ([]string, error) {
			ids, ok := r.Header["Last-Event-Id"]
			req := streamRequest{at: time.Now(), hasID: ok}
			if ok {
				req.lastEventID = ids[0]
			}
			s.reqs <- req
			return []string{"t", "nohist"}, nil
		},
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { s.hub.Close() }) // first: streams never go idle
	s.url = srv.URL
	return s
}

// nextRequest returns the next stream request, waiting up to 5 seconds.
func (s *fieldsServer) nextRequest(t *testing.T, what string) streamRequest {
	t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no stream request within 5s", what)
		return streamRequest{}
	}
}

// nextSubscriber returns the next stream to start, waiting up to 5 seconds.
func (s *fieldsServer) nextSubscriber(t *testing.T) *core.Subscriber {
	t.Helper()
	select {
	case sub := <-s.subs:
		return sub
	case <-time.After(5 * time.Second):
		t.Fatal("no stream started within 5s")
		return nil
	}
}

// A message is one event as the page's EventSource dispatched it.
type message struct {
	Data        string `json:"data"`
	LastEventID string `json:"lastEventId"`
}

// expectMessages waits until the page has dispatched len(want) messages, then
// checks that it dispatched exactly want.
func expectMessages(t *testing.T, tab *Tab, want []message) {
	t.Helper()
	if _, err := tab.Poll(fmt.Sprintf("window.got.length >= %d", len(want)), 5*time.Second); err != nil {
		t.Fatalf("the page dispatched %+v, want %+v: %v", Eval[[]message](tab, "window.got"), want, err)
	}
	if got := Eval[[]message](tab, "window.got"); !slices.Equal(got, want) {
		t.Fatalf("the page dispatched\n%+v\nwant\n%+v", got, want)
	}
}

func publishLive(t *testing.T, hub *core.Hub, e core.Event, topic string) {
	t.Helper()
	if err := hub.PublishLive(e, topic); err != nil {
		t.Fatalf("publish live %+v: %v", e, err)
	}
}

// reconnected checks that the browser came back within reconnectBound of
// ended, and returns what it sent.
func (s *fieldsServer) reconnected(t *testing.T, ended time.Time) streamRequest {
	t.Helper()
	r := s.nextRequest(t, "reconnect")
	if took := r.at.Sub(ended); took > reconnectBound {
		t.Errorf("the browser reconnected %v after the stream ended, want at once (within %v)", took.Round(time.Millisecond), reconnectBound)
	} else {
		t.Logf("reconnected %v after the stream ended", took.Round(time.Millisecond))
	}
	return r
}

// TestEventSourceFields walks one page's EventSource through every field:
// ids, live events, a topic without history, comments, retry: 0 and an
// empty id, each followed by what the page saw and, on reconnect, what the
// browser sent.
func TestEventSourceFields(t *testing.T) {
	s := newFieldsServer(t)
	b := New(t)
	tab := b.NewTab(t, "fields")
	tab.Navigate(s.url + "/")
	if r := s.nextRequest(t, "first connect"); r.hasID {
		t.Errorf("first connect sent Last-Event-ID %q", r.lastEventID)
	}
	sub := s.nextSubscriber(t)
	tab.WaitFor(`window.opens === 1`, 0)

	// An event with a hub id: the page's lastEventId is that id.
	id := ssetest.Publish(t, s.hub, core.Event{Data: "with id"}, "t")
	if id == "" {
		t.Fatal("Publish returned no id")
	}
	want := []message{{"with id", id}}
	expectMessages(t, tab, want)

	// A live event carries no id: lastEventId does not move.
	publishLive(t, s.hub, core.Event{Data: "live"}, "t")
	want = append(want, message{"live", id})
	expectMessages(t, tab, want)

	// Neither does an event on a topic without history.
	if noID := ssetest.Publish(t, s.hub, core.Event{Data: "no history"}, "nohist"); noID != "" {
		t.Errorf("Publish on a topic without history returned id %q, want none", noID)
	}
	want = append(want, message{"no history", id})
	expectMessages(t, tab, want)

	// Comments, to the topic and to this stream alone, are not dispatched;
	// the stream stays live: the next event arrives, and nothing between.
	if err := s.hub.PublishComment("to the topic", "t"); err != nil {
		t.Fatal(err)
	}
	if err := sub.SendComment("to this stream\nin two lines"); err != nil {
		t.Fatal(err)
	}
	publishLive(t, s.hub, core.Event{Data: "after the comments"}, "t")
	want = append(want, message{"after the comments", id})
	expectMessages(t, tab, want)
	if got := Eval[[]int](tab, `[window.opens, window.errors]`); !slices.Equal(got, []int{1, 0}) {
		t.Errorf("opens, errors = %v after the comments, want [1 0]: one open stream", got)
	}

	// retry: 0 on an event; then the server ends the stream: the browser
	// reconnects at once, sending the id it saw last, which the hub resumes.
	publishLive(t, s.hub, core.Event{Data: "retry now", Retry: core.RetryNow}, "t")
	want = append(want, message{"retry now", id})
	expectMessages(t, tab, want)
	ended := time.Now()
	sub.Close()
	if r := s.reconnected(t, ended); !r.hasID || r.lastEventID != id {
		t.Errorf("reconnect sent Last-Event-ID %q (sent: %v), want %q", r.lastEventID, r.hasID, id)
	}
	sub = s.nextSubscriber(t)
	if got := sub.Replay(); got != core.ReplayHit {
		t.Errorf("the hub resolved the browser's Last-Event-ID as %v, want %v", got, core.ReplayHit)
	}
	tab.WaitFor(`window.opens === 2 && window.errors === 1`, 0)

	// An explicitly empty id resets lastEventId to "", and the next
	// reconnect sends no Last-Event-ID header at all.
	if resetID := ssetest.Publish(t, s.hub, core.Event{Data: "reset", ResetID: true}, "t"); resetID != "" {
		t.Errorf("Publish of a ResetID event returned id %q, want none", resetID)
	}
	want = append(want, message{"reset", ""})
	expectMessages(t, tab, want)
	ended = time.Now()
	sub.Close()
	if r := s.reconnected(t, ended); r.hasID {
		t.Errorf("reconnect after an empty id sent Last-Event-ID %q, want no header", r.lastEventID)
	}
	sub = s.nextSubscriber(t)
	if got := sub.Replay(); got != core.ReplayNone {
		t.Errorf("replay after an empty id: %v, want %v", got, core.ReplayNone)
	}
	tab.WaitFor(`window.opens === 3 && window.errors === 2`, 0)

	// The new stream is live, and ids move lastEventId again: nothing was
	// replayed or lost on the way.
	id2 := ssetest.Publish(t, s.hub, core.Event{Data: "after the reset"}, "t")
	want = append(want, message{"after the reset", id2})
	expectMessages(t, tab, want)
}

// TestEventSourceRetry: core.WithRetry(0) starts every stream with
// "retry: 0", and the browser comes back at once when the server ends it;
// without a retry field it waits its default 3 seconds (the control, so that
// reconnectBound means something).
func TestEventSourceRetry(t *testing.T) {
	b := New(t)

	t.Run("WithRetry(0)", func(t *testing.T) {
		s := newFieldsServer(t, core.WithRetry(0))
		tab := b.NewTab(t, "retry 0")
		tab.Navigate(s.url + "/")
		s.nextRequest(t, "first connect")
		sub := s.nextSubscriber(t)
		tab.WaitFor(`window.opens === 1`, 0)
		for i := range 2 { // the second time, from the retry sent on reconnect
			ended := time.Now()
			sub.Close()
			if r := s.reconnected(t, ended); r.hasID {
				t.Errorf("reconnect %d sent Last-Event-ID %q, but no event had an id", i+1, r.lastEventID)
			}
			sub = s.nextSubscriber(t)
			tab.WaitFor(fmt.Sprintf(`window.opens === %d`, i+2), 0)
		}
		if got := Eval[int](tab, `window.got.length`); got != 0 {
			t.Errorf("the page dispatched %d messages: the retry field alone is no event", got)
		}
	})

	t.Run("no retry field", func(t *testing.T) {
		s := newFieldsServer(t)
		tab := b.NewTab(t, "default retry")
		tab.Navigate(s.url + "/")
		s.nextRequest(t, "first connect")
		sub := s.nextSubscriber(t)
		tab.WaitFor(`window.opens === 1`, 0)
		ended := time.Now()
		sub.Close()
		r := s.nextRequest(t, "reconnect")
		took := r.at.Sub(ended)
		if took < 2*time.Second {
			t.Errorf("without a retry field the browser reconnected after %v; the test expects Chromium's default of 3s, well past reconnectBound (%v)",
				took.Round(time.Millisecond), reconnectBound)
		}
		t.Logf("without a retry field the browser reconnected after %v", took.Round(time.Millisecond))
	})
}
