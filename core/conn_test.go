package core_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

func TestConnStream_HeadThenChunks(t *testing.T) {
	server, client := tcpPair(t)
	defer server.Close()
	defer client.Close()
	head := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	s := core.NewConnStream(server, []byte(head))
	assert.NoError(t, s.Flush())       // the head goes out at once, with no chunk
	big := strings.Repeat("x", 40<<10) // larger than the buffer: several chunks
	_, err := s.Write([]byte("a"))
	assert.NoError(t, err)
	_, err = s.Write([]byte(big))
	assert.NoError(t, err)
	assert.NoError(t, s.Flush())
	assert.NoError(t, s.Flush()) // nothing buffered: a no-op
	assert.NoError(t, s.Close())

	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	assert.NoError(t, err)
	body, err := io.ReadAll(resp.Body) // fails unless every chunk and the terminator are right
	assert.NoError(t, err)
	assert.Equal(t, "body", string(body), "a"+big)
	assert.True(t, "names its conn", s.NetConn() == server)
}

// TestHub_LivenessCheckFindsGonePeers: a stream on a ConnStream is ended by
// the hub's socket check when its peer closes, with no write needed.
func TestHub_LivenessCheckFindsGonePeers(t *testing.T) {
	for _, how := range []string{"close", "reset"} {
		t.Run(how, func(t *testing.T) {
			reasons := make(chan core.DisconnectReason, 1)
			h := newHub(t, core.WithHeartbeat(time.Hour), core.WithOnDisconnect(func(_ *core.Subscriber, r core.DisconnectReason) { reasons <- r }))
			server, client := tcpPair(t)
			defer server.Close()
			served := make(chan error, 1)
			go func() {
				served <- h.Serve(context.Background(), core.NewConnStream(server, nil), core.Subscription{Topics: []string{"t"}})
			}()
			waitFor(t, "subscribed", func() bool { return h.Subscribers("t") == 1 })
			client.Write([]byte("stray bytes do not count as leaving"))
			time.Sleep(1500 * time.Millisecond) // one liveness round: still there
			assert.Equal(t, "alive", h.Subscribers("t"), 1)
			if how == "reset" {
				client.(*net.TCPConn).SetLinger(0)
			}
			client.Close()
			start := time.Now()
			select {
			case err := <-served:
				assert.NoError(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("the gone peer was not noticed")
			}
			t.Logf("%s noticed after %v", how, time.Since(start))
			assert.Equal(t, "reason", <-reasons, core.DisconnectClientGone)
		})
	}
}
