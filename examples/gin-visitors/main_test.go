package main

import (
	"context"
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

// nextCount returns the data of the stream's next event, which must be "count".
func nextCount(t *testing.T, c *ssetest.Client) string {
	t.Helper()
	e := c.Next()
	if e.Type != "count" {
		t.Fatalf("event %+v, want type count", e)
	}
	return e.Data
}

func TestVisitors(t *testing.T) {
	hub, base := start(t)

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

	a := ssetest.OpenStream(t, base+"/visitors")
	if got := nextCount(t, a); got != "1" {
		t.Fatalf("first stream sees count %s, want 1", got)
	}
	if !strings.HasPrefix(a.Raw(), "retry: 2000\n\n") {
		t.Errorf("stream does not start with retry 2000: %q", a.Raw())
	}
	if n := visitorsJSON(t, base); n != 1 {
		t.Fatalf("JSON with one stream: %d", n)
	}

	b := ssetest.OpenStream(t, base+"/visitors")
	if got := nextCount(t, b); got != "2" {
		t.Fatalf("second stream sees count %s, want 2", got)
	}
	if got := nextCount(t, a); got != "2" {
		t.Fatalf("first stream sees count %s when the second opens, want 2", got)
	}
	if n := visitorsJSON(t, base); n != 2 {
		t.Fatalf("JSON with two streams: %d", n)
	}

	b.Close()
	if got := nextCount(t, a); got != "1" {
		t.Fatalf("first stream sees count %s when the second closes, want 1", got)
	}
	if n := visitorsJSON(t, base); n != 1 {
		t.Fatalf("JSON after the second stream closed: %d", n)
	}

	a.Close()
	ssetest.WaitSubscribers(t, hub, "visitors", 0)
	if n := visitorsJSON(t, base); n != 0 {
		t.Fatalf("JSON after every stream closed: %d", n)
	}
}

// TestBrowserVisitors opens the dashboard in real Chromium tabs and reads
// the number a person would see.
func TestBrowserVisitors(t *testing.T) {
	hub, base := start(t)
	b := browsertest.New(t)

	// showsCount waits until the tab's #count reads want.
	showsCount := func(tab *browsertest.Tab, name string, want int) time.Duration {
		t.Helper()
		took, err := tab.Poll(`document.getElementById("count").textContent === "`+strconv.Itoa(want)+`"`, 0)
		if err != nil {
			t.Fatalf("the %s tab shows %q visitors, want %d (the hub counts %d): %v",
				name, tab.Text("#count"), want, hub.Subscribers("visitors"), err)
		}
		return took
	}

	first := b.NewTab(t, "first")
	first.Navigate(base + "/")
	showsCount(first, "first", 1)
	first.WaitFor(`document.getElementById("status").textContent === "live"`, 0)

	second := b.NewTab(t, "second")
	second.Navigate(base + "/")
	showsCount(second, "second", 2)
	showsCount(first, "first", 2)

	second.Close()
	took := showsCount(first, "first", 1)
	t.Logf("the first tab showed 1 again %v after the second closed", took.Round(time.Millisecond))
	if got := first.Text("#status"); got != "live" {
		t.Errorf("#status = %q, want live", got)
	}
}
