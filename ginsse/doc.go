// Package ginsse serves Server-Sent Events from a gin app through a
// core.Hub. It is a gin-shaped wrapper of core/httpsse, whose documentation
// says how streams, takeover, compression and HTTP/2 behave.
//
//	hub := core.NewHub()
//	r := gin.New()
//	// One URL: JSON for fetch, a live stream for EventSource.
//	r.GET("/prices", ginsse.New(hub, ginsse.Config{Topics: ginsse.Topics("prices")}), pricesJSON)
//	srv := &http.Server{Addr: ":8080", Handler: r, ReadHeaderTimeout: 10 * time.Second}
//	go srv.ListenAndServe()
//	hub.Publish(core.Event{Type: "price", Data: "42"}, "prices")
//	// On SIGTERM: the streams end, then the server stops.
//	ginsse.Shutdown(ctx, srv, hub)
package ginsse
