package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	goleak.VerifyTestMain(m)
}

// start runs the example on 127.0.0.1 as main does, alone (redisAddr "") or
// on a Redis, and shuts it down the same way when the test ends.
func start(t *testing.T, redisAddr string) (*core.Hub, string) {
	t.Helper()
	hub, r := newApp(redisAddr)
	return hub, ssetest.Start(t, func(ctx context.Context, ln net.Listener) error { return serve(ctx, ln, r, hub) })
}

func visitorsJSON(t *testing.T, base string) int {
	t.Helper()
	var v struct {
		Visitors *int `json:"visitors"`
	}
	if body := ssetest.GetJSON(t, base+"/visitors", &v); v.Visitors == nil {
		t.Fatalf("GET /visitors: %s, want {\"visitors\":N}", body)
	}
	return *v.Visitors
}

// A viewer is a stream of /visitors read by a Go client, with the count it
// would show.
type viewer struct {
	c     *ssetest.Client
	shown string
}

func view(t *testing.T, base string) *viewer {
	t.Helper()
	return &viewer{c: ssetest.OpenStream(t, base+"/visitors")}
}

// next returns the next count the viewer is sent: every event on the stream
// must be a count.
func (v *viewer) next(t *testing.T, within time.Duration) (string, bool) {
	t.Helper()
	e, ok := v.c.NextWithin(within)
	if !ok {
		return "", false
	}
	if e.Type != "count" || e.ID != "" {
		t.Fatalf("event %+v, want a count without an id", e)
	}
	v.shown = e.Data
	return e.Data, true
}

// sees fails the test unless the next count the viewer is sent, other than
// the one it shows already, is want. The one it shows may come again: the
// snapshot and the change a connect causes both carry it.
func (v *viewer) sees(t *testing.T, want int) {
	t.Helper()
	shown := v.shown
	for {
		got, ok := v.next(t, 5*time.Second)
		if !ok {
			t.Fatalf("no count within 5s after %q, want %d (stream: %q)", shown, want, v.c.Raw())
		}
		if got == shown {
			continue
		}
		if got != strconv.Itoa(want) {
			t.Fatalf("count %s after %q, want %d", got, shown, want)
		}
		return
	}
}

// reaches waits up to within until the viewer is sent the count want, and
// returns how long that took. Counts in between are fine: with several
// instances, a change may arrive in steps.
func (v *viewer) reaches(t *testing.T, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for v.shown != strconv.Itoa(want) {
		left := within - time.Since(start)
		if _, ok := v.next(t, max(left, 0)); !ok {
			t.Fatalf("the count is %q after %v, want %d", v.shown, within, want)
		}
	}
	return time.Since(start)
}

func TestVisitors(t *testing.T) {
	hub, base := start(t, "")

	t.Run("page", func(t *testing.T) {
		// What a browser sends on navigation: HTML, not a stream.
		resp, body := ssetest.Get(t, base+"/", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(body, `new EventSource("/visitors")`) || !strings.Contains(body, `id="count"`) {
			t.Fatalf("GET /: not the dashboard:\n%s", body)
		}
	})

	t.Run("navigation Accept gets JSON", func(t *testing.T) {
		resp, body := ssetest.Get(t, base+"/visitors", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || body != `{"visitors":0}` {
			t.Fatalf("GET /visitors as a page: %q %q", ct, body)
		}
	})

	if n := visitorsJSON(t, base); n != 0 {
		t.Fatalf("visitors before any stream: %d, want 0", n)
	}

	a := view(t, base)
	if got, _ := a.next(t, 5*time.Second); got != "1" { // the snapshot
		t.Fatalf("first stream starts with count %q, want 1", got)
	}
	if !strings.HasPrefix(a.c.Raw(), "retry: 2000\n\n") {
		t.Errorf("stream does not start with retry 2000: %q", a.c.Raw())
	}
	if n := visitorsJSON(t, base); n != 1 {
		t.Fatalf("JSON with one stream: %d", n)
	}

	b := view(t, base)
	if got, _ := b.next(t, 5*time.Second); got != "2" {
		t.Fatalf("second stream starts with count %q, want 2", got)
	}
	a.sees(t, 2)
	if n := visitorsJSON(t, base); n != 2 {
		t.Fatalf("JSON with two streams: %d", n)
	}

	b.c.Close()
	a.sees(t, 1)
	if n := visitorsJSON(t, base); n != 1 {
		t.Fatalf("JSON after the second stream closed: %d", n)
	}

	// A page that reconnects with a Last-Event-ID gets the count now: counts
	// carry no id, so nothing old is replayed.
	again := &viewer{c: ssetest.OpenStream(t, base+"/visitors", "Last-Event-ID", "12345678-1")}
	if got, _ := again.next(t, 5*time.Second); got != "2" {
		t.Fatalf("a reconnecting stream starts with count %q, want 2", got)
	}
	again.c.Close()

	a.c.Close()
	ssetest.WaitSubscribers(t, hub, "visitors", 0)
	if n := visitorsJSON(t, base); n != 0 {
		t.Fatalf("JSON after every stream closed: %d", n)
	}
}

// showsCount waits until the tab's #count reads want.
func showsCount(t *testing.T, tab *browsertest.Tab, name string, want int) time.Duration {
	t.Helper()
	took, err := tab.Poll(`document.getElementById("count").textContent === "`+strconv.Itoa(want)+`"`, 0)
	if err != nil {
		t.Fatalf("the %s tab shows %q visitors, want %d: %v", name, tab.Text("#count"), want, err)
	}
	return took
}

// TestBrowserVisitors opens the dashboard in real Chromium tabs and reads
// the number a person would see.
func TestBrowserVisitors(t *testing.T) {
	_, base := start(t, "")
	b := browsertest.New(t)

	first := b.NewTab(t, "first")
	first.Navigate(base + "/")
	showsCount(t, first, "first", 1)
	first.WaitFor(`document.getElementById("status").textContent === "live"`, 0)

	second := b.NewTab(t, "second")
	second.Navigate(base + "/")
	showsCount(t, second, "second", 2)
	showsCount(t, first, "first", 2)

	second.Close()
	took := showsCount(t, first, "first", 1)
	t.Logf("the first tab showed 1 again %v after the second closed", took.Round(time.Millisecond))
	if got := first.Text("#status"); got != "live" {
		t.Errorf("#status = %q, want live", got)
	}
}

// TestBrowserTwoInstances runs two instances on one Redis, opens and closes
// pages on both, and checks that every page, whichever instance serves it,
// shows the visitors of both, as does each instance's JSON.
func TestBrowserTwoInstances(t *testing.T) {
	redis := redistest.Start(t)
	instances := map[string]string{}
	_, instances["A"] = start(t, redis.Addr())
	_, instances["B"] = start(t, redis.Addr())
	b := browsertest.New(t)

	type page struct {
		name string
		tab  *browsertest.Tab
	}
	var pages []page
	openPage := func(name string) {
		tab := b.NewTab(t, name)
		tab.Navigate(instances[name[:1]] + "/")
		pages = append(pages, page{name, tab})
	}
	closePage := func(name string) {
		for i, p := range pages {
			if p.name == name {
				p.tab.Close()
				pages = append(pages[:i], pages[i+1:]...)
				return
			}
		}
		t.Fatalf("no page %s", name)
	}

	steps := []struct {
		what string
		do   func(string)
		page string
	}{
		{"open", openPage, "A1"},
		{"open", openPage, "B1"},
		{"open", openPage, "B2"},
		{"open", openPage, "A2"},
		{"close", closePage, "A1"},
		{"close", closePage, "B1"},
		{"close", closePage, "B2"},
	}
	var took []string
	for _, step := range steps {
		start := time.Now()
		step.do(step.page)
		want := len(pages)
		// Every page shows want: the wait ends when the last one does.
		for _, p := range pages {
			showsCount(t, p.tab, p.name, want)
		}
		d := time.Since(start)
		for name, base := range instances {
			ssetest.WaitFor(t, 5*time.Second, fmt.Sprintf("instance %s's JSON to say %d", name, want), func() bool { return visitorsJSON(t, base) == want })
		}
		t.Logf("%s %s on instance %s: all %d pages show %d after %v", step.what, step.page, step.page[:1], len(pages), want, d.Round(time.Millisecond))
		took = append(took, fmt.Sprintf("%s %s %v", step.what, step.page, d.Round(time.Millisecond)))
	}
	t.Logf("count agreed on every page after: %s", strings.Join(took, ", "))
	if got := pages[0].tab.Text("#status"); got != "live" {
		t.Errorf("page %s: #status = %q, want live", pages[0].name, got)
	}
}

// TestKilledInstance runs a second instance as a process of its own, on the
// same Redis, kills it by its PID without a shutdown, and checks that the
// first instance's count drops within the bound WithPresence documents for
// the Redis broker (10 s), with nobody cleaning up.
func TestKilledInstance(t *testing.T) {
	if ssetest.IsChild(t) {
		ssetest.RunChild(run) // the instance to kill: main's own code, configured by the environment
	}
	redis := redistest.Start(t)
	_, a := start(t, redis.Addr())
	child, line := ssetest.StartChild(t, "live visitors: open ", "ADDR=127.0.0.1:0", "REDIS_ADDR="+redis.Addr())
	b := strings.TrimSuffix(strings.Fields(line)[0], "/")

	va := view(t, a)
	va.reaches(t, 1, 5*time.Second)
	start := time.Now()
	vb1, vb2 := view(t, b), view(t, b)
	va.reaches(t, 3, 5*time.Second)
	took := time.Since(start)
	vb1.reaches(t, 3, 5*time.Second)
	vb2.reaches(t, 3, 5*time.Second)
	t.Logf("two streams opened on the child: the first instance's stream shows 3 after %v", took.Round(time.Millisecond))
	if na, nb := visitorsJSON(t, a), visitorsJSON(t, b); na != 3 || nb != 3 {
		t.Fatalf("JSON: %d on the first instance, %d on the child, want 3 on both", na, nb)
	}

	start = time.Now()
	child.Kill() // SIGKILL by PID: no shutdown, its counts stay in Redis until they expire
	va.reaches(t, 1, 15*time.Second)
	took = time.Since(start)
	if n := visitorsJSON(t, a); n != 1 {
		t.Errorf("JSON on the first instance after the kill: %d, want 1", n)
	}
	t.Logf("instance killed (SIGKILL, pid %d): the other's stream shows 1 after %v (bound: 10s)", child.PID(), took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the count dropped after %v, more than the documented 10s", took)
	}
}
