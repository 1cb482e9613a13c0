package core

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"
)

// ownedStream is what a taken-over connection gives Serve: a stream that
// names its socket and owns it.
type ownedStream struct {
	*bufio.Writer
	conn net.Conn
}

func (s ownedStream) SetWriteDeadline(t time.Time) error { return s.conn.SetWriteDeadline(t) }
func (s ownedStream) NetConn() net.Conn                  { return s.conn }
func (s ownedStream) OwnsConn() bool                     { return true }

// TestLiveness_FindsGonePeers: the hub's socket check ends a stream whose
// peer closed or reset its side, with no write needed, and leaves one whose
// peer only sent stray bytes. The test runs the check itself, so it waits for
// no clock.
func TestLiveness_FindsGonePeers(t *testing.T) {
	for _, how := range []string{"close", "reset"} {
		t.Run(how, func(t *testing.T) {
			reasons := make(chan DisconnectReason, 1)
			h := NewHub(WithHeartbeat(time.Hour), WithOnDisconnect(func(_ *Subscriber, r DisconnectReason) { reasons <- r }))
			defer h.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			sub, err := h.Subscribe(Subscription{Topics: []string{"t"}})
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- sub.Serve(context.Background(), ownedStream{bufio.NewWriter(server), server}) }()
			waitUntil(t, "Serve names the socket", func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return sub.conn != nil
			})

			client.Write([]byte("stray bytes do not count as leaving"))
			h.checkLiveness()
			if sub.gone.Load() || h.Subscribers("t") != 1 {
				t.Fatal("a peer that sent bytes was taken for gone")
			}
			if how == "reset" {
				client.(*net.TCPConn).SetLinger(0)
			}
			client.Close()
			waitUntil(t, "the check finds the peer gone", func() bool {
				h.checkLiveness() // the close may take a moment to reach the socket
				return sub.gone.Load()
			})
			select {
			case err := <-served:
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the gone peer was not noticed")
			}
			if r := <-reasons; r != DisconnectClientGone {
				t.Fatalf("reason %q, want %q", r, DisconnectClientGone)
			}
		})
	}
}

// waitUntil polls cond for up to 5 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}
