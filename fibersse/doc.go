// Package fibersse serves Server-Sent Events from a fiber v2 app through a
// core.Hub. It is transport only: the hub does encoding, fan-out, replay,
// heartbeats and shutdown.
//
// # Example
//
//	hub := core.NewHub()
//	app := fiber.New()
//	// One URL: JSON for fetch, a live stream for EventSource.
//	app.Get("/prices", fibersse.New(hub, fibersse.Config{Topics: fibersse.Topics("prices")}), pricesJSON)
//	go app.Listen(":8080")
//	hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
//
//	// On shutdown: the hub first, then the app.
//	hub.Close()
//	app.Shutdown()
//
// # Streams
//
// fasthttp streams a body through SetBodyStreamWriter, whose callback runs
// after the handler has returned and the *fiber.Ctx has been recycled. So
// the handler subscribes (the topic function, Meta and ClientAddr run there,
// with the request at hand; their strings are copied) and the callback only
// writes. Refused subscriptions get 503 with Retry-After, 400, or the topic
// function's status (403 by default) before any stream starts.
//
// Each write has a deadline on the connection, so a client that stops reading
// is cut off within the hub's write timeout; the deadline also overrides
// fiber's WriteTimeout, which would otherwise end every stream after it.
//
// fasthttp gives no signal when a client leaves, and a write to a closed
// socket may succeed once. So the hub checks each stream's socket once a
// second without blocking (a peer that closed or reset it reads as gone), and
// heartbeats (core.WithHeartbeat) make writes fail where the check cannot see.
//
// By default (core.WithTakeover) the stream takes the connection over after
// the headers (fasthttp's Hijack, with the response written by the stream,
// chunked as fasthttp's). On plain TCP the stream then keeps a
// duplicate of the socket's descriptor and lets the hijack handler return,
// so fasthttp frees its goroutine, buffers and request context at once (on
// TLS the stream runs inside the hijack handler, which keeps them). Headers
// set by middleware before the handler returns are kept. fiber's compress middleware works after the
// handler returns, so a taken-over stream is sent uncompressed (with
// core.WithTakeover(false) it is compressed and flushed event by event).
//
// # Shutdown
//
// fiber's App.Shutdown waits for open connections, and runs its OnShutdown
// hooks only after that: close the hub first, then shut the app down. A
// stream also ends by itself when the server begins shutting down, so
// App.Shutdown alone does not hang; closing the hub first is what sends
// core.WithShutdownEvent and counts the streams as shut down.
//
// fiber v2 has no HTTP/2.
package fibersse
