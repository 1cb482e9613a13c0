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

	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/internal/ssetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's own: a package-level date ticker and idle workers that
		// outlive Shutdown by design.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// serve runs the example on a real listener on 127.0.0.1 and stops it in
// t.Cleanup the way main does: the hub first, then fiber (whose OnShutdown
// hooks would run too late).
func serve(t *testing.T) (*newsroom, string) {
	t.Helper()
	app, n := newApp()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		start := time.Now()
		n.hub.Close()
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("app.Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("app.Listener: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("app.Listener did not return within 5s of Shutdown")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("shutdown took %v", d)
		}
	})
	return n, "http://" + ln.Addr().String()
}

// runNews starts the newsroom with a headline every interval, as main does,
// and stops it (and waits for it) in t.Cleanup.
func runNews(t *testing.T, n *newsroom, every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.run(ctx, every)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

const endText = "that's all for today"

// wantAll checks that the next events of c are the five headlines in order,
// then the end.
func wantAll(t *testing.T, c *ssetest.Client) {
	t.Helper()
	for i, h := range headlines {
		e := c.Next()
		if want := fmt.Sprintf("news-%d", i+1); e.Type != "headline" || e.ID != want || e.Data != h {
			t.Fatalf("event %d: %+v, want headline %s %q\nstream: %q", i+1, e, want, h, c.Raw())
		}
	}
	if e := c.Next(); e.Type != "end" || e.ID != "news-end" || e.Data != endText {
		t.Fatalf("last event: %+v, want the end\nstream: %q", e, c.Raw())
	}
	if e, ok := c.NextWithin(100 * time.Millisecond); ok {
		t.Fatalf("an event after the end: %+v", e)
	}
}

func TestNews(t *testing.T) {
	n, base := serve(t)

	resp, body := ssetest.Get(t, base+"/", "Accept", "text/html,*/*;q=0.8")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `new EventSource("/news")`) {
		t.Fatalf("GET /: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	// A reader there from the start gets every headline live.
	live := ssetest.Open(t, base+"/news")
	if live.Resp.StatusCode != http.StatusOK || live.Resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /news: %d %q", live.Resp.StatusCode, live.Resp.Header.Get("Content-Type"))
	}
	ssetest.WaitFor(t, 5*time.Second, "the stream on the hub", func() bool { return n.hub.Subscribers("news") == 1 })
	start := time.Now()
	runNews(t, n, 50*time.Millisecond)
	wantAll(t, live)
	t.Logf("five headlines and the end in %v", time.Since(start).Round(time.Millisecond))
	if raw := live.Raw(); !strings.HasPrefix(raw, "retry: 3000\n\n") {
		t.Errorf("the stream does not start with retry: 3000: %q", raw)
	}
	if !n.done.Load() {
		t.Fatal("the end arrived before the newsroom says it is done")
	}

	// A page opened later, with no Last-Event-ID, learns everything from the
	// snapshot, the end included.
	late := ssetest.Open(t, base+"/news")
	if late.Resp.StatusCode != http.StatusOK {
		t.Fatalf("late GET /news: %d", late.Resp.StatusCode)
	}
	wantAll(t, late)
	if raw := late.Raw(); !strings.HasPrefix(raw, "retry: 3000\n\n") {
		t.Errorf("the late stream does not start with retry: 3000: %q", raw)
	}

	// An EventSource reconnecting after the end gets 204: stop for good.
	for _, id := range []string{"news-end", live.LastEventID(), "news-3"} {
		resp, body := ssetest.Get(t, base+"/news", "Accept", "text/event-stream", "Last-Event-ID", id)
		if resp.StatusCode != http.StatusNoContent || body != "" {
			t.Errorf("reconnect with Last-Event-ID %q after the end: %d %q, want 204", id, resp.StatusCode, body)
		}
	}
}

// TestNewsReplay: a reader that loses its stream in the middle resumes with
// Last-Event-ID and gets exactly what it missed, no snapshot repeated.
func TestNewsReplay(t *testing.T) {
	n, base := serve(t)
	first := ssetest.Open(t, base+"/news")
	ssetest.WaitFor(t, 5*time.Second, "the stream on the hub", func() bool { return n.hub.Subscribers("news") == 1 })
	runNews(t, n, 200*time.Millisecond)
	for i := range 2 {
		if e := first.Next(); e.ID != fmt.Sprintf("news-%d", i+1) {
			t.Fatalf("event %d: %+v", i+1, e)
		}
	}
	first.Close()
	again := ssetest.Open(t, base+"/news", "Last-Event-ID", first.LastEventID())
	if again.Resp.StatusCode != http.StatusOK {
		t.Skipf("the newsroom ended before the reconnect (status %d): machine too slow for this test", again.Resp.StatusCode)
	}
	for i := 2; i < len(headlines); i++ {
		if e := again.Next(); e.ID != fmt.Sprintf("news-%d", i+1) || e.Data != headlines[i] {
			t.Fatalf("after reconnecting: %+v, want news-%d\nstream: %q", e, i+1, again.Raw())
		}
	}
	if e := again.Next(); e.Type != "end" {
		t.Fatalf("after reconnecting: %+v, want the end", e)
	}
}

// TestBrowserNews opens the news page in real Chromium and reads the list a
// person would see, then checks that the page let go of its EventSource.
func TestBrowserNews(t *testing.T) {
	n, base := serve(t)
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
	reader.Navigate(base + "/")
	reader.WaitFor(`document.getElementById("status").textContent === "live"`, 0)
	start := time.Now()
	runNews(t, n, 50*time.Millisecond)
	wantPage(reader)
	t.Logf("the page showed five headlines and the end in %v", time.Since(start).Round(time.Millisecond))

	// A page opened after the end shows the same from the snapshot.
	late := b.NewTab(t, "late")
	late.Navigate(base + "/")
	wantPage(late)

	// Neither page reconnects: a short while later, still two connects in all.
	time.Sleep(300 * time.Millisecond)
	if st := n.hub.Stats(); st.Connects != 2 {
		t.Errorf("the hub saw %d streams, want 2 (one per page)", st.Connects)
	}
	if got := reader.Text("#status"); got != endText {
		t.Errorf("#status changed to %q", got)
	}
}
