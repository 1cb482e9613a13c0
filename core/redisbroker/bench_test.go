package redisbroker_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// BenchmarkLatency measures publish→receive latency, one event in flight at a
// time, as a client sees it over real HTTP: "in-process" publishes on the
// hub that serves the client; "redis" publishes on instance A and the client
// reads from instance B, both on one local Redis. Each op is one event end to
// end; p50-ms and p99-ms are the latency percentiles.
func BenchmarkLatency(b *testing.B) {
	b.Run("in-process", func(b *testing.B) {
		in := serve(b, core.NewHub(), nil)
		benchLatency(b, in, dial(b, in, "", "t"))
	})
	b.Run("redis", func(b *testing.B) {
		r := startRedis(b)
		pub, sub := newInstance(b, r.Addr()), newInstance(b, r.Addr())
		benchLatency(b, pub, dial(b, sub, "", "t"))
	})
}

func benchLatency(b *testing.B, pub *instance, c *client) {
	lat := make([]time.Duration, 0, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		data := strconv.Itoa(i)
		start := time.Now()
		if _, err := pub.hub.Publish(core.Event{Data: data}, "t"); err != nil {
			b.Fatal(err)
		}
		if e := c.next(); e.Data != data {
			b.Fatalf("got %q, want %q", e.Data, data)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}
