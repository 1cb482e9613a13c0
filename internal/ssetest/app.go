package ssetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/core"
)

// Start runs an app the way its main does, on a listener on 127.0.0.1:
// serve must serve on ln until ctx ends, then shut the app and its hub down
// and return. Start returns the app's URL. When the test ends, it cancels ctx
// and fails the test if serve returns an error or takes more than 15 seconds:
// so the test also checks the app's shutdown.
func Start(t testing.TB, serve func(ctx context.Context, ln net.Listener) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not return within 15s of its context ending")
		}
	})
	return "http://" + ln.Addr().String()
}

// OpenStream is Open, failing the test unless the answer is 200 with
// Content-Type text/event-stream.
func OpenStream(t testing.TB, url string, header ...string) *Client {
	t.Helper()
	c := Open(t, url, header...)
	if c.Resp.StatusCode != http.StatusOK || c.Resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s as a stream: %d %q", url, c.Resp.StatusCode, c.Resp.Header.Get("Content-Type"))
	}
	return c
}

// GetJSON does a plain GET (Accept: application/json unless given) and
// decodes the answer into v, failing the test unless it is 200 with a JSON
// Content-Type and a body that fits v. It returns the body.
func GetJSON(t testing.TB, url string, v any, header ...string) string {
	t.Helper()
	resp, body := Get(t, url, append([]string{"Accept", "application/json"}, header...)...)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: %d %q, want 200 with JSON\n%s", url, resp.StatusCode, ct, body)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
	return body
}

// WaitSubscribers waits up to 5 seconds until hub has n streams on topic.
// After it returns, a stream on the topic misses nothing published.
func WaitSubscribers(t testing.TB, hub *core.Hub, topic string, n int) {
	t.Helper()
	WaitFor(t, 5*time.Second, fmt.Sprintf("%d streams on %s", n, topic), func() bool { return hub.Subscribers(topic) == n })
}

// IgnoreFasthttp is what goleak must ignore in a package that runs a fiber
// app: fasthttp's package-level date ticker and its idle workers outlive
// App.Shutdown by design.
//
//	goleak.VerifyTestMain(m, ssetest.IgnoreFasthttp()...)
func IgnoreFasthttp() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}
