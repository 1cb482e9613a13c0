package core_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/ssetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// connStream is the transport an adapter would give Serve: a buffered writer
// on a real TCP connection.
type connStream struct {
	*bufio.Writer
	conn net.Conn
}

func (s connStream) SetWriteDeadline(t time.Time) error { return s.conn.SetWriteDeadline(t) }

// tcpPair returns both ends of a real loopback TCP connection.
var tcpPair = ssetest.TCPPair

// A client is one stream served by a hub over loopback TCP, read with the
// package's Decoder.
type client struct {
	t        testing.TB
	conn     net.Conn
	dec      *core.Decoder
	cancel   context.CancelFunc
	served   chan error
	mu       sync.Mutex
	comments []string
}

func connect(t testing.TB, h *core.Hub, sub core.Subscription) *client {
	t.Helper()
	server, conn := tcpPair(t)
	return serveOver(t, h, sub, server, conn)
}

// serveOver is connect over a given connection.
func serveOver(t testing.TB, h *core.Hub, sub core.Subscription, server, conn net.Conn) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{t: t, conn: conn, cancel: cancel, served: make(chan error, 1)}
	c.dec = core.NewDecoder(conn)
	c.dec.OnComment = func(s string) {
		c.mu.Lock()
		c.comments = append(c.comments, s)
		c.mu.Unlock()
	}
	st := h.Stats()
	before := st.Connects + st.Rejected
	go func() {
		err := h.Serve(ctx, connStream{bufio.NewWriterSize(server, 4096), server}, sub)
		server.Close()
		c.served <- err
	}()
	t.Cleanup(c.close)
	waitFor(t, "subscription", func() bool {
		st := h.Stats()
		return st.Connects+st.Rejected > before || len(c.served) > 0 // refused: Serve returned
	})
	return c
}

// next returns the next event, failing the test after 5 seconds.
func (c *client) next() core.Event {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	e, err := c.dec.Next()
	if err != nil {
		c.t.Fatalf("reading event: %v", err)
	}
	return e
}

// nextN returns the data of the next n events.
func (c *client) nextN(n int) []string {
	c.t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = c.next().Data
	}
	return out
}

// close hangs up like a browser tab closing, and waits for Serve to return.
func (c *client) close() {
	c.cancel()
	c.conn.Close()
	c.wait()
}

// wait returns Serve's result once it has returned.
func (c *client) wait() error {
	c.t.Helper()
	select {
	case err := <-c.served:
		c.served <- err // keep it for later calls
		return err
	case <-time.After(10 * time.Second):
		c.t.Fatal("Serve did not return")
		return nil
	}
}

func (c *client) commentCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.comments)
}

func seqOf(t testing.TB, id string) string {
	t.Helper()
	_, seq, ok := strings.Cut(id, "-")
	if !ok {
		t.Fatalf("id %q is not a hub id", id)
	}
	return seq
}

// waitFor polls cond until it holds or 5 seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newHub(t testing.TB, opts ...core.Option) *core.Hub {
	h := core.NewHub(opts...)
	t.Cleanup(func() { h.Close() })
	return h
}

// closed reports whether h has begun to shut down: publishing to a topic no
// test reads fails.
func closed(h *core.Hub) bool {
	_, err := h.Publish(core.Event{}, "closed?")
	return errors.Is(err, core.ErrClosed)
}

// publish publishes an event and fails the test now if that fails; it
// returns the event's id.
var publish = ssetest.Publish

// errOf is the error of a Publish, whose id a test does not need.
func errOf(_ string, err error) error { return err }
