// Package core is the framework-agnostic heart of ssehub: spec-exact
// Server-Sent Events encoding and decoding, and the Hub that serves events to
// streams. Adapters connect it to HTTP: core/httpsse for net/http (and chi,
// echo), ginsse for gin, fibersse for fiber.
//
// # Topics
//
// An app publishes events to named topics, and each stream receives the
// topics its subscription names. The app decides those topics from the
// request (the adapters' Topics function), so a client never chooses its way
// into a topic the app did not allow. Topics cost nothing until a stream or an
// event uses them, and are forgotten once idle.
//
//	hub := core.NewHub()
//	defer hub.Close()
//	id, err := hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
//
// A stream may also get events of its own (Subscriber.Send), events to every
// stream (Hub.PublishAll), the current state first (WithSnapshot), and
// heartbeats whenever it is idle (WithHeartbeat).
//
// # Ids and replay
//
// Every published event gets an id, which Publish returns and clients send
// back as Last-Event-ID when they reconnect. The stream then resumes exactly:
// the missed events in order, then live ones, with no gap and no duplicate,
// as long as the topic's history (WithHistory) still holds them. Hub-assigned
// ids carry a random epoch, so an id from another hub or an earlier run is
// never mistaken for a current one: like a garbage or too-old id, it resolves
// to ReplayMiss and the stream starts live (the snapshot, if any, tells the
// client the state). An app may set Event.ID itself; replay then finds it in
// the history. With a Broker, ids mean the same on every instance.
//
// # Limits
//
// Everything a client can influence is bounded: the topics per subscription,
// the streams per hub and per client address, the Last-Event-ID it sends, the
// history each topic keeps. A client that stops reading is cut off when a
// write has waited WithWriteTimeout; one that falls further behind than its
// topic's history is disconnected (ErrLagged) and resumes with Last-Event-ID.
// Publish never waits on a client, unless the app asks it to (WithBackpressure).
//
// # Many instances
//
// Behind a load balancer, instances share events through a Broker (see
// core/redisbroker): every instance serves every event with the same id, and
// a client resumes on any of them. A broker that is also a Cluster shares
// what instances know of their streams: WithPresence counts a topic's
// streams across all of them, and Hub.End ends a user's streams on all of
// them.
//
// # Shutdown
//
// An SSE stream never goes idle, so an HTTP server's graceful shutdown would
// wait for it until its deadline. Shut the hub down with the server, in one
// call: httpsse.Shutdown (net/http, gin) or fibersse.Shutdown (fiber). Every
// stream gets the shutdown event (WithShutdownEvent) and ends, at once or
// spread over a window (WithDrain), so that its clients do not all reconnect
// to the other instances in the same instant.
//
// # Watching it run
//
// Hub.Stats is a snapshot of the hub's counters, cheap enough to take at every
// scrape: streams, connects and refusals, disconnects by reason, events
// published and written, replay hits and misses, and Freshness, a histogram of
// how long each event took from Publish to the write that carried it to its
// client. Package core/sseprom serves it to Prometheus. WithLogger logs faults
// at Warn and the life of streams at Debug, never a line per event.
//
// # How an event travels
//
// Publish (hub.go) encodes the event once, gives it the next sequence number,
// and appends the frame to a ring per topic (ring.go), which is both the
// topic's history and its fan-out queue. It then wakes the topic's parked
// streams (sublist.go); a busy stream costs it one atomic load. Each stream
// runs Subscriber.Serve (serve.go) on one goroutine: the request's, or for a
// connection taken over from the server (WithTakeover), one the hub owns. It
// copies every frame from its cursor up to the newest into its buffer and
// flushes once, so a busy stream sends many events per write, then parks
// until woken. One goroutine per hub sends heartbeats, checks taken-over
// sockets for clients that left (liveness.go), and forgets old history.
package core
