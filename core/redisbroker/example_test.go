package redisbroker_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/redisbroker"
)

// Every instance of the app runs the same code: a hub on a broker on the
// shared Redis. An event published on any instance reaches the streams of all
// of them, with the same id, so a client may reconnect to any instance.
func ExampleNew() {
	// MaxLen bounds each topic's stream: how much an instance that lost Redis
	// for a while can still catch up on.
	b := redisbroker.New(&redis.Options{Addr: "127.0.0.1:6379"},
		redisbroker.WithMaxLen(10000),
		redisbroker.WithLogger(slog.Default()))
	hub := core.NewHub(core.WithBroker(b))

	// Serve hub with ginsse, fibersse or your own handler, and shut the hub
	// down first: it closes the broker, and ends the streams that would keep
	// the server's Shutdown waiting.
	srv := &http.Server{Addr: ":8080"}
	srv.RegisterOnShutdown(func() { hub.Close() })

	if _, err := hub.Publish(core.Event{Type: "price", Data: "42"}, "prices"); errors.Is(err, redisbroker.ErrUnavailable) {
		log.Print("not published, Redis is away: ", err)
	}
	if st := hub.Stats().Broker; !st.Connected {
		log.Printf("Redis away; %d reconnects so far; last error: %s", st.Reconnects, st.LastError)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// With Sentinel (or Cluster, or TLS and credentials), give the broker the
// client the app already has. The app owns it: the hub closes the broker,
// then the app closes its client.
func ExampleNewFromClient() {
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    "mymaster",
		SentinelAddrs: []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"},
	})
	defer rdb.Close() // deferred first: runs after hub.Close

	hub := core.NewHub(core.WithBroker(redisbroker.NewFromClient(rdb)))
	defer hub.Close()

	// During a failover, publishes fail until the sentinels have promoted a
	// replica; then they go to it. Nothing is retried behind the app's back.
	if _, err := hub.Publish(core.Event{Data: "42"}, "prices"); errors.Is(err, redisbroker.ErrUnavailable) {
		log.Print("not published, no primary right now: ", err)
	}
}
