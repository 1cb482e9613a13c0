package ginsse_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
)

// streamsOverOneConnection opens n streams with client and checks they all
// run at once over HTTP/2 on a single TCP connection.
func streamsOverOneConnection(t *testing.T, hub *core.Hub, srv *httptest.Server, client *http.Client, conns *atomic.Int32) {
	const n = 40 // far past HTTP/1.1's six connections per origin
	var wg sync.WaitGroup
	bodies := make([]*ssetest.H2Stream, n)
	bodies[0] = ssetest.OpenWith(t, client, srv.URL+"/only") // the connection, as a page's first request makes it
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = ssetest.OpenWith(t, client, srv.URL+"/only")
		}()
	}
	wg.Wait()
	ssetest.WaitFor(t, 5*time.Second, "all streams", func() bool { return hub.Subscribers("news") == n })
	ssetest.Publish(t, hub, core.Event{Data: "to everyone"}, "news")
	for _, b := range bodies {
		assert.Equal(t, "protocol", b.Resp.ProtoMajor, 2)
		assert.Equal(t, "no Connection header on HTTP/2", b.Resp.Header.Get("Connection"), "")
		assert.Equal(t, "event", b.Next().Data, "to everyone")
	}
	assert.Equal(t, "TCP connections", conns.Load(), int32(1))
	for _, b := range bodies {
		b.Close()
	}
	ssetest.WaitFor(t, 5*time.Second, "streams to end", func() bool { return hub.Stats().Subscribers == 0 })
}

func countConns(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func TestHTTP2_TLS(t *testing.T) {
	hub := core.NewHub()
	srv := httptest.NewUnstartedServer(newApp(hub))
	srv.EnableHTTP2 = true
	conns := countConns(srv)
	srv.StartTLS()
	defer srv.Close()
	defer hub.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	streamsOverOneConnection(t, hub, srv, client, conns)
}

func TestHTTP2_Cleartext(t *testing.T) {
	hub := core.NewHub()
	srv := httptest.NewUnstartedServer(newApp(hub))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true) // h2c
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	defer hub.Close()
	tr := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: &tls.Config{}}
	tr.Protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	streamsOverOneConnection(t, hub, srv, client, conns)
}
