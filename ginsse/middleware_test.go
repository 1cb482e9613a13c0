package ginsse_test

import (
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-contrib/cors"
	ginzip "github.com/gin-contrib/gzip"
	"github.com/gin-gonic/gin"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/ginsse"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// serveWith serves /events on hub behind the given middleware.
func serveWith(t *testing.T, hub *core.Hub, mw ...gin.HandlerFunc) string {
	r := gin.New()
	r.Use(mw...)
	r.GET("/events", ginsse.Handler(hub, ginsse.Config{Topics: ginsse.Topics("t")}))
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return srv.URL
}

// TestGzip_StreamIsNotBuffered: behind gin-contrib/gzip every event is
// flushed through the compressor and arrives at once, decodable.
func TestGzip_StreamIsNotBuffered(t *testing.T) {
	hub := core.NewHub()
	url := serveWith(t, hub, ginzip.Gzip(ginzip.DefaultCompression))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport leaves the body compressed
	resp, err := http.DefaultClient.Do(req)
	assert.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "encoding", resp.Header.Get("Content-Encoding"), "gzip")
	assert.Equal(t, "type", resp.Header.Get("Content-Type"), "text/event-stream")

	ssetest.WaitFor(t, 5*time.Second, "subscriber", func() bool { return hub.Subscribers("t") == 1 })
	got := make(chan core.Event, 1)
	go func() {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return
		}
		e, err := core.NewDecoder(zr).Next()
		if err == nil {
			got <- e
		}
	}()
	ssetest.Publish(t, hub, core.Event{Data: "compressed, not held back"}, "t")
	select {
	case e := <-got:
		assert.Equal(t, "event", e.Data, "compressed, not held back")
	case <-time.After(5 * time.Second):
		t.Fatal("the event is stuck in the compressor")
	}
}

func TestGzip_PlainWithoutAcceptEncoding(t *testing.T) {
	hub := core.NewHub()
	url := serveWith(t, hub, ginzip.Gzip(ginzip.DefaultCompression))
	c := ssetest.Open(t, url+"/events", "Accept-Encoding", "identity")
	assert.Equal(t, "encoding", c.Resp.Header.Get("Content-Encoding"), "")
	ssetest.WaitFor(t, 5*time.Second, "subscriber", func() bool { return hub.Subscribers("t") == 1 })
	ssetest.Publish(t, hub, core.Event{Data: "plain"}, "t")
	assert.Equal(t, "event", c.Next().Data, "plain")
}

// TestCORS_WithCredentials: EventSource with withCredentials from another origin.
func TestCORS_WithCredentials(t *testing.T) {
	hub := core.NewHub()
	url := serveWith(t, hub, cors.New(cors.Config{
		AllowOrigins:     []string{"http://app.example"},
		AllowCredentials: true,
		AllowHeaders:     []string{"Last-Event-ID"},
	}))
	c := ssetest.Open(t, url+"/events", "Origin", "http://app.example")
	assert.Equal(t, "allow origin", c.Resp.Header.Get("Access-Control-Allow-Origin"), "http://app.example")
	assert.Equal(t, "allow credentials", c.Resp.Header.Get("Access-Control-Allow-Credentials"), "true")
	ssetest.WaitFor(t, 5*time.Second, "subscriber", func() bool { return hub.Subscribers("t") == 1 })
	ssetest.Publish(t, hub, core.Event{Data: "cross-origin"}, "t")
	assert.Equal(t, "event", c.Next().Data, "cross-origin")

	resp, _ := ssetest.Get(t, url+"/events", "Accept", "text/event-stream", "Origin", "http://evil.example")
	assert.Equal(t, "other origins refused", resp.StatusCode, http.StatusForbidden)
}

// TestLoggerAndRecovery: gin's logger sees the stream once it ends.
func TestLoggerAndRecovery(t *testing.T) {
	hub := core.NewHub()
	var log ssetest.LockedBuffer
	url := serveWith(t, hub, gin.LoggerWithWriter(&log), gin.Recovery())
	c := ssetest.Open(t, url+"/events")
	ssetest.WaitFor(t, 5*time.Second, "subscriber", func() bool { return hub.Subscribers("t") == 1 })
	ssetest.Publish(t, hub, core.Event{Data: "x"}, "t")
	c.Next()
	c.Close()
	ssetest.WaitFor(t, 5*time.Second, "the log line", func() bool { return strings.Contains(log.String(), "/events") })
	assert.True(t, "logged 200", strings.Contains(log.String(), "200"))
}
