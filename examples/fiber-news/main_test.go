package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/internal/ssetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, ssetest.IgnoreFasthttp()...)
}

// A desk is the example served as main serves it, with a newsroom the test
// drives: a headline for each Tick, so no test depends on the machine's pace.
type desk struct {
	*newsroom
	base  string
	tick  chan time.Time
	ticks int
}

// start runs the example on 127.0.0.1 and the newsroom beside it, and shuts
// both down as main does when the test ends.
func start(t *testing.T) *desk {
	t.Helper()
	app, n := newApp()
	d := &desk{newsroom: n, tick: make(chan time.Time)}
	d.base = ssetest.Start(t, func(ctx context.Context, ln net.Listener) error { return serve(ctx, ln, app, n.hub) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.run(ctx, d.tick)
	}()
	t.Cleanup(func() { // before the server's: the newsroom stops first
		cancel()
		<-done
	})
	return d
}

// Tick has the newsroom publish its next n headlines (after the last, the
// end), and waits until it has.
func (d *desk) Tick(t *testing.T, n int) {
	t.Helper()
	for range n {
		d.ticks++
		want := d.hub.Stats().Published + 1
		if d.ticks == len(headlines) {
			want++ // the end follows the last headline
		}
		select {
		case d.tick <- time.Now():
		case <-time.After(5 * time.Second):
			t.Fatal("the newsroom stopped taking ticks")
		}
		ssetest.WaitFor(t, 5*time.Second, fmt.Sprintf("event %d published", want), func() bool {
			return d.hub.Stats().Published == want
		})
	}
}

const endText = "that's all for today"

// wantAll checks that the next events of a new stream are the five
// headlines in order, then the end. A headline published while the stream's
// snapshot is taken may come twice, in the snapshot and live (see
// core.WithSnapshot): like the page, wantAll skips ids it has seen.
func wantAll(t *testing.T, c *ssetest.Client) {
	t.Helper()
	wantFrom(t, c, 1, true)
}

// wantFrom checks that the next events of c are the headlines from the
// first'th on, in order, then the end; with skipSeen, it skips events whose
// ids it has seen.
func wantFrom(t *testing.T, c *ssetest.Client, first int, skipSeen bool) {
	t.Helper()
	seen := map[string]bool{}
	next := func() core.Event {
		for {
			e := c.Next()
			if !skipSeen || !seen[e.ID] {
				seen[e.ID] = true
				return e
			}
		}
	}
	for i := first; i <= len(headlines); i++ {
		e := next()
		if want := fmt.Sprintf("news-%d", i); e.Type != "headline" || e.ID != want || e.Data != headlines[i-1] {
			t.Fatalf("event %d: %+v, want headline %s %q\nstream: %q", i, e, want, headlines[i-1], c.Raw())
		}
	}
	if e := next(); e.Type != "end" || e.ID != "news-end" || e.Data != endText {
		t.Fatalf("last event: %+v, want the end\nstream: %q", e, c.Raw())
	}
}

// wantNothingMore publishes a marker and checks that it is the next event on
// each stream: nothing came between the end and it.
func wantNothingMore(t *testing.T, d *desk, streams ...*ssetest.Client) {
	t.Helper()
	ssetest.Publish(t, d.hub, core.Event{Type: "marker"}, "news")
	for i, c := range streams {
		if e := c.Next(); e.Type != "marker" {
			t.Fatalf("stream %d: %+v after the end, want nothing\nstream: %q", i, e, c.Raw())
		}
	}
}

// newsJSON is GET /news as a page load or fetch sends it.
func newsJSON(t *testing.T, d *desk, accept string) []core.Event {
	t.Helper()
	var got []core.Event // its fields match the JSON's, whatever their case
	ssetest.GetJSON(t, d.base+"/news", &got, "Accept", accept)
	return got
}

func TestNews(t *testing.T) {
	d := start(t)

	resp, body := ssetest.Get(t, d.base+"/", "Accept", "text/html,*/*;q=0.8")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `new EventSource("/news")`) || !strings.Contains(body, `href="/news"`) {
		t.Fatalf("GET /: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if got := newsJSON(t, d, "application/json"); len(got) != 0 {
		t.Fatalf("GET /news before any news: %+v, want []", got)
	}

	// A reader there from the start gets every headline live.
	live := ssetest.OpenStream(t, d.base+"/news")
	ssetest.WaitSubscribers(t, d.hub, "news", 1)
	d.Tick(t, 2)
	if got := newsJSON(t, d, "application/json"); len(got) != 2 || got[1].ID != "news-2" || got[1].Data != headlines[1] {
		t.Fatalf("GET /news after two headlines: %+v", got)
	}
	d.Tick(t, len(headlines)-2)
	wantAll(t, live)
	if raw := live.Raw(); !strings.HasPrefix(raw, "retry: 3000\n\n") {
		t.Errorf("the stream does not start with retry: 3000: %q", raw)
	}
	if !d.done.Load() {
		t.Fatal("the end arrived before the newsroom says it is done")
	}

	// A page opened later, with no Last-Event-ID, learns everything from the
	// snapshot, the end included.
	late := ssetest.OpenStream(t, d.base+"/news")
	wantAll(t, late)
	if raw := late.Raw(); !strings.HasPrefix(raw, "retry: 3000\n\n") {
		t.Errorf("the late stream does not start with retry: 3000: %q", raw)
	}
	wantNothingMore(t, d, live, late)

	// A page load of /news (the page's link) gets the same as JSON.
	got := newsJSON(t, d, "text/html,application/xhtml+xml,*/*;q=0.8")
	if len(got) != len(headlines)+1 || got[0].ID != "news-1" || got[0].Type != "headline" ||
		got[len(got)-1].Type != "end" || got[len(got)-1].Data != endText {
		t.Fatalf("GET /news after the end: %+v", got)
	}

	// An EventSource reconnecting after the end gets 204: stop for good.
	for _, id := range []string{"news-end", live.LastEventID(), "news-3"} {
		resp, body := ssetest.Get(t, d.base+"/news", "Accept", "text/event-stream", "Last-Event-ID", id)
		if resp.StatusCode != http.StatusNoContent || body != "" {
			t.Errorf("reconnect with Last-Event-ID %q after the end: %d %q, want 204", id, resp.StatusCode, body)
		}
	}
}

// TestNewsReplay: a reader that loses its stream in the middle resumes with
// Last-Event-ID and gets exactly what it missed, no snapshot repeated.
func TestNewsReplay(t *testing.T) {
	d := start(t)
	first := ssetest.OpenStream(t, d.base+"/news")
	ssetest.WaitSubscribers(t, d.hub, "news", 1)
	d.Tick(t, 2)
	// A headline published while the snapshot is taken may come twice, in it
	// and live (core.WithSnapshot): skip ids seen, as the page does.
	for i, last := 0, ""; i < 2; {
		e := first.Next()
		if e.ID == last {
			continue
		}
		if e.ID != fmt.Sprintf("news-%d", i+1) {
			t.Fatalf("event %d: %+v", i+1, e)
		}
		last = e.ID
		i++
	}
	first.Close()
	d.Tick(t, 1) // published while the reader is away

	again := ssetest.OpenStream(t, d.base+"/news", "Last-Event-ID", first.LastEventID())
	if e := again.Next(); e.ID != "news-3" {
		t.Fatalf("after reconnecting: %+v, want news-3, missed while away\nstream: %q", e, again.Raw())
	}
	if st := d.hub.Stats(); st.ReplayHits != 1 {
		t.Errorf("replay hits %d, want 1", st.ReplayHits)
	}
	d.Tick(t, len(headlines)-3)
	wantFrom(t, again, 4, false) // a replay has no snapshot: nothing comes twice
	wantNothingMore(t, d, again)
}

// TestBrowserNews opens the news page in real Chromium and reads the list a
// person would see, then checks that the page let go of its EventSource.
func TestBrowserNews(t *testing.T) {
	d := start(t)
	b := browsertest.New(t)

	wantPage := func(tab *browsertest.Tab) {
		t.Helper()
		tab.WaitFor(`document.getElementById("status").textContent === "`+endText+`"`, 0)
		items := browsertest.Eval[[]string](tab,
			`[...document.querySelectorAll("#items li")].map(li => li.dataset.id + " " + li.textContent)`)
		var want []string
		for i, h := range headlines {
			want = append(want, fmt.Sprintf("news-%d %s", i+1, h))
		}
		if strings.Join(items, "\n") != strings.Join(want, "\n") {
			t.Fatalf("#items:\n%s\nwant:\n%s", strings.Join(items, "\n"), strings.Join(want, "\n"))
		}
		if rs := browsertest.Eval[int](tab, `es.readyState`); rs != 2 {
			t.Fatalf("EventSource readyState %d after the end, want 2 (CLOSED)", rs)
		}
	}

	reader := b.NewTab(t, "reader")
	reader.Navigate(d.base + "/")
	reader.WaitFor(`document.getElementById("status").textContent === "live"`, 0)
	start := time.Now()
	d.Tick(t, len(headlines))
	wantPage(reader)
	t.Logf("the page showed five headlines and the end in %v", time.Since(start).Round(time.Millisecond))

	// A page opened after the end shows the same from the snapshot.
	late := b.NewTab(t, "late")
	late.Navigate(d.base + "/")
	wantPage(late)

	// Both pages closed their streams, and neither opened another: two in all.
	ssetest.WaitSubscribers(t, d.hub, "news", 0)
	if st := d.hub.Stats(); st.Connects != 2 {
		t.Errorf("the hub saw %d streams, want 2 (one per page)", st.Connects)
	}
	if got := reader.Text("#status"); got != endText {
		t.Errorf("#status changed to %q", got)
	}

	// The page's link loads the same URL as a page: JSON, not a stream.
	late.Navigate(d.base + "/news")
	if n := browsertest.Eval[int](late, `JSON.parse(document.body.innerText).length`); n != len(headlines)+1 {
		t.Errorf("the JSON page lists %d events, want %d", n, len(headlines)+1)
	}
}
