// Package fibersse serves Server-Sent Events from a fiber v2 app through a
// core.Hub. It is transport only: the hub does encoding, fan-out, replay,
// heartbeats and shutdown.
//
//	hub := core.NewHub()
//	app := fiber.New(fiber.Config{ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute})
//	// One URL: JSON for fetch, a live stream for EventSource.
//	app.Get("/prices", fibersse.New(hub, fibersse.Config{Topics: fibersse.Topics("prices")}), pricesJSON)
//	go app.Listen(":8080")
//	hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
//	// On SIGTERM: the streams end, then the app stops.
//	fibersse.Shutdown(ctx, app, hub)
//
// # Streams
//
// fasthttp writes a streamed body after the handler has returned and the
// *fiber.Ctx has been recycled, so the handler subscribes (the topic
// function, Meta and ClientAddr run there, and their strings are copied) and
// the stream only writes. Refused subscriptions get 503 with Retry-After,
// 400, or the topic function's status (403 by default).
//
// Each write has a deadline on the connection, so a client that stops reading
// is cut off within the hub's write timeout; the deadline also overrides
// fiber's WriteTimeout, which would otherwise end every stream after it.
// fasthttp gives no signal when a client leaves, so the hub checks each
// stream's socket once a second without blocking, and heartbeats
// (core.WithHeartbeat) make writes fail where the check cannot see.
//
// By default (core.WithTakeover) the stream takes the connection over after
// the headers, keeping the headers middleware set: on plain TCP it keeps a
// duplicate of the socket, so fasthttp frees its goroutine, buffers and
// request context at once. fiber's compress middleware works after the
// handler returns, so a taken-over stream is sent uncompressed (with
// core.WithTakeover(false) it is compressed and flushed event by event).
//
// # Out of file descriptors
//
// Every stream holds a socket, so a busy app meets its process's limit of
// open files. The hub caps its streams below that limit by default
// (core.WithMaxSubscribers) and answers 503 with Retry-After past it, closing
// the connection. fasthttp, though, takes a failed accept (EMFILE) as the end
// of serving: app.Listener returns and the app is gone. Serve through
// Listener, which waits and retries as net/http does:
//
//	ln, err := net.Listen("tcp", ":8080")
//	...
//	app.Listener(fibersse.Listener(ln))
//
// # Shutdown
//
// fiber's App.Shutdown waits for open connections, and runs its OnShutdown
// hooks only after that: Shutdown ends the hub's streams (each gets
// core.WithShutdownEvent), then shuts the app down. fiber v2 has no HTTP/2.
package fibersse
