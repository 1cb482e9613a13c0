// Package ginsse serves Server-Sent Events from a gin app through a
// core.Hub. It is transport only: the hub does encoding, fan-out, replay,
// heartbeats and shutdown.
//
// # Example
//
//	hub := core.NewHub()
//	r := gin.Default()
//	// One URL: JSON for fetch, a live stream for EventSource.
//	r.GET("/prices", ginsse.New(hub, ginsse.Config{Topics: ginsse.Topics("prices")}), pricesJSON)
//
//	srv := &http.Server{Addr: ":8080", Handler: r}
//	srv.RegisterOnShutdown(func() { hub.Close() }) // streams never go idle by themselves
//	go srv.ListenAndServe()
//	hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
//
// # Streams
//
// Each stream runs on its request's goroutine and ends when the client
// leaves (the request's context), when it falls behind its topic's history,
// when a write exceeds the hub's write timeout (set on the connection through
// http.ResponseController, so a stuck client cannot hold a goroutine), or when
// the hub shuts down. Subscriptions the hub refuses get 503 with Retry-After
// (subscriber limits, shutdown), 400 (bad topics) or the topic function's
// status (403 by default).
//
// By default (core.WithTakeover) an HTTP/1.1 stream is taken over once its
// headers are decided: the connection is hijacked, the headers and a chunked
// body written by the stream itself on a goroutine of the hub's, so
// net/http's goroutines and buffers are released. A client that leaves is
// then noticed by the hub's socket check, within about a second. Streams
// behind a compressor (Content-Encoding set) are not taken over.
//
// HTTP/2, with TLS or h2c, serves many streams on one connection, lifting the
// browser's limit of six HTTP/1.1 connections per origin; those streams stay
// with net/http, which ends them through the request's context.
//
// # Shutdown
//
// http.Server.Shutdown waits for connections to go idle, and an SSE stream
// never does: close the hub from Server.RegisterOnShutdown, as above. Streams
// served inside net/http then end and Shutdown returns; taken-over streams
// (core.WithTakeover) are no longer net/http's to wait for, so after Shutdown
// returns, call hub.Shutdown(ctx): it waits for the Close already under way.
//
// # Compression
//
// Behind a compression middleware (gin-contrib/gzip), each batch of events is
// flushed through the compressor, so nothing waits in its buffer; each stream
// then holds a compressor of its own, a few hundred KiB. With many clients,
// exclude event-stream routes from compression.
package ginsse
