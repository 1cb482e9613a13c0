package core_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

// decodeAll reads every event of stream, one byte per read, so that CRLF pairs
// and BOMs are split across reads too.
func decodeAll(t *testing.T, stream string) []core.Event {
	t.Helper()
	dec := core.NewDecoder(iotest.OneByteReader(strings.NewReader(stream)))
	var out []core.Event
	for {
		e, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		assert.NoError(t, err)
		out = append(out, e)
	}
}

func TestDecoder_Spec(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []core.Event
	}{
		{"BOM stripped once", "\xEF\xBB\xBFdata: a\n\n", []core.Event{{Data: "a"}}},
		{"second BOM is part of the field name", "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", []core.Event{{Data: "b"}}},
		{"CR endings", "data: a\rdata: b\r\r", []core.Event{{Data: "a\nb"}}},
		{"CRLF endings", "data: a\r\ndata: b\r\n\r\n", []core.Event{{Data: "a\nb"}}},
		{"mixed endings", "data: a\r\n\ndata: b\r\rdata: c\n\r\n", []core.Event{{Data: "a"}, {Data: "b"}, {Data: "c"}}},
		{"comments ignored", ": hi\ndata: a\n: there\n\n", []core.Event{{Data: "a"}}},
		{"field without colon", "data\ndata\n\n", []core.Event{{Data: "\n"}}},
		{"no space after colon", "data:a\n\n", []core.Event{{Data: "a"}}},
		{"only one space stripped", "data:  a\n\n", []core.Event{{Data: " a"}}},
		{"unknown fields ignored", "foo: bar\ndata: a\n\n", []core.Event{{Data: "a"}}},
		{"event type", "event: tick\ndata: 1\n\ndata: 2\n\n", []core.Event{{Type: "tick", Data: "1"}, {Data: "2"}}},
		{"type without data not dispatched and reset", "event: x\n\ndata: 1\n\n", []core.Event{{Data: "1"}}},
		{"last event id persists", "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
			[]core.Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}, {Data: "c", ResetID: true}}},
		{"empty id resets", "id: 1\ndata: a\n\nid:\ndata: b\n\ndata: c\n\n",
			[]core.Event{{ID: "1", Data: "a"}, {Data: "b", ResetID: true}, {Data: "c"}}},
		{"retry zero", "retry: 0\ndata: a\n\n", []core.Event{{Data: "a", Retry: core.RetryNow}}},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
			[]core.Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}}},
		{"id set by a block without data", "id: 5\n\ndata: a\n\n", []core.Event{{ID: "5", Data: "a"}}},
		{"retry digits", "retry: 2500\ndata: a\n\n", []core.Event{{Data: "a", Retry: 2500 * time.Millisecond}}},
		{"retry not digits ignored", "retry: 25x\ndata: a\n\nretry: -1\ndata: b\n\nretry: 1.5\ndata: c\n\n",
			[]core.Event{{Data: "a"}, {Data: "b"}, {Data: "c"}}},
		{"incomplete final event dropped", "data: a\n\ndata: b\n", []core.Event{{Data: "a"}}},
		{"unterminated line dropped", "data: a\n\ndata: b", []core.Event{{Data: "a"}}},
		{"invalid UTF-8 replaced per maximal subpart", "data: a\xF0\x9F\x98b\xffc\n\n", []core.Event{{Data: "a\uFFFDb\uFFFDc"}}},
		{"surrogate bytes", "data: \xED\xA0\x80\n\n", []core.Event{{Data: "\uFFFD\uFFFD\uFFFD"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, "events", decodeAll(t, tt.stream), tt.want)
		})
	}
}

func TestDecoder_RetryAndComments(t *testing.T) {
	var comments []string
	dec := core.NewDecoder(strings.NewReader("retry: 3000\n\n: ping\ndata: x\n\n"))
	dec.OnComment = func(c string) { comments = append(comments, c) }
	e, err := dec.Next()
	assert.NoError(t, err)
	assert.Equal(t, "retry-only block does not carry into the event", e, core.Event{Data: "x"})
	assert.Equal(t, "reconnection time", dec.Retry(), 3*time.Second)
	assert.Equal(t, "comments", comments, []string{" ping"})
}

func TestDecoder_DoesNotWaitForLFAfterCR(t *testing.T) {
	r, w := io.Pipe()
	dec := core.NewDecoder(r)
	go func() {
		w.Write([]byte("data: a\r\r")) // the stream pauses after a CR
	}()
	got := make(chan core.Event, 1)
	go func() {
		e, _ := dec.Next()
		got <- e
	}()
	select {
	case e := <-got:
		assert.Equal(t, "event", e, core.Event{Data: "a"})
	case <-time.After(5 * time.Second):
		t.Fatal("decoder held back a CR waiting for LF")
	}
	w.Close()
}

func TestDecoder_MaxEventSize(t *testing.T) {
	dec := core.NewDecoder(strings.NewReader("data: " + strings.Repeat("x", 100) + "\n\n"))
	dec.MaxEventSize = 50
	_, err := dec.Next()
	assert.ErrorIs(t, err, core.ErrDecodeTooLarge)

	dec = core.NewDecoder(strings.NewReader(strings.Repeat("data: xxxxxxxx\n", 20) + "\n"))
	dec.MaxEventSize = 50
	_, err = dec.Next()
	assert.ErrorIs(t, err, core.ErrDecodeTooLarge)
}

func TestDecoder_LastEventID(t *testing.T) {
	dec := core.NewDecoder(strings.NewReader("id: 9\n\n"))
	_, err := dec.Next()
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, "last id", dec.LastEventID(), "9")
}
