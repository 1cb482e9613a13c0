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
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/internal/ssetest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	goleak.VerifyTestMain(m)
}

// start runs the example on 127.0.0.1 as main does, and shuts it down the
// same way when the test ends.
func start(t *testing.T) (*core.Hub, string) {
	t.Helper()
	hub, r := newApp()
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
	hub, base := start(t)

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
	hub, base := start(t)
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
