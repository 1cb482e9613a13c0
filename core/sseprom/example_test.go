package sseprom_test

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/sseprom"
)

func ExampleNewCollector() {
	hub := core.NewHub()
	defer hub.Close()
	reg := prometheus.NewRegistry() // or prometheus.MustRegister, for the default one
	reg.MustRegister(sseprom.NewCollector(hub, sseprom.WithNamespace("chat"), sseprom.WithTopics("lobby")))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	hub.Publish(core.Event{Data: "hello"}, "lobby")
	families, _ := reg.Gather()
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetType())
	}
	// Output:
	// chat_broker_delivered_total COUNTER
	// chat_broker_errors_total COUNTER
	// chat_connects_total COUNTER
	// chat_disconnects_total COUNTER
	// chat_events_published_total COUNTER
	// chat_events_written_total COUNTER
	// chat_freshness_seconds HISTOGRAM
	// chat_heartbeats_total COUNTER
	// chat_hook_panics_total COUNTER
	// chat_publish_paced_total COUNTER
	// chat_rejected_total COUNTER
	// chat_replays_total COUNTER
	// chat_subscribers GAUGE
	// chat_topic_subscribers GAUGE
	// chat_topics GAUGE
	// chat_written_bytes_total COUNTER
}
