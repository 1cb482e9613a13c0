package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ssehub/ssehub/core"
)

// GET /metrics serves the hub's figures; with one visitor connected they say so.
func TestMetrics(t *testing.T) {
	hub, r := newApp("")
	srv := httptest.NewServer(r)
	defer srv.Close()
	defer hub.Close() // first: the stream below never ends on its own

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/visitors", nil)
	req.Header.Set("Accept", "text/event-stream")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if e, err := core.NewDecoder(stream.Body).Next(); err != nil || e.Data != "1" {
		t.Fatalf("first event %+v, %v; want the count 1", e, err)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	gauge := func(name string) float64 {
		f := families[name]
		if f.GetType() != dto.MetricType_GAUGE || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v", name, f)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if n := gauge("ssehub_subscribers"); n != 1 {
		t.Fatalf("ssehub_subscribers %v, want 1", n)
	}
	if n := gauge("ssehub_topic_subscribers"); n != 1 {
		t.Fatalf("ssehub_topic_subscribers{topic=\"visitors\"} %v, want 1", n)
	}
}
