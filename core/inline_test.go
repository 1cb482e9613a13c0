package core_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

const chunkedHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

// takenOver serves sub on a ConnStream over real loopback TCP, as adapters
// do after a takeover, and returns the client's socket and a decoder of the
// chunked body. Serve's result arrives on served.
func takenOver(t *testing.T, h *core.Hub, sub core.Subscription, tune func(server, client *net.TCPConn)) (conn net.Conn, dec *core.Decoder, served chan error) {
	t.Helper()
	server, client := tcpPair(t)
	if tune != nil {
		tune(server.(*net.TCPConn), client.(*net.TCPConn))
	}
	st := h.Stats()
	served = make(chan error, 1)
	go func() {
		stream := core.NewConnStream(server, []byte(chunkedHead))
		err := h.Serve(context.Background(), stream, sub)
		stream.Close()
		served <- err
	}()
	t.Cleanup(func() { client.Close() }) // the hub's Close, later, ends the stream
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "subscription", func() bool { return h.Stats().Connects > st.Connects })
	return client, core.NewDecoder(resp.Body), served
}

func nextData(t *testing.T, conn net.Conn, dec *core.Decoder) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	e, err := dec.Next()
	if err != nil {
		t.Fatalf("reading event: %v", err)
	}
	return e.Data
}

// Events for parked streams on plain sockets are written by the hub's inline
// writers, in order, as valid chunks.
func TestInline_ParkedStreamsAreServedInline(t *testing.T) {
	h := newHub(t)
	const streams, events = 5, 50
	type client struct {
		conn net.Conn
		dec  *core.Decoder
	}
	var clients []client
	for range streams {
		conn, dec, _ := takenOver(t, h, core.Subscription{Topics: []string{"t"}}, nil)
		clients = append(clients, client{conn, dec})
	}
	for i := range events {
		assert.NoError(t, h.Publish(core.Event{Data: strconv.Itoa(i)}, "t"))
		for j, c := range clients {
			assert.Equal(t, fmt.Sprintf("client %d event %d", j, i), nextData(t, c.conn, c.dec), strconv.Itoa(i))
		}
	}
	// The counters follow the writes: the clients may be a moment ahead.
	waitFor(t, "every frame counted", func() bool { return h.Stats().FramesWritten == streams*events })
	st := h.Stats()
	t.Logf("inline writes %d of %d deliveries", st.InlineWrites, streams*events)
	assert.True(t, "most deliveries written inline", st.InlineWrites >= streams*events/2)
}

// When the socket takes only part of an inline write, the stream's goroutine
// writes the rest: nothing is lost, the chunked framing stays whole.
func TestInline_PartialWriteIsFinishedByTheStream(t *testing.T) {
	h := newHub(t, core.WithWriteTimeout(time.Minute))
	conn, dec, _ := takenOver(t, h, core.Subscription{Topics: []string{"t"}}, func(server, client *net.TCPConn) {
		server.SetWriteBuffer(4096)
		client.SetReadBuffer(4096) // a small window: the socket takes part of a write
	})
	const events = 20
	pad := strings.Repeat("x", 3000)
	for i := range events { // the client is not reading: the socket fills mid-write
		assert.NoError(t, h.Publish(core.Event{Data: strconv.Itoa(i) + " " + pad}, "t"))
		time.Sleep(2 * time.Millisecond) // the stream parks between events
	}
	for i := range events {
		assert.Equal(t, fmt.Sprintf("event %d", i), nextData(t, conn, dec), strconv.Itoa(i)+" "+pad)
	}
	assert.True(t, "some writes were inline", h.Stats().InlineWrites > 0)
}

// A parked stream has no write deadline (its writes are inline and never
// block), so one set before it parked cannot pass and force every event back
// to the stream's goroutine.
func TestInline_NoDeadlinePassesWhileParked(t *testing.T) {
	const timeout = 100 * time.Millisecond
	h := newHub(t, core.WithWriteTimeout(timeout))
	conn, dec, served := takenOver(t, h, core.Subscription{Topics: []string{"t"}}, nil)
	for i := range 6 {
		assert.NoError(t, h.Publish(core.Event{Data: strconv.Itoa(i)}, "t"))
		assert.Equal(t, fmt.Sprintf("event %d", i), nextData(t, conn, dec), strconv.Itoa(i))
		if i%2 == 1 {
			time.Sleep(3 * timeout)
		}
	}
	select {
	case err := <-served:
		t.Fatalf("the stream ended: %v", err)
	default:
	}
	st := h.Stats()
	assert.Equal(t, "write timeouts", st.Disconnects[core.DisconnectWriteTimeout], uint64(0))
	// The first event may meet the stream before it has parked; the rest
	// come long after the deadline it had.
	assert.True(t, fmt.Sprintf("inline writes %d of 6", st.InlineWrites), st.InlineWrites >= 5)
}

// With two CPUs, one of the two inline writers rests while a publisher
// outruns the streams (and is paced), leaving its CPU to the rest of the
// process, while the other goes on delivering. Events spaced apart never
// make it rest.
func TestInline_HelperRestsOnlyWhenOutrun(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	h := newHub(t, core.WithHistory(1<<16, time.Minute))
	const streams = 200
	var readers sync.WaitGroup
	for i := range streams {
		conn, _, _ := takenOver(t, h, core.Subscription{Topics: []string{"t"}}, nil)
		readers.Add(1)
		go func() { // reads until the last event: cheap, so the sockets never fill
			defer readers.Done()
			const end = "data: end\n"
			buf := make([]byte, 64<<10)
			kept := 0
			for {
				conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				n, err := conn.Read(buf[kept:])
				if err != nil {
					t.Errorf("stream %d: %v before the last event", i, err)
					return
				}
				if bytes.Contains(buf[:kept+n], []byte(end)) {
					return
				}
				kept = copy(buf, buf[max(0, kept+n-len(end)):kept+n]) // a line may straddle reads
			}
		}()
	}

	for range 20 {
		assert.NoError(t, h.Publish(core.Event{Data: payload}, "t"))
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, "rests after events 50 ms apart", core.WriterRests(h), uint64(0))

	deadline := time.Now().Add(10 * time.Second)
	published := 0
	for core.WriterRests(h) == 0 && time.Now().Before(deadline) {
		assert.NoError(t, h.Publish(core.Event{Data: payload}, "t"))
		published++
	}
	assert.NoError(t, h.Publish(core.Event{Data: "end"}, "t"))
	readers.Wait()
	t.Logf("the helper rested after %d events published back to back; Publish paced %d times", published, h.Stats().Paced)
	assert.True(t, "the helper rested while the publisher outran the streams", core.WriterRests(h) > 0)
}
