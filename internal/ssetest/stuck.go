package ssetest

import (
	"bufio"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// OpenStuck opens a stream over raw TCP, reads the response headers and then
// never reads again, with a small receive buffer: a client whose window fills.
func OpenStuck(t testing.TB, rawURL string) net.Conn {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.(*net.TCPConn).SetReadBuffer(4096)
	_, err = conn.Write([]byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReaderSize(conn, 16)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading headers: %v", err)
		}
		if line == "\r\n" {
			return conn
		}
	}
}

// testStuckClient: a client that stops reading is cut off within the write
// timeout, and the others see no added latency meanwhile.
func testStuckClient(t *testing.T, newTarget NewTarget) {
	const writeTimeout = time.Second
	tg := newTarget(t, core.WithWriteTimeout(writeTimeout))
	OpenStuck(t, tg.URL+"/only")
	c := Open(t, tg.URL+"/only")
	WaitFor(t, 5*time.Second, "two subscribers", func() bool { return tg.Hub.Subscribers("news") == 2 })

	pad := strings.Repeat("x", 1024)
	var worst, slowestPublish time.Duration
	start := time.Now()
	for i := 0; tg.Hub.Stats().Disconnects[core.DisconnectWriteTimeout] == 0; i++ {
		if time.Since(start) > writeTimeout+5*time.Second {
			t.Fatalf("the stuck client was not cut off (stats %+v)", tg.Hub.Stats())
		}
		before := time.Now()
		Publish(t, tg.Hub, core.Event{Data: strconv.FormatInt(before.UnixNano(), 10) + " " + pad}, "news")
		slowestPublish = max(slowestPublish, time.Since(before))
		e := c.Next()
		sent, _ := strconv.ParseInt(strings.Fields(e.Data)[0], 10, 64)
		worst = max(worst, time.Since(time.Unix(0, sent)))
	}
	cut := time.Since(start)
	t.Logf("stuck client cut off after %v of publishing; reader's worst latency %v; slowest publish %v", cut, worst, slowestPublish)
	if worst > writeTimeout/2 {
		t.Fatalf("the reader waited %v: the stuck client held it up", worst)
	}
	WaitFor(t, 5*time.Second, "the stuck stream removed", func() bool { return tg.Hub.Subscribers("news") == 1 })
}
