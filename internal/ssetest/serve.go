package ssetest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// Serve serves h (a net/http or gin app on hub) on 127.0.0.1 and stops it in
// t.Cleanup the documented way: the hub first (its streams never go idle),
// then the server, within 10 seconds. It returns the server's URL.
func Serve(t testing.TB, hub *core.Hub, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { // ends when both have stopped; the wait below is bounded
			hub.Close()
			srv.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the hub and the server did not stop within 10s")
		}
	})
	return srv.URL
}

// Publish publishes e on hub and fails the test now if that fails. It
// returns the event's id.
func Publish(t testing.TB, hub *core.Hub, e core.Event, topics ...string) string {
	t.Helper()
	id, err := hub.Publish(e, topics...)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return id
}
