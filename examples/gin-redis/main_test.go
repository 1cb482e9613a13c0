package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/internal/redistest"
	"github.com/ssehub/ssehub/internal/ssetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

// start runs an instance on 127.0.0.1 as main does, and shuts it down the
// same way when the test ends.
func start(t *testing.T, redisAddr, name string) string {
	t.Helper()
	hub, r := newApp(redisAddr, name)
	return ssetest.Start(t, func(ctx context.Context, ln net.Listener) error { return serve(ctx, ln, r, hub) })
}

func post(t *testing.T, base, text string) int {
	resp, err := http.PostForm(base+"/messages", url.Values{"text": {text}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTwoInstances: a message posted on one instance reaches pages on both,
// with one id; a page that moves to the other instance resumes exactly.
func TestTwoInstances(t *testing.T) {
	redis := redistest.Start(t)
	a, b := start(t, redis.Addr(), "a"), start(t, redis.Addr(), "b")
	ca, cb := ssetest.Open(t, a+"/messages"), ssetest.Open(t, b+"/messages")
	if code := post(t, a, "hello from a"); code != http.StatusNoContent {
		t.Fatalf("post: %d", code)
	}
	if code := post(t, b, "hello from b"); code != http.StatusNoContent {
		t.Fatalf("post: %d", code)
	}
	ea, eb := ca.Next(), cb.Next()
	if ea != eb || ea.Data != "a: hello from a" {
		t.Fatalf("a got %+v, b got %+v", ea, eb)
	}
	if ea, eb := ca.Next(), cb.Next(); ea != eb || ea.Data != "b: hello from b" {
		t.Fatalf("a got %+v, b got %+v", ea, eb)
	}

	last := ca.LastEventID()
	ca.Close()
	post(t, b, "while you moved")
	moved := ssetest.Open(t, b+"/messages", "Last-Event-ID", last)
	if e := moved.Next(); e.Data != "b: while you moved" {
		t.Fatalf("resumed with %+v", e)
	}

	resp, body := ssetest.Get(t, a+"/stats")
	if resp.StatusCode != 200 || !strings.Contains(body, `"Connected":true`) {
		t.Fatalf("stats: %s", body)
	}
}

// TestRedisDown: posting while Redis is down says so instead of losing the
// message quietly.
func TestRedisDown(t *testing.T) {
	redis := redistest.Start(t)
	a := start(t, redis.Addr(), "a")
	redis.Kill()
	if code := post(t, a, "lost?"); code != http.StatusServiceUnavailable {
		t.Fatalf("post with Redis down: %d, want 503", code)
	}
}
