package sseprom

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ssehub/ssehub/core"
)

// maxBusyTopics bounds the topics WithTopicsAbove reports.
const maxBusyTopics = 100

// An Option configures a Collector.
type Option func(*config)

type config struct {
	namespace string
	topics    []string
	above     int
}

// WithNamespace sets the first part of every series' name: the app's name,
// say. An empty namespace leaves names starting "subscribers",
// "connects_total" and so on.
// Default: "ssehub".
func WithNamespace(namespace string) Option {
	return func(c *config) { c.namespace = namespace }
}

// WithTopics reports the number of streams on each of topics, as
// topic_subscribers{topic="..."}, at every scrape, zero included. Name only
// topics of a bounded set (rooms, not users).
// Default: none.
func WithTopics(topics ...string) Option {
	topics = slices.Clone(topics)
	return func(c *config) { c.topics = append(c.topics, topics...) }
}

// WithTopicsAbove also reports every topic with at least n streams, the
// busiest first, at most 100 of them: the topics worth a series, whatever
// their names. It panics if n is less than 1.
// Default: off.
func WithTopicsAbove(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("sseprom: WithTopicsAbove must be at least 1, got %d", n))
	}
	return func(c *config) { c.above = n }
}

// A Collector is a prometheus.Collector of one hub's Stats. Register it once;
// it is safe for concurrent scrapes, each of which takes one Hub.Stats
// snapshot.
type Collector struct {
	hub     *core.Hub
	named   []string
	above   int
	descs   map[string]*prometheus.Desc
	ordered []*prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// The series, by name without the namespace.
var series = []struct {
	name, help string
	labels     []string
}{
	{"subscribers", "Streams connected now.", nil},
	{"topics", "Topics with at least one stream now.", nil},
	{"topic_subscribers", "Streams on a topic now, for the topics the app chose to report.", []string{"topic"}},
	{"connects_total", "Streams started.", nil},
	{"rejected_total", "Subscriptions refused: caps, bad topics, broker failure.", nil},
	{"disconnects_total", "Streams ended, by reason.", []string{"reason"}},
	{"events_published_total", "Events accepted by Publish and PublishAll.", nil},
	{"events_written_total", "Events written to streams, summed over streams.", nil},
	{"written_bytes_total", "Bytes written to streams.", nil},
	{"heartbeats_total", "Heartbeats written to idle streams.", nil},
	{"replays_total", "Streams that resumed from a Last-Event-ID: hit (exactly), miss (started live).", []string{"result"}},
	{"publish_paced_total", "Publish calls that waited for slow streams to catch up.", nil},
	{"hook_panics_total", "Panics in the app's hooks and topic functions.", nil},
	{"freshness_seconds", "Per event written to a stream live: the time from Publish accepting it (with a broker, on the instance that published it) to the end of the write that carried it to the stream's socket.", nil},
	{"broker_delivered_total", "Messages the broker delivered to this hub.", nil},
	{"broker_errors_total", "Publishes and subscribes through the broker that failed.", nil},
	{"broker_connected", "1 if the broker can publish and deliver now, else 0.", nil},
	{"broker_reconnects_total", "Broker connections lost and regained.", nil},
}

// NewCollector returns a collector of hub's Stats.
func NewCollector(hub *core.Hub, opts ...Option) *Collector {
	cfg := config{namespace: "ssehub"}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Collector{hub: hub, above: cfg.above, descs: make(map[string]*prometheus.Desc)}
	for _, t := range cfg.topics {
		if !slices.Contains(c.named, t) {
			c.named = append(c.named, t)
		}
	}
	for _, s := range series {
		d := prometheus.NewDesc(prometheus.BuildFQName(cfg.namespace, "", s.name), s.help, s.labels, nil)
		c.descs[s.name] = d
		c.ordered = append(c.ordered, d)
	}
	return c
}

// Describe sends the descriptors of every series the collector may report.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.ordered {
		ch <- d
	}
}

// Collect takes a snapshot of the hub's Stats and sends it.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter := func(name string, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	gauge("subscribers", float64(st.Subscribers))
	gauge("topics", float64(len(st.Topics)))
	for _, t := range c.topics(st.Topics) {
		gauge("topic_subscribers", float64(st.Topics[t]), t)
	}
	counter("connects_total", st.Connects)
	counter("rejected_total", st.Rejected)
	for reason, n := range st.Disconnects {
		counter("disconnects_total", n, string(reason))
	}
	counter("events_published_total", st.Published)
	counter("events_written_total", st.FramesWritten)
	counter("written_bytes_total", st.BytesWritten)
	counter("heartbeats_total", st.Heartbeats)
	counter("replays_total", st.ReplayHits, "hit")
	counter("replays_total", st.ReplayMisses, "miss")
	counter("publish_paced_total", st.Paced)
	counter("hook_panics_total", st.HookPanics)
	ch <- histogram(c.descs["freshness_seconds"], st.Freshness)
	counter("broker_delivered_total", st.BrokerDelivered)
	counter("broker_errors_total", st.BrokerErrors)
	if b := st.Broker; b != nil {
		up := 0.0
		if b.Connected {
			up = 1
		}
		gauge("broker_connected", up)
		counter("broker_reconnects_total", b.Reconnects)
	}
}

// topics returns the topics to report: the named ones, then those with at
// least c.above streams, busiest first, at most maxBusyTopics of them.
func (c *Collector) topics(streams map[string]int) []string {
	out := slices.Clone(c.named)
	if c.above == 0 {
		return out
	}
	var busy []string
	for t, n := range streams {
		if n >= c.above && !slices.Contains(c.named, t) {
			busy = append(busy, t)
		}
	}
	slices.SortFunc(busy, func(a, b string) int {
		return cmp.Or(cmp.Compare(streams[b], streams[a]), cmp.Compare(a, b))
	})
	return append(out, busy[:min(len(busy), maxBusyTopics)]...)
}

// histogram turns a core.Histogram into a Prometheus one: cumulative
// buckets, in seconds.
func histogram(d *prometheus.Desc, h core.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var sum uint64
	for i, b := range h.Bounds {
		sum += h.Counts[i]
		buckets[b.Seconds()] = sum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets)
}
