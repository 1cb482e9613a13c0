package core_test

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// FuzzRoundTrip checks Decode(Encode(e)) == e (line breaks normalized to LF)
// for every event Encode accepts, and that the event never leaks into the one
// after it.
func FuzzRoundTrip(f *testing.F) {
	f.Add("1", "tick", "hello", uint32(0))
	f.Add("", "", "", uint32(1000))
	f.Add("a-1", "x", "a\r\nb\rc\n", uint32(3))
	f.Add("id", "t", "\n\ndata: injected\nevent: x", uint32(0))
	f.Add(" x", "a\nb", "\xff", uint32(0))
	f.Fuzz(func(t *testing.T, id, typ, data string, retryMs uint32) {
		e := core.Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retryMs) * time.Millisecond}
		enc, err := core.AppendEvent(nil, e)
		if err != nil {
			if len(enc) != 0 {
				t.Fatalf("refused event %q still wrote %q", e, enc)
			}
			if !errors.Is(err, core.ErrInvalidID) && !errors.Is(err, core.ErrInvalidType) && !errors.Is(err, core.ErrInvalidData) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		sentinel := core.Event{ID: "end", Type: "end", Data: "end"}
		enc, _ = core.AppendEvent(enc, sentinel)
		dec := core.NewDecoder(bytes.NewReader(enc))
		got, err := dec.Next()
		if err != nil {
			t.Fatalf("decode %q: %v", enc, err)
		}
		if want := normalized(e); got != want {
			t.Fatalf("round trip of %q:\n got %#v\nwant %#v", enc, got, want)
		}
		got, err = dec.Next()
		if err != nil || got != sentinel {
			t.Fatalf("the next event was damaged: %#v, %v", got, err)
		}
		if _, err := dec.Next(); err != io.EOF {
			t.Fatalf("extra events decoded: %v", err)
		}
	})
}

// FuzzDecode feeds arbitrary streams to the decoder: it must not panic, must
// stay within its size bound, and must give only valid UTF-8.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("\xEF\xBB\xBFid: 1\r\nevent: a\rdata: x\n\n"))
	f.Add([]byte(": c\nretry: 12\ndata\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		dec := core.NewDecoder(bytes.NewReader(stream))
		dec.MaxEventSize = 1024
		for range len(stream) + 1 {
			e, err := dec.Next()
			if err != nil {
				return
			}
			if len(e.Data) > 4*1024 || strings.ContainsAny(e.Type, "\r\n") {
				t.Fatalf("bad event %#v", e)
			}
		}
		t.Fatal("more events than bytes")
	})
}

// FuzzAcceptsEventStream checks the Accept parser never panics and that
// wildcards alone never select a stream.
func FuzzAcceptsEventStream(f *testing.F) {
	f.Add("text/event-stream")
	f.Add("text/html,application/xhtml+xml,*/*;q=0.8")
	f.Add("text/event-stream;q=0, application/json;q=0.9")
	f.Fuzz(func(t *testing.T, accept string) {
		got := core.AcceptsEventStream(accept)
		if got && !strings.Contains(strings.ToLower(accept), "text/event-stream") {
			t.Fatalf("%q selected a stream without naming it", accept)
		}
	})
}

// FuzzLastEventID resolves arbitrary Last-Event-IDs against a hub with some
// history: no panic, and a hit only for an id the hub handed out.
func FuzzLastEventID(f *testing.F) {
	f.Add("")
	f.Add("app-7")
	f.Add("00000000-1")
	f.Add("x-18446744073709551615")
	f.Add("\x00\r\n")
	h := core.NewHub(core.WithHistory(8, time.Minute), core.WithHeartbeat(0))
	defer h.Close()
	issued := map[string]bool{}
	for i := range 12 {
		e := core.Event{Data: "x"}
		if i%3 == 0 {
			e.ID = "app-" + strconv.Itoa(i)
		}
		if _, err := h.Publish(e, "t"); err != nil {
			f.Fatal(err)
		}
		if e.ID != "" {
			issued[e.ID] = true
		}
	}
	f.Fuzz(func(t *testing.T, id string) {
		s, err := h.Subscribe(core.Subscription{Topics: []string{"t"}, LastEventID: id})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if len(s.LastEventID()) > core.MaxIDLength {
			t.Fatalf("kept %d bytes of the id", len(s.LastEventID()))
		}
		if s.Replay() == core.ReplayHit && !issued[strings.TrimSpace(id)] && !strings.Contains(id, "-") {
			t.Fatalf("hit for %q, which the hub never issued", id)
		}
	})
}
