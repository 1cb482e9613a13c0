// Package sseprom exports a core.Hub's figures to Prometheus: a
// prometheus.Collector that reads Hub.Stats when Prometheus scrapes, and
// costs the hub nothing in between (the way client_golang's
// collectors.NewDBStatsCollector reads sql.DBStats). It lives in a package of
// its own so that apps that do not import it never build client_golang.
//
// # Example
//
//	hub := core.NewHub()
//	prometheus.MustRegister(sseprom.NewCollector(hub, sseprom.WithNamespace("chat")))
//	mux.Handle("GET /metrics", promhttp.Handler())
//
// # Series
//
// With the default namespace, "ssehub":
//
//	ssehub_subscribers                       gauge: streams connected now
//	ssehub_topics                            gauge: topics with a stream now
//	ssehub_topic_subscribers{topic}          gauge: streams on a topic, for chosen topics only (below)
//	ssehub_connects_total                    streams started
//	ssehub_rejected_total                    subscriptions refused (caps, bad topics, broker failure)
//	ssehub_disconnects_total{reason}         streams ended: client_gone, lagged, write_timeout, shutdown, closed, error
//	ssehub_events_published_total            events accepted by Publish and PublishAll
//	ssehub_events_written_total              events written to streams, summed over streams
//	ssehub_written_bytes_total               bytes written to streams
//	ssehub_heartbeats_total                  heartbeats written
//	ssehub_replays_total{result}             Last-Event-ID resumes: hit, miss
//	ssehub_publish_paced_total               Publish calls that waited for slow streams (core.WithBackpressure)
//	ssehub_hook_panics_total                 panics in the app's hooks and topic functions
//	ssehub_freshness_seconds                 histogram: per event written live, from Publish to the end of its write
//	ssehub_broker_delivered_total            messages the broker delivered to this hub
//	ssehub_broker_errors_total               broker publishes and subscribes that failed
//	ssehub_broker_connected                  gauge, 1 or 0, for a broker that reports its state
//	ssehub_broker_reconnects_total           for a broker that reports its state
//
// # Topics
//
// Topics can be unbounded (one per user), so by default no series has a topic
// label. WithTopics names the topics to report (always, even at zero), and
// WithTopicsAbove adds the busiest topics, those with at least a given number
// of streams, at most 100 of them.
package sseprom
