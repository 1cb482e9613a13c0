package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
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
	var rdb *redis.Client
	if redisAddr != "" {
		rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
		t.Cleanup(func() { rdb.Close() }) // after the hub, which the cleanup below shuts down
	}
	hub, r := newApp(rdb)
	return hub, ssetest.Start(t, func(ctx context.Context, ln net.Listener) error { return serve(ctx, ln, r, hub) })
}

// A person is a signed-in HTTP client with its own cookie jar.
type person struct {
	name   string
	base   string
	client *http.Client
}

func signIn(t *testing.T, base, name string) *person {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	p := &person{name: name, base: base, client: &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}}
	resp, body := p.do(t, http.MethodGet, "/login?user="+url.QueryEscape(name), nil)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" || !strings.Contains(body, `id="notes"`) {
		t.Fatalf("%s signing in: %d at %s\n%s", name, resp.StatusCode, resp.Request.URL, body)
	}
	if p.session() == "" {
		t.Fatalf("%s signing in: no session cookie", name)
	}
	if _, body := p.do(t, http.MethodGet, "/me", nil); body != `{"user":"`+name+`"}` {
		t.Fatalf("%s: GET /me = %s", name, body)
	}
	return p
}

func (p *person) session() string {
	u, _ := url.Parse(p.base)
	for _, c := range p.client.Jar.Cookies(u) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

func (p *person) do(t *testing.T, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, p.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", p.name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}

// notifications opens the person's stream, with the session cookie as a
// browser would send it.
func (p *person) notifications(t *testing.T) *ssetest.Client {
	t.Helper()
	return ssetest.OpenStream(t, p.base+"/notifications", "Cookie", "session="+p.session())
}

func (p *person) notify(t *testing.T, to, text string) {
	t.Helper()
	resp, body := p.do(t, http.MethodPost, "/notify", url.Values{"to": {to}, "text": {text}})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("%s: POST /notify to %s: %d %q", p.name, to, resp.StatusCode, body)
	}
}

func wantNote(t *testing.T, who string, c *ssetest.Client, data string) {
	t.Helper()
	if e := c.Next(); e.Type != "note" || e.Data != data {
		t.Fatalf("%s got %+v, want note %q", who, e, data)
	}
}

func TestPrivate(t *testing.T) {
	hub, base := start(t, "")

	t.Run("no session", func(t *testing.T) {
		for _, cookie := range []string{"", "session=forged"} {
			resp, body := ssetest.Get(t, base+"/notifications", "Accept", "text/event-stream", "Cookie", cookie)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") == "text/event-stream" {
				t.Errorf("GET /notifications with cookie %q: %d %q %q, want 401", cookie, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/notify", strings.NewReader("to=bob&text=spam"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST /notify without a session: %d, want 401", resp.StatusCode)
		}
		if resp, _ := ssetest.Get(t, base+"/login?user="); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /login?user=: %d, want 400", resp.StatusCode)
		}
	})

	alice, bob := signIn(t, base, "alice"), signIn(t, base, "bob")
	aliceNotes, bobNotes := alice.notifications(t), bob.notifications(t)
	ssetest.WaitSubscribers(t, hub, "user:alice", 1)
	ssetest.WaitSubscribers(t, hub, "user:bob", 1)

	alice.notify(t, "bob", "lunch at noon?")
	wantNote(t, "bob", bobNotes, "alice: lunch at noon?")
	bob.notify(t, "alice", "yes")
	// Had alice received her own note to bob, it would come first.
	wantNote(t, "alice", aliceNotes, "bob: yes")
	if e, ok := bobNotes.NextWithin(100 * time.Millisecond); ok {
		t.Fatalf("bob got %+v, meant for alice", e)
	}

	// The topic comes from the session only: asking for bob's in the query
	// changes nothing.
	nosy := ssetest.Open(t, base+"/notifications?topic=user:bob&topics=user:bob", "Cookie", "session="+alice.session())
	alice.notify(t, "bob", "psst")
	wantNote(t, "bob", bobNotes, "alice: psst")
	if e, ok := nosy.NextWithin(100 * time.Millisecond); ok {
		t.Fatalf("alice's second stream got %+v, meant for bob", e)
	}
}

// TestBrowserPrivate signs alice and bob in from two browser contexts (two
// cookie jars, like two people) and sends a note with the page's form.
func TestBrowserPrivate(t *testing.T) {
	hub, base := start(t, "")
	b := browsertest.New(t)

	open := func(name string) *browsertest.Tab {
		tab := b.NewIsolatedTab(t, name)
		tab.Navigate(base + "/login?user=" + name)
		tab.WaitFor(`document.getElementById("user").textContent === "`+name+`"`, 0)
		// The page's EventSource is not reachable from outside: wait until the
		// hub has the stream, after which nothing published is missed.
		ssetest.WaitSubscribers(t, hub, "user:"+name, 1)
		return tab
	}
	send := func(from *browsertest.Tab, to, text string) {
		from.Do(
			chromedp.SendKeys(chromedp.CSS(`#send input[name="to"]`), to),
			chromedp.SendKeys(chromedp.CSS(`#send input[name="text"]`), text),
			chromedp.Click(chromedp.CSS(`#send button`)),
		)
	}
	notes := func(tab *browsertest.Tab) []string {
		return browsertest.Eval[[]string](tab, `[...document.querySelectorAll("#notes li")].map(li => li.textContent)`)
	}

	alice, bob := open("alice"), open("bob")

	start := time.Now()
	send(alice, "bob", "hello bob")
	bob.WaitFor(`document.querySelectorAll("#notes li").length > 0`, 0)
	t.Logf("bob's page showed the note %v after alice clicked send", time.Since(start).Round(time.Millisecond))
	// Then a note the other way: had alice's page got hers, it would show
	// before this one.
	send(bob, "alice", "hi alice")
	alice.WaitFor(`document.querySelectorAll("#notes li").length > 0`, 0)

	if got := notes(bob); len(got) != 1 || got[0] != "alice: hello bob" {
		t.Errorf("bob's #notes: %q, want [alice: hello bob]", got)
	}
	if got := notes(alice); len(got) != 1 || got[0] != "bob: hi alice" {
		t.Errorf("alice's #notes: %q, want [bob: hi alice]", got)
	}
	if v := browsertest.Eval[string](alice, `document.querySelector('#send input[name="text"]').value`); v != "" {
		t.Errorf("alice's text field still holds %q after sending", v)
	}
}

// streamAt opens the person's stream on another instance, with the session
// cookie they got from theirs.
func (p *person) streamAt(t *testing.T, base string) *ssetest.Client {
	t.Helper()
	return ssetest.OpenStream(t, base+"/notifications", "Cookie", "session="+p.session())
}

// refused checks that the person's session is refused everywhere a session
// counts, as the browser's reconnect would be.
func refused(t *testing.T, base, name, session string) {
	t.Helper()
	resp, body := ssetest.Get(t, base+"/notifications", "Accept", "text/event-stream", "Cookie", "session="+session)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") == "text/event-stream" {
		t.Errorf("%s's stream after signing out: %d %q %q, want 401", name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := ssetest.Get(t, base+"/me", "Cookie", "session="+session); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s's GET /me after signing out: %d, want 401", name, resp.StatusCode)
	}
}

// ends waits up to 2 seconds for the stream to end, and returns how long
// that took.
func ends(t *testing.T, who string, c *ssetest.Client) time.Duration {
	t.Helper()
	start := time.Now()
	if _, ok := c.Ended(2 * time.Second); !ok {
		t.Fatalf("%s's stream still open 2s after signing out", who)
	}
	return time.Since(start)
}

// TestLogout: signing out revokes every session of the user and ends their
// streams, which can then not come back; other users' streams go on.
func TestLogout(t *testing.T) {
	hub, base := start(t, "")
	alice, aliceElsewhere, bob := signIn(t, base, "alice"), signIn(t, base, "alice"), signIn(t, base, "bob")
	a1, a2, bobNotes := alice.notifications(t), aliceElsewhere.notifications(t), bob.notifications(t)
	ssetest.WaitSubscribers(t, hub, "user:alice", 2)
	ssetest.WaitSubscribers(t, hub, "user:bob", 1)

	if resp, body := alice.do(t, http.MethodPost, "/logout", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /logout: %d %q", resp.StatusCode, body)
	}
	ends(t, "alice", a1)
	ends(t, "alice's other session", a2)
	refused(t, base, "alice", alice.session())
	refused(t, base, "alice's other session", aliceElsewhere.session())
	if resp, _ := alice.do(t, http.MethodPost, "/logout", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /logout signed out: %d, want 401", resp.StatusCode)
	}
	ssetest.WaitSubscribers(t, hub, "user:alice", 0)
	if n := hub.Stats().Disconnects[core.DisconnectEnded]; n != 2 {
		t.Errorf("streams ended: %d, want alice's 2", n)
	}

	bob.notify(t, "bob", "still here")
	wantNote(t, "bob", bobNotes, "bob: still here")
}

// TestLogoutAcrossInstances: with two instances on one Redis, a user signed
// in on one has a session on both, and signing out on one ends their stream
// on the other.
func TestLogoutAcrossInstances(t *testing.T) {
	redis := redistest.Start(t)
	hubA, a := start(t, redis.Addr())
	hubB, b := start(t, redis.Addr())
	alice, bob := signIn(t, a, "alice"), signIn(t, a, "bob")
	aliceOnB, bobOnB := alice.streamAt(t, b), bob.streamAt(t, b)
	ssetest.WaitSubscribers(t, hubB, "user:alice", 1)
	ssetest.WaitSubscribers(t, hubB, "user:bob", 1)

	bob.notify(t, "alice", "from a to b") // posted on A, through Redis to B
	wantNote(t, "alice on B", aliceOnB, "bob: from a to b")

	start := time.Now()
	if resp, body := alice.do(t, http.MethodPost, "/logout", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /logout on A: %d %q", resp.StatusCode, body)
	}
	ends(t, "alice on B", aliceOnB)
	t.Logf("sign-out on A to alice's stream on B ended: %v", time.Since(start).Round(time.Millisecond))
	refused(t, b, "alice on B", alice.session())
	if n := hubB.Stats().Disconnects[core.DisconnectEnded]; n != 1 {
		t.Errorf("streams ended on B: %d, want alice's 1", n)
	}
	if n := hubA.Stats().Disconnects[core.DisconnectEnded]; n != 0 {
		t.Errorf("streams ended on A: %d, want none", n)
	}

	bob.notify(t, "bob", "still here")
	wantNote(t, "bob on B", bobOnB, "bob: still here")
}

// A signedIn page is a tab showing a user's notifications, with its stream
// live; the test has added a listener that notes when the stream ended and
// when the EventSource closed (Date.now(), ms).
type signedIn struct {
	name string
	tab  *browsertest.Tab
}

// openPage loads url in tab, signed in as user, and waits for its stream.
func openPage(t *testing.T, tab *browsertest.Tab, name, url, user string) *signedIn {
	t.Helper()
	tab.Navigate(url)
	tab.WaitFor(`document.getElementById("user").textContent === "`+user+`" && document.getElementById("status").textContent === "live"`, 0)
	browsertest.Eval[bool](tab, `window.__t = {ended: 0, closed: 0},
		es.addEventListener("error", () => {
			const now = Date.now();
			if (!__t.ended) __t.ended = now;
			if (es.readyState === EventSource.CLOSED && !__t.closed) __t.closed = now;
		}), true`)
	return &signedIn{name: name, tab: tab}
}

func (p *signedIn) notes() []string {
	return browsertest.Eval[[]string](p.tab, `[...document.querySelectorAll("#notes li")].map(li => li.textContent)`)
}

// logout clicks the page's sign-out button, and returns when, by the page's clock.
func (p *signedIn) logout() float64 {
	return browsertest.Eval[float64](p.tab, `(() => { const t = Date.now(); document.getElementById("logout").click(); return t; })()`)
}

// closed waits until the page's EventSource is CLOSED (readyState 2), and
// returns how long after clickedAt the stream ended and the EventSource closed.
func (p *signedIn) closed(t *testing.T, clickedAt float64) (ended, closed time.Duration) {
	t.Helper()
	p.tab.WaitFor(`es.readyState === 2 && __t.closed > 0`, 10*time.Second)
	if got := p.tab.Text("#status"); got != "signed out" {
		t.Errorf("%s: #status = %q, want signed out", p.name, got)
	}
	ms := func(v float64) time.Duration { return time.Duration((v - clickedAt) * float64(time.Millisecond)) }
	return ms(browsertest.Eval[float64](p.tab, `__t.ended`)), ms(browsertest.Eval[float64](p.tab, `__t.closed`))
}

// staysOut checks that a note sent after the sign-out does not reach the
// page, which stays CLOSED, and that no instance serves the user a stream.
func (p *signedIn) staysOut(t *testing.T, bob *person, user string, hubs ...*core.Hub) {
	t.Helper()
	before := p.notes()
	bob.notify(t, user, "after sign-out")
	time.Sleep(500 * time.Millisecond) // a note that was to arrive would have
	if got := p.notes(); len(got) != len(before) {
		t.Errorf("%s got %q after signing out", p.name, got[len(before):])
	}
	if !browsertest.Eval[bool](p.tab, `es.readyState === 2`) {
		t.Errorf("%s: the EventSource is open again", p.name)
	}
	for i, hub := range hubs {
		if n := hub.Subscribers("user:" + user); n != 0 {
			t.Errorf("instance %d serves %s %d streams after the sign-out", i, user, n)
		}
	}
}

// TestBrowserLogout signs a user out from the page's button, alone and with
// two instances on one Redis, where the page may be on the other instance:
// the page's stream ends, its reconnect is refused so its EventSource is
// CLOSED, and a note sent afterwards does not reach it.
func TestBrowserLogout(t *testing.T) {
	br := browsertest.New(t)

	t.Run("alone", func(t *testing.T) {
		hub, base := start(t, "")
		bob := signIn(t, base, "bob")
		alice := openPage(t, br.NewIsolatedTab(t, "alice"), "alice", base+"/login?user=alice", "alice")
		bob.notify(t, "alice", "hello")
		alice.tab.WaitFor(`document.querySelectorAll("#notes li").length === 1`, 0)

		ended, closed := alice.closed(t, alice.logout())
		t.Logf("sign-out on the same instance: stream ended %v, EventSource CLOSED %v after the click (retry: 2s)", ended.Round(time.Millisecond), closed.Round(time.Millisecond))
		alice.staysOut(t, bob, "alice", hub)
	})

	t.Run("two instances", func(t *testing.T) {
		redis := redistest.Start(t)
		hubA, a := start(t, redis.Addr())
		hubB, b := start(t, redis.Addr())
		bob := signIn(t, a, "bob")
		bobOnB := bob.streamAt(t, b)

		// alice: page on A, signs out there.
		alice := openPage(t, br.NewIsolatedTab(t, "alice on A"), "alice on A", a+"/login?user=alice", "alice")
		bob.notify(t, "alice", "hello")
		alice.tab.WaitFor(`document.querySelectorAll("#notes li").length === 1`, 0)
		ended, closed := alice.closed(t, alice.logout())
		t.Logf("sign-out on the same instance: stream ended %v, EventSource CLOSED %v after the click", ended.Round(time.Millisecond), closed.Round(time.Millisecond))
		alice.staysOut(t, bob, "alice", hubA, hubB)

		// carol: page on B, signs out in another tab, served by A (cookies
		// are per host, not per port: both tabs have her session).
		carolB := openPage(t, br.NewTab(t, "carol on B"), "carol on B", b+"/login?user=carol", "carol")
		carolA := openPage(t, br.NewTab(t, "carol on A"), "carol on A", a+"/", "carol")
		bob.notify(t, "carol", "hello") // posted on A, reaches both pages through Redis
		for _, p := range []*signedIn{carolB, carolA} {
			p.tab.WaitFor(`document.querySelectorAll("#notes li").length === 1`, 0)
		}
		clicked := carolA.logout()
		endedB, closedB := carolB.closed(t, clicked)
		endedA, closedA := carolA.closed(t, clicked)
		t.Logf("sign-out on A, page on B: stream ended %v, EventSource CLOSED %v after the click (the page on A: %v, %v)",
			endedB.Round(time.Millisecond), closedB.Round(time.Millisecond), endedA.Round(time.Millisecond), closedA.Round(time.Millisecond))
		carolB.staysOut(t, bob, "carol", hubA, hubB)

		bob.notify(t, "bob", "still here")
		wantNote(t, "bob on B", bobOnB, "bob: still here")
	})
}
