package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

func TestPayload(t *testing.T) {
	b := AppendPayload(nil, 42, 1700000000123456789, 64)
	if len(b) != 64 || !strings.HasPrefix(string(b), "42 1700000000123456789 x") {
		t.Fatalf("payload %q", b)
	}
	seq, ts, ok := ParsePayload(b)
	if !ok || seq != 42 || ts != 1700000000123456789 {
		t.Fatalf("parsed %d %d %v", seq, ts, ok)
	}
	if _, _, ok := ParsePayload([]byte("hello")); ok {
		t.Fatal("parsed garbage")
	}
}

func TestScanLinesMatchesDecoder(t *testing.T) {
	stream := "retry: 100\n\n: ping\n\nid: a-1\ndata: 1 5 xx\n\nevent: t\ndata:2 6 yy\r\n\r\nid: a-3\ndata: 3 7 z\n\ndata: 4 8"
	var fast []string
	used := scanLines([]byte(stream), func(b []byte) { fast = append(fast, string(b)) })
	if rest := stream[used:]; rest != "data: 4 8" {
		t.Fatalf("left %q", rest)
	}
	dec := core.NewDecoder(strings.NewReader(stream))
	var slow []string
	for {
		e, err := dec.Next()
		if err != nil {
			break
		}
		slow = append(slow, e.Data)
	}
	if fmt.Sprint(fast) != fmt.Sprint(slow) {
		t.Fatalf("fast %q, decoder %q", fast, slow)
	}
}

func TestValidate(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:80/x", "http://example.com/x", "https://127.0.0.1:1/", "http://[::1]:80/"} {
		c := Config{URL: u, Clients: 1}
		c.setDefaults()
		if c.validate() == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

// TestRun drives a child in-process against a plain chunked SSE server.
func TestRun(t *testing.T) {
	for _, dec := range []string{"fast", "core"} {
		t.Run(dec, func(t *testing.T) { testRun(t, dec) })
	}
}

func testRun(t *testing.T, decoder string) {
	events := make(chan string, 16)
	subscribed := make(chan struct{}, 16)
	var mu sync.Mutex
	var streams []chan string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		ch := make(chan string, 16)
		mu.Lock()
		streams = append(streams, ch)
		mu.Unlock()
		subscribed <- struct{}{}
		for {
			select {
			case s := <-ch:
				fmt.Fprintf(w, "id: %d\ndata: %s\n\n", len(s), s)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer srv.Close()
	go func() {
		for s := range events {
			mu.Lock()
			for _, ch := range streams {
				ch <- s
			}
			mu.Unlock()
		}
	}()

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(Config{URL: srv.URL + "/events", Clients: 3, Stuck: 1, SourceIPs: 1, Decoder: decoder}, inR, outW)
		outW.Close()
	}()
	out := bufio.NewScanner(outR)
	read := func(want string, v any) {
		t.Helper()
		if !out.Scan() {
			t.Fatalf("no %s: %v", want, out.Err())
		}
		f := strings.SplitN(out.Text(), " ", 3)
		if len(f) != 3 || f[0] != "LOADGEN" || f[1] != want {
			t.Fatalf("want %s, got %q", want, out.Text())
		}
		if v != nil {
			if err := json.Unmarshal([]byte(f[2]), v); err != nil {
				t.Fatal(err)
			}
		}
	}
	var r Ready
	read("ready", &r)
	if r.Connected != 4 || r.Failed != 0 {
		t.Fatalf("ready %+v", r)
	}
	for range 4 {
		<-subscribed
	}
	fmt.Fprintln(inW, "window 7 10 12 5000 1")
	read("window", nil)
	events <- string(AppendPayload(nil, 9, time.Now().UnixNano(), 20)) // before the window: not counted
	for seq := uint64(10); seq <= 12; seq++ {
		events <- string(AppendPayload(nil, seq, time.Now().UnixNano(), 20))
	}
	var s Summary
	read("summary", &s)
	if s.ID != 7 || s.Readers != 3 || s.Received != 9 || s.Lost != 0 || s.Complete != 3 || s.Samples != 9 || s.TimedOut {
		t.Fatalf("summary %+v", s)
	}
	if s.P99 <= 0 || s.P99 > int64(time.Second) || s.LastRecv < s.FirstRecv {
		t.Fatalf("latencies %+v", s)
	}
	// A window that cannot complete ends at its timeout.
	fmt.Fprintln(inW, "window 8 13 14 100 0")
	read("window", nil)
	events <- string(AppendPayload(nil, 13, time.Now().UnixNano(), 20))
	read("summary", &s)
	if !s.TimedOut || s.Received != 3 || s.Lost != 3 || s.Samples != 0 {
		t.Fatalf("summary %+v", s)
	}
	fmt.Fprintln(inW, "status")
	var st Status
	read("status", &st)
	if st.Connected != 4 || st.Events != 15 {
		t.Fatalf("status %+v", st)
	}
	inW.Close() // the parent is gone
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after stdin closed")
	}
	close(events)
}
