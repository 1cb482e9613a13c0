package sseprom_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/core/httpsse"
	"github.com/ssehub/ssehub/core/sseprom"
	"github.com/ssehub/ssehub/internal/assert"
	"github.com/ssehub/ssehub/internal/ssetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gate is a Stream whose writes wait until it is opened: a client that stops
// reading, for as long as the test likes.
type gate chan struct{}

func (g gate) Write(p []byte) (int, error)    { <-g; return len(p), nil }
func (gate) Flush() error                     { return nil }
func (gate) SetWriteDeadline(time.Time) error { return nil }

// scrape fetches url and parses it as Prometheus reads it.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	assert.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "status", resp.StatusCode, http.StatusOK)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	assert.NoError(t, err)
	return families
}

// value returns the value of the series name{labels...} and its type.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) (float64, dto.MetricType) {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Fatalf("no series %s", name)
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), f.GetType()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), f.GetType()
		}
		t.Fatalf("%s is a %v", name, f.GetType())
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0, 0
}

// A scrape over HTTP after a known sequence: two clients on a room and one on
// a user's own topic, a fourth refused at the cap, events, and a client that
// falls behind the history and is disconnected.
func TestCollector_Scrape(t *testing.T) {
	hub := core.NewHub(core.WithMaxSubscribers(3), core.WithHistory(8, time.Minute), core.WithHeartbeat(0))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sseprom.NewCollector(hub, sseprom.WithNamespace("app"), sseprom.WithTopics("room", "quiet")))
	mux := http.NewServeMux()
	mux.Handle("GET /events/{topic}", httpsse.Handler(hub, httpsse.Config{Topics: func(r *http.Request) ([]string, error) {
		return []string{r.PathValue("topic")}, nil
	}}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	url := ssetest.Serve(t, hub, mux)

	// Connects, and one refused at WithMaxSubscribers.
	a, b := ssetest.Open(t, url+"/events/room"), ssetest.Open(t, url+"/events/room")
	held := gate(make(chan struct{}))
	served := make(chan error, 1)
	go func() {
		served <- hub.Serve(t.Context(), held, core.Subscription{Topics: []string{"user-42"}})
	}()
	ssetest.WaitFor(t, 5*time.Second, "three streams", func() bool { return hub.Stats().Subscribers == 3 })
	refused, err := ssetest.TryOpen(t, url+"/events/room")
	assert.NoError(t, err)
	assert.Equal(t, "refused", refused.Resp.StatusCode, http.StatusServiceUnavailable)

	// Events: five to the room, then the lagged client: its first event's
	// write waits while nine more pass through a history of eight.
	for i := range 5 {
		ssetest.Publish(t, hub, core.Event{Data: strings.Repeat("x", i+1)}, "room")
	}
	assert.Equal(t, "a", a.NextData(5), []string{"x", "xx", "xxx", "xxxx", "xxxxx"})
	assert.Equal(t, "b", b.NextData(5), []string{"x", "xx", "xxx", "xxxx", "xxxxx"})
	for range 10 {
		ssetest.Publish(t, hub, core.Event{Data: "private"}, "user-42")
	}
	close(held)
	assert.ErrorIs(t, <-served, core.ErrLagged)
	// The clients may read an event before its write is counted.
	ssetest.WaitFor(t, 5*time.Second, "ten events counted", func() bool { return hub.Stats().FramesWritten == 10 })

	// At least "data: <data>\n\n" of the five events, to a and to b.
	assert.True(t, fmt.Sprintf("bytes counted: %d", hub.Stats().BytesWritten), hub.Stats().BytesWritten >= uint64(2*(15+5*len("data: \n\n"))))
	m := scrape(t, url+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
		typ    dto.MetricType
	}{
		{"app_subscribers", nil, 2, dto.MetricType_GAUGE},
		{"app_topics", nil, 1, dto.MetricType_GAUGE},
		{"app_topic_subscribers", []string{"topic", "room"}, 2, dto.MetricType_GAUGE},
		{"app_topic_subscribers", []string{"topic", "quiet"}, 0, dto.MetricType_GAUGE},
		{"app_connects_total", nil, 3, dto.MetricType_COUNTER},
		{"app_rejected_total", nil, 1, dto.MetricType_COUNTER},
		{"app_disconnects_total", []string{"reason", "lagged"}, 1, dto.MetricType_COUNTER},
		{"app_disconnects_total", []string{"reason", "client_gone"}, 0, dto.MetricType_COUNTER},
		{"app_events_published_total", nil, 15, dto.MetricType_COUNTER},
		{"app_events_written_total", nil, 10, dto.MetricType_COUNTER}, // the lagged stream's one never counted: its batch failed
		{"app_written_bytes_total", nil, float64(hub.Stats().BytesWritten), dto.MetricType_COUNTER},
		{"app_replays_total", []string{"result", "hit"}, 0, dto.MetricType_COUNTER},
		{"app_hook_panics_total", nil, 0, dto.MetricType_COUNTER},
	} {
		got, typ := value(t, m, c.name, c.labels...)
		assert.Equal(t, c.name+fmtLabels(c.labels), got, c.want)
		assert.Equal(t, c.name+" type", typ, c.typ)
	}
	for _, s := range m["app_topic_subscribers"].GetMetric() {
		assert.True(t, "no series for a topic not chosen", s.GetLabel()[0].GetValue() != "user-42")
	}
	_, hasBroker := m["app_broker_connected"]
	assert.True(t, "no broker series without a broker", !hasBroker)

	f := m["app_freshness_seconds"]
	assert.Equal(t, "freshness type", f.GetType(), dto.MetricType_HISTOGRAM)
	h := f.GetMetric()[0].GetHistogram()
	assert.Equal(t, "one per event written", h.GetSampleCount(), uint64(10))
	assert.True(t, "a sum", h.GetSampleSum() > 0 && h.GetSampleSum() < 10)
	buckets := h.GetBucket()
	assert.Equal(t, "buckets, and +Inf", len(buckets), len(hub.Stats().Freshness.Bounds)+1)
	assert.Equal(t, "first bound", buckets[0].GetUpperBound(), 50e-6)
	for i := 1; i < len(buckets); i++ {
		assert.True(t, "cumulative", buckets[i].GetCumulativeCount() >= buckets[i-1].GetCumulativeCount())
	}
	assert.Equal(t, "all within 30 s", buckets[len(buckets)-2].GetCumulativeCount(), uint64(10))
}

func fmtLabels(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return "{" + strings.Join(l, "=") + "}"
}

// The busiest topics get series, at most 100, and no others.
func TestCollector_TopicsAbove(t *testing.T) {
	hub := core.NewHub(core.WithHeartbeat(0))
	defer hub.Close()
	var subs []*core.Subscriber
	sub := func(topic string, n int) {
		for range n {
			s, err := hub.Subscribe(core.Subscription{Topics: []string{topic}})
			assert.NoError(t, err)
			subs = append(subs, s)
		}
	}
	sub("busy", 5)
	sub("room", 3)
	for i := range 150 {
		sub("big-"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)), 2)
	}
	sub("user-1", 1)
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sseprom.NewCollector(hub, sseprom.WithTopicsAbove(2), sseprom.WithTopics("room")))
	families, err := reg.Gather()
	assert.NoError(t, err)
	var topics []string
	for _, f := range families {
		if f.GetName() == "ssehub_topic_subscribers" {
			for _, m := range f.GetMetric() {
				topics = append(topics, m.GetLabel()[0].GetValue())
			}
		}
	}
	assert.Equal(t, "series", len(topics), 1+100)
	for _, want := range []string{"room", "busy"} {
		assert.True(t, want+" reported", contains(topics, want))
	}
	assert.True(t, "a topic below the threshold is not", !contains(topics, "user-1"))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
