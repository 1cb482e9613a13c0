package transport_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
	"github.com/ssehub/ssehub/internal/transport"
)

func TestConnStream_HeadThenChunks(t *testing.T) {
	server, client := ssetest.TCPPair(t)
	defer server.Close()
	defer client.Close()
	head := transport.Head(func(yield func(k, v string)) { yield("Content-Type", "text/event-stream") }, true)
	s := transport.NewConnStream(server, head)
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
