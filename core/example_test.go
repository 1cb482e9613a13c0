package core_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/httpsse"
)

func ExampleAppendEvent() {
	buf := make([]byte, 0, 128) // reuse it: encoding into it allocates nothing
	buf, err := core.AppendEvent(buf, core.Event{ID: "42", Type: "price", Data: "line one\nline two"})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(buf))
	// Output:
	// id: 42
	// event: price
	// data: line one
	// data: line two
	//
}

func ExampleEvent_Validate() {
	err := core.Event{ID: "1\ndata: injected"}.Validate()
	fmt.Println(errors.Is(err, core.ErrInvalidID))
	fmt.Println(err)
	// Output:
	// true
	// ssehub: invalid event id: "1\ndata: injected" contains byte 0x0a; ids must be printable ASCII
}

func ExampleJSONEvent() {
	e, err := core.JSONEvent("user", struct {
		Name string `json:"name"`
	}{"Ada"})
	if err != nil {
		panic(err)
	}
	e.WriteTo(os.Stdout)
	// Output:
	// event: user
	// data: {"name":"Ada"}
	//
}

func ExampleDecoder() {
	stream := "retry: 3000\n\n: heartbeat\nid: 7\nevent: tick\ndata: 1\r\n\r\ndata: 2\n\n"
	dec := core.NewDecoder(strings.NewReader(stream))
	for {
		e, err := dec.Next()
		if err != nil {
			break // io.EOF
		}
		fmt.Printf("id=%s type=%q data=%q\n", e.ID, e.Type, e.Data)
	}
	fmt.Println("reconnect after", dec.Retry())
	// Output:
	// id=7 type="tick" data="1"
	// id=7 type="" data="2"
	// reconnect after 3s
}

func ExampleAcceptsEventStream() {
	fmt.Println(core.AcceptsEventStream("text/event-stream"))
	fmt.Println(core.AcceptsEventStream("text/html,application/xhtml+xml,*/*;q=0.8"))
	fmt.Println(core.AcceptsEventStream("application/json, text/event-stream;q=0.5"))
	// Output:
	// true
	// false
	// false
}

// A live stream end to end: a hub, a route that streams it (here with the
// net/http adapter), a client reading it with the Decoder, and an event.
func Example() {
	hub := core.NewHub()
	srv := httptest.NewServer(httpsse.Handler(hub, httpsse.Config{Topics: httpsse.Topics("news")}))
	defer srv.Close()
	defer hub.Close() // first: a stream never ends by itself

	resp, err := http.Get(srv.URL) // an EventSource, as far as the server can tell
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"))

	id, err := hub.Publish(core.Event{Type: "headline", Data: "Hub goes live"}, "news")
	if err != nil {
		panic(err)
	}
	e, err := core.NewDecoder(resp.Body).Next()
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Type, e.Data, e.ID == id)
	// Output:
	// text/event-stream
	// headline Hub goes live true
}

func ExampleNewHub() {
	var hub *core.Hub
	// A live visitor count: every connect and disconnect publishes it.
	visitors := func(*core.Subscriber) {
		n := hub.Subscribers("visitors")
		hub.Publish(core.Event{Type: "count", Data: strconv.Itoa(n)}, "visitors")
	}
	hub = core.NewHub(
		core.WithHeartbeat(15*time.Second), // keeps proxies from cutting idle streams
		core.WithRetry(2*time.Second),      // how soon browsers reconnect
		core.WithOnConnect(visitors),
		core.WithOnDisconnect(func(s *core.Subscriber, _ core.DisconnectReason) { visitors(s) }),
	)
	srv := httptest.NewServer(httpsse.Handler(hub, httpsse.Config{Topics: httpsse.Topics("visitors")}))
	defer srv.Close()
	defer hub.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	dec := core.NewDecoder(resp.Body)
	e, _ := dec.Next()
	fmt.Println(e.Type, e.Data, "- reconnect after", dec.Retry())
	// Output:
	// count 1 - reconnect after 2s
}

func ExampleWithSnapshot() {
	var price atomic.Value
	price.Store("42.0")
	hub := core.NewHub(core.WithSnapshot(func(*core.Subscriber) ([]core.Event, error) {
		// The current state, sent before any live event (and after missed ones).
		return []core.Event{{Type: "price", Data: price.Load().(string)}}, nil
	}))
	srv := httptest.NewServer(httpsse.Handler(hub, httpsse.Config{Topics: httpsse.Topics("prices")}))
	defer srv.Close()
	defer hub.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	dec := core.NewDecoder(resp.Body)
	e, _ := dec.Next()
	fmt.Println(e.Type, e.Data)

	price.Store("42.5") // update the state, then publish
	hub.Publish(core.Event{Type: "price", Data: "42.5"}, "prices")
	e, _ = dec.Next()
	fmt.Println(e.Type, e.Data)
	// Output:
	// price 42.0
	// price 42.5
}

func ExampleSubscriber_Send() {
	hub := core.NewHub(core.WithOnConnect(func(s *core.Subscriber) {
		// To this stream alone: not kept for replay, no hub id.
		s.Send(core.Event{Type: "welcome", Data: "you are subscribed to " + strings.Join(s.Topics(), ",")})
	}))
	srv := httptest.NewServer(httpsse.Handler(hub, httpsse.Config{Topics: httpsse.Topics("news")}))
	defer srv.Close()
	defer hub.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	e, _ := core.NewDecoder(resp.Body).Next()
	fmt.Println(e.Type+":", e.Data)
	// Output:
	// welcome: you are subscribed to news
}

func ExampleHub_Shutdown() {
	hub := core.NewHub(core.WithShutdownEvent(core.Event{Type: "bye", Data: "restarting"}))
	srv := httptest.NewServer(httpsse.Handler(hub, httpsse.Config{Topics: httpsse.Topics("news")}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()

	// On SIGTERM, say: every stream gets the shutdown event and ends, then
	// the server stops. httpsse.Shutdown does both in the right order.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("shutdown:", httpsse.Shutdown(ctx, srv.Config, hub))

	dec := core.NewDecoder(resp.Body)
	e, _ := dec.Next()
	fmt.Println(e.Type, e.Data)
	_, err = dec.Next()
	fmt.Println(err)
	// Output:
	// shutdown: <nil>
	// bye restarting
	// EOF
}
