// Package httpsse serves Server-Sent Events from net/http through a
// core.Hub: the standard library's ServeMux, and routers built on
// http.Handler (chi, gorilla/mux; echo through echo.WrapHandler and
// echo.WrapMiddleware). It is transport only: the hub does encoding, fan-out,
// replay, heartbeats and shutdown. ginsse wraps it for gin.
//
//	hub := core.NewHub()
//	mux := http.NewServeMux()
//	// One URL: JSON for fetch, a live stream for EventSource.
//	mux.Handle("GET /prices", httpsse.New(hub, httpsse.Config{Topics: httpsse.Topics("prices")})(pricesJSON))
//	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
//	go srv.ListenAndServe()
//	hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
//	// On SIGTERM: the streams end, then the server stops.
//	httpsse.Shutdown(ctx, srv, hub)
//
// # Streams
//
// Refused subscriptions get 503 with Retry-After (subscriber limits,
// shutdown), 400 (bad topics), or the topic function's status (403 by
// default). Every write has a deadline (core.WithWriteTimeout) set on the
// connection through http.ResponseController, so do not set the server's
// WriteTimeout: it would end every stream after it.
//
// By default (core.WithTakeover) an HTTP/1.1 stream is taken over once its
// headers are decided: the connection is hijacked and written by the hub, so
// net/http's goroutine and buffers are released. A client that leaves is
// then noticed by the hub's check of its socket, within about a second.
// Streams behind a compressor (Content-Encoding set) are not taken over:
// each batch is flushed through the compressor instead, which then holds a
// few hundred KiB per stream, so exclude event streams from compression when
// clients are many.
//
// HTTP/2 (TLS or h2c) serves many streams on one connection, lifting the
// browser's limit of six HTTP/1.1 connections per origin; those streams stay
// with net/http, which ends them through the request's context.
//
// # Shutdown
//
// http.Server.Shutdown waits for connections to go idle, and an SSE stream
// never does; taken-over streams are not even the server's to wait for.
// Shutdown ends the hub's streams and shuts the server down together.
package httpsse
