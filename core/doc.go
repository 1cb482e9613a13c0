// Package core is the framework-agnostic heart of ssehub: spec-exact
// Server-Sent Events encoding and decoding, and the Hub that fans events out
// to streams. The ginsse and fibersse packages connect it to gin and fiber.
//
// # Architecture
//
// Publish encodes an event once, gives it the next sequence number and an id
// ("<epoch>-<seq>"), and appends it to a ring per topic. That ring is both the
// topic's history, for Last-Event-ID replay, and its fan-out queue: every
// stream reads it at its own cursor, copies whatever is new into its
// connection's buffer and flushes once, so a busy stream sends many events in
// one write. Publish costs the same whatever the streams do; it wakes only the
// streams that wait. A stream that falls further behind than the history is
// disconnected (ErrLagged) and resumes with Last-Event-ID, so memory is bounded
// by the rings, not by slow clients. A publisher that outruns most of its
// streams is paced instead (WithBackpressure): a burst then moves at the speed
// the streams take it, and does not queue up in every client's socket.
//
// Each stream runs Hub.Serve on the request's goroutine. One hub goroutine
// sends heartbeats to idle streams and forgets old history. A few more (one
// per CPU) write new events to parked streams on plain sockets (taken-over
// connections, see WithTakeover) without waking their goroutines: one
// non-blocking write each, handing over to the stream's goroutine only when
// the socket cannot take it all. While Publish is being paced and the writers
// are busy, one of them rests: an outrun hub leaves a CPU to the rest of the
// process, and the publisher slows to what the others deliver.
//
// # Example
//
//	hub := core.NewHub(core.WithHeartbeat(15 * time.Second))
//	defer hub.Close()
//	// an adapter calls hub.Serve for each stream; the app publishes:
//	_, err := hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
//
// # Ids and replay
//
// Hub-assigned ids carry a random epoch, so an id from another hub or an
// earlier run is never mistaken for a current one: it resolves to
// ReplayMiss, like a garbage or too-old id, and the stream starts live. An
// app may set Event.ID itself; a Last-Event-ID is then found by searching the
// subscriber's topics' history for it, so replay works as long as app ids are
// unique within the history. A broker's ids (see Broker) work the same way.
// Replay is exact: the missed events in order, then live ones, with no gap and
// no duplicate, even while events are being published.
//
// # Shutdown
//
// An SSE stream never goes idle, so an HTTP server's graceful shutdown waits
// for it forever. Shut the hub down first (net/http: from
// Server.RegisterOnShutdown; fiber: before App.Shutdown); every Serve then
// returns ErrClosed.
package core
