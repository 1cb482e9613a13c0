package ssetest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/transport"
)

// RawStream sends a hand-written GET (so headers can hold what Go's client
// refuses to send) and returns the parsed response.
func RawStream(t testing.TB, base, path string, extraHeaders ...string) (*http.Response, net.Conn) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n"
	for _, h := range extraHeaders {
		req += h + "\r\n"
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %q: %v", path, err)
	}
	return resp, conn
}

// testBadLastEventID: whatever the client sends as Last-Event-ID, it gets a
// live stream (or its server's 400), and nothing it sent reaches the wire.
func testBadLastEventID(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t, core.WithHeartbeat(50*time.Millisecond)) // fasthttp notices closed ones at a write
	witness := Open(t, tg.URL+"/only")
	WaitFor(t, 5*time.Second, "witness", func() bool { return tg.Hub.Subscribers("news") == 1 })
	long := strings.Repeat("9", 3000)
	headers := []string{
		"Last-Event-ID: garbage",
		"Last-Event-ID: " + long,
		"Last-Event-ID: 00000000-1",          // another epoch
		"Last-Event-ID: abc-99999999999999",  // from the future, maybe
		"Last-Event-ID: a\x00b",              // NUL
		"Last-Event-ID: a\rdata: injected",   // bare CR
		"Last-Event-ID: \xff\xfe",            // not UTF-8
		"Last-Event-ID: x\r\n Last-Event-ID", // folded
	}
	queries := []string{
		"?lastEventId=%0D%0Adata:%20injected",
		"?lastEventId=%00",
		"?lastEventId=" + long,
		"?lastEventId=a&lastEventId=b",
	}
	type tryit struct{ path, header string }
	var tries []tryit
	for _, h := range headers {
		tries = append(tries, tryit{"/only", h})
	}
	for _, q := range queries {
		tries = append(tries, tryit{"/only" + q, ""})
	}
	n := 0
	for _, tr := range tries {
		var extra []string
		if tr.header != "" {
			extra = []string{tr.header}
		}
		resp, conn := RawStream(t, tg.URL, tr.path, extra...)
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusRequestHeaderFieldsTooLarge:
			continue // the server's parser refused it: fine
		case http.StatusOK:
		default:
			t.Fatalf("%q %q: status %d", tr.path, tr.header, resp.StatusCode)
		}
		n++
		WaitFor(t, 5*time.Second, "subscribed", func() bool { return tg.Hub.Subscribers("news") == 2 })
		Publish(t, tg.Hub, core.Event{Data: "live"}, "news")
		dec := core.NewDecoder(resp.Body)
		e, err := dec.Next()
		if err != nil || e.Data != "live" || strings.Contains(e.Data+e.Type, "injected") {
			t.Fatalf("%q %q: got %#v, %v", tr.path, tr.header, e, err)
		}
		check(t, "witness", witness.Next().Data, "live")
		conn.Close()
		WaitFor(t, 5*time.Second, "closed", func() bool { return tg.Hub.Subscribers("news") == 1 })
	}
	t.Logf("%d of %d hostile ids served live, the rest refused by the server's parser", n, len(tries))
	if n < len(queries) {
		t.Fatalf("only %d served", n)
	}
}

// testBadTopics: topic names come from the path; bad ones are refused cleanly.
func testBadTopics(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	defer func() {
		for name := range tg.Hub.Stats().Topics {
			must(t, core.ValidateTopic(name))
		}
	}()
	for _, tt := range []struct {
		path string
		want []int
	}{
		{"/rooms/" + strings.Repeat("r", 300), []int{400}},
		{"/rooms/" + strings.Repeat("r", 20000), []int{400, 414, 431}},
		// gin decodes parameters, and refuses the control bytes; fiber leaves
		// them escaped, which makes a harmless name.
		{"/rooms/a%01b", []int{400, 200}},
		{"/rooms/a%7Fb", []int{400, 200}},
		{"/rooms/%0D%0Aevent:%20x", []int{400, 200}},
	} {
		resp, conn := RawStream(t, tg.URL, tt.path)
		conn.Close()
		ok := false
		for _, w := range tt.want {
			ok = ok || resp.StatusCode == w
		}
		if !ok {
			t.Fatalf("%.60s: status %d, want one of %v", tt.path, resp.StatusCode, tt.want)
		}
	}
	c := Open(t, tg.URL+"/rooms/lobby")
	WaitFor(t, 5*time.Second, "room", func() bool { return tg.Hub.Subscribers("room:lobby") == 1 })
	Publish(t, tg.Hub, core.Event{Data: "hi"}, "room:lobby")
	check(t, "room", c.Next().Data, "hi")
	check(t, "rejected", tg.Hub.Stats().Rejected >= 1, true)
}

// testHugeEvent: a 1 MiB event of many lines arrives whole, and the stream
// goes on after it.
func testHugeEvent(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	c := Open(t, tg.URL+"/only")
	WaitFor(t, 5*time.Second, "subscriber", func() bool { return tg.Hub.Subscribers("news") == 1 })
	big := strings.Repeat(strings.Repeat("x", 1023)+"\n", 1024)
	Publish(t, tg.Hub, core.Event{Data: big}, "news")
	Publish(t, tg.Hub, core.Event{Data: "after"}, "news")
	if e := c.Next(); e.Data != big {
		t.Fatalf("big event damaged: %d bytes", len(e.Data))
	}
	check(t, "after", c.Next().Data, "after")
}

// testResetMidWrite: a client that resets its connection while the server
// has a backlog to write is removed promptly, and nobody else notices.
func testResetMidWrite(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	witness := Open(t, tg.URL+"/only")
	resp, conn := RawStream(t, tg.URL, "/only")
	_ = resp
	WaitFor(t, 5*time.Second, "subscribers", func() bool { return tg.Hub.Subscribers("news") == 2 })
	pad := strings.Repeat("y", 8192)
	for range 300 { // 2.4 MB: more than the socket buffers hold
		Publish(t, tg.Hub, core.Event{Data: pad}, "news")
	}
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close() // RST
	took := WaitFor(t, 5*time.Second, "the reset stream removed", func() bool { return tg.Hub.Subscribers("news") == 1 })
	t.Logf("reset stream removed after %v", took)
	for range 300 {
		if witness.Next().Data != pad {
			t.Fatal("witness damaged")
		}
	}
}

// testPanickingHooks: a hook that panics ends its own stream only.
func testPanickingHooks(t *testing.T, newTarget NewTarget) {
	boom := func(s *core.Subscriber, which string) {
		if s.Topics()[0] == "room:"+which {
			panic(which)
		}
	}
	tg := newTarget(t, core.WithHeartbeat(50*time.Millisecond),
		core.WithOnConnect(func(s *core.Subscriber) { boom(s, "connect") }),
		core.WithSnapshot(func(s *core.Subscriber) ([]core.Event, error) { boom(s, "snapshot"); return nil, nil }),
		core.WithOnDisconnect(func(s *core.Subscriber, _ core.DisconnectReason) { boom(s, "disconnect") }),
	)
	witness := Open(t, tg.URL+"/only")
	for _, which := range []string{"connect", "snapshot"} {
		c := Open(t, tg.URL+"/rooms/"+which)
		if _, ended := c.Ended(5 * time.Second); !ended {
			t.Fatalf("%s panic did not end its stream", which)
		}
	}
	c := Open(t, tg.URL+"/rooms/disconnect")
	WaitFor(t, 5*time.Second, "room", func() bool { return tg.Hub.Subscribers("room:disconnect") == 1 })
	c.Close()
	WaitFor(t, 5*time.Second, "gone", func() bool { return tg.Hub.Subscribers("room:disconnect") == 0 })
	Publish(t, tg.Hub, core.Event{Data: "still fine"}, "news")
	check(t, "witness", witness.Next().Data, "still fine")
	check(t, "panics counted", tg.Hub.Stats().HookPanics >= 2, true)
}

func testPerClientCap(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t, core.WithMaxSubscribersPerClient(2))
	Open(t, tg.URL+"/only")
	Open(t, tg.URL+"/only")
	resp, _ := Get(t, tg.URL+"/only", "Accept", "text/event-stream")
	check(t, "third from one address", resp.StatusCode, http.StatusServiceUnavailable)
	checkRetryAfter(t, resp)
}

// testShutdownUnderLoad: shutting down while publishers run flat out ends
// every stream in bounded time, without a panic or a leftover goroutine.
func testShutdownUnderLoad(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	var clients []*Client
	for range 20 {
		clients = append(clients, Open(t, tg.URL+"/only"))
	}
	WaitFor(t, 5*time.Second, "subscribers", func() bool { return tg.Hub.Subscribers("news") == 20 })
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1_000_000; i++ {
				if _, err := tg.Hub.Publish(core.Event{Data: "load"}, "news"); err != nil {
					return // ErrClosed: the hub is down
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	must(t, tg.Shutdown(t.Context()))
	t.Logf("shutdown under load took %v", time.Since(start))
	wg.Wait()
	for _, c := range clients {
		if _, ended := c.Ended(5 * time.Second); !ended {
			t.Fatal("a stream outlived shutdown")
		}
	}
}

// testHTTP10: an HTTP/1.0 client cannot read chunked bodies; it still gets
// its events (taken-over streams are HTTP/1.1 only).
func testHTTP10(t *testing.T, newTarget NewTarget) {
	tg := newTarget(t)
	u, _ := url.Parse(tg.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("GET /only HTTP/1.0\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n\r\n"))
	br := bufio.NewReader(conn)
	var head []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading headers: %v (%q)", err, head)
		}
		if line == "\r\n" {
			break
		}
		head = append(head, strings.TrimSpace(line))
	}
	for _, h := range head {
		// Only fasthttp's own answer (streams kept in the framework) is
		// chunked; a taken-over one is close-delimited, as HTTP/1.0 needs.
		if strings.EqualFold(h, "Transfer-Encoding: chunked") && transport.Takeover(tg.Hub) {
			t.Fatalf("chunked answer to HTTP/1.0: %q", head)
		}
	}
	WaitFor(t, 5*time.Second, "subscriber", func() bool { return tg.Hub.Subscribers("news") == 1 })
	Publish(t, tg.Hub, core.Event{Data: "old client"}, "news")
	var body io.Reader = br
	if slices.ContainsFunc(head, func(h string) bool { return strings.EqualFold(h, "Transfer-Encoding: chunked") }) {
		body = httputil.NewChunkedReader(br)
	}
	e, err := core.NewDecoder(body).Next()
	if err != nil || e.Data != "old client" {
		t.Fatalf("got %#v, %v (headers %q)", e, err, head)
	}
}
