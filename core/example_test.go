package core_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ssehub/ssehub/core"
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

func ExampleNewHub() {
	var hub *core.Hub
	visitors := func(*core.Subscriber) {
		hub.Publish(core.Event{Type: "count", Data: fmt.Sprint(hub.Subscribers("visitors"))}, "visitors")
	}
	hub = core.NewHub(
		core.WithHeartbeat(15*time.Second),
		core.WithRetry(2*time.Second),
		core.WithOnConnect(visitors),
		core.WithOnDisconnect(func(s *core.Subscriber, _ core.DisconnectReason) { visitors(s) }),
	)
	defer hub.Close()

	// An adapter (ginsse, fibersse) calls hub.Serve for each stream.
	err := hub.Publish(core.Event{Type: "news", Data: "hello"}, "news")
	fmt.Println(err)
	// Output:
	// <nil>
}

func ExampleWithSnapshot() {
	var price = "42.0"
	hub := core.NewHub(core.WithSnapshot(func(s *core.Subscriber) ([]core.Event, error) {
		// The current state, sent before any live event (and after missed ones).
		return []core.Event{{Type: "price", Data: price}}, nil
	}))
	defer hub.Close()
	fmt.Println(hub.Publish(core.Event{Type: "price", Data: "42.5"}, "prices"))
	// Output:
	// <nil>
}
