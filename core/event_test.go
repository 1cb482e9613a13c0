package core_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/assert"
)

func TestAppendEvent_Bytes(t *testing.T) {
	tests := []struct {
		name string
		ev   core.Event
		want string
	}{
		{"empty data still dispatches", core.Event{}, "data:\n\n"},
		{"plain", core.Event{Data: "hello"}, "data: hello\n\n"},
		{"all fields", core.Event{ID: "7", Type: "tick", Data: "1", Retry: 1500 * time.Millisecond},
			"id: 7\nevent: tick\nretry: 1500\ndata: 1\n\n"},
		{"LF", core.Event{Data: "a\nb"}, "data: a\ndata: b\n\n"},
		{"CR", core.Event{Data: "a\rb"}, "data: a\ndata: b\n\n"},
		{"CRLF is one break", core.Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
		{"LFCR is two", core.Event{Data: "a\n\rb"}, "data: a\ndata:\ndata: b\n\n"},
		{"trailing LF", core.Event{Data: "a\n"}, "data: a\ndata:\n\n"},
		{"only a break", core.Event{Data: "\r\n"}, "data:\ndata:\n\n"},
		{"leading spaces survive", core.Event{Data: "  x"}, "data:   x\n\n"},
		{"injection stays inside", core.Event{Data: "x\n\ndata: injected\nevent: evil"},
			"data: x\ndata:\ndata: data: injected\ndata: event: evil\n\n"},
		{"colon in data", core.Event{Data: ":not a comment"}, "data: :not a comment\n\n"},
		{"NUL in data", core.Event{Data: "a\x00b"}, "data: a\x00b\n\n"},
		{"unicode", core.Event{Type: "ü", Data: "日本\u2028x"}, "event: ü\ndata: 日本\u2028x\n\n"},
		{"retry 0", core.Event{Data: "x", Retry: core.RetryNow}, "retry: 0\ndata: x\n\n"},
		{"id reset", core.Event{ResetID: true, Data: "x"}, "id:\ndata: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.AppendEvent([]byte("prefix|"), tt.ev)
			assert.NoError(t, err)
			assert.Equal(t, "bytes", string(got), "prefix|"+tt.want)

			var sb strings.Builder
			n, err := tt.ev.WriteTo(&sb)
			assert.NoError(t, err)
			assert.Equal(t, "WriteTo", sb.String(), tt.want)
			assert.Equal(t, "WriteTo n", n, int64(len(tt.want)))

			dec := core.NewDecoder(strings.NewReader(tt.want))
			back, err := dec.Next()
			assert.NoError(t, err)
			assert.Equal(t, "round trip", back, normalized(tt.ev))
			_, err = dec.Next()
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

// normalized is what a client receives for e: CR and CRLF arrive as LF.
func normalized(e core.Event) core.Event {
	e.Data = strings.ReplaceAll(strings.ReplaceAll(e.Data, "\r\n", "\n"), "\r", "\n")
	return e
}

func TestAppendEvent_Invalid(t *testing.T) {
	tests := []struct {
		name string
		ev   core.Event
		want error
	}{
		{"id with LF", core.Event{ID: "a\nb"}, core.ErrInvalidID},
		{"id with CR", core.Event{ID: "a\rb"}, core.ErrInvalidID},
		{"id with NUL", core.Event{ID: "a\x00b"}, core.ErrInvalidID},
		{"id not ASCII", core.Event{ID: "é"}, core.ErrInvalidID},
		{"id with leading space", core.Event{ID: " 1"}, core.ErrInvalidID},
		{"id too long", core.Event{ID: strings.Repeat("x", core.MaxIDLength+1)}, core.ErrInvalidID},
		{"type with LF", core.Event{Type: "a\nb"}, core.ErrInvalidType},
		{"type with CR", core.Event{Type: "a\r"}, core.ErrInvalidType},
		{"invalid UTF-8", core.Event{Data: "a\xffb"}, core.ErrInvalidData},
		{"reset and set id", core.Event{ID: "1", ResetID: true}, core.ErrInvalidID},
		{"negative retry other than RetryNow", core.Event{Retry: -2 * time.Millisecond}, core.ErrInvalidRetry},
		{"negative retry", core.Event{Retry: -time.Second}, core.ErrInvalidRetry},
		{"sub-millisecond retry", core.Event{Retry: 1500 * time.Microsecond}, core.ErrInvalidRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.AppendEvent([]byte("keep"), tt.ev)
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, "dst untouched", string(got), "keep")
			var sb strings.Builder
			_, err = tt.ev.WriteTo(&sb)
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, "nothing written", sb.Len(), 0)
		})
	}
}

func TestAppendEvent_MaxLengthID(t *testing.T) {
	id := strings.Repeat("x", core.MaxIDLength)
	_, err := core.AppendEvent(nil, core.Event{ID: id})
	assert.NoError(t, err)
}

func TestAppendComment(t *testing.T) {
	assert.Equal(t, "empty", string(core.AppendComment(nil, "")), ":\n")
	assert.Equal(t, "lines", string(core.AppendComment(nil, "a\r\nb")), ": a\n: b\n")
}

func TestJSONEvent(t *testing.T) {
	e, err := core.JSONEvent("user", map[string]any{"name": "a\nb"})
	assert.NoError(t, err)
	assert.Equal(t, "encoded", e.String(), "event: user\ndata: {\"name\":\"a\\nb\"}\n\n")
	_, err = core.JSONEvent("bad", func() {})
	assert.True(t, "unencodable value fails", err != nil)
}

func TestBytesAndTextEvent(t *testing.T) {
	b := []byte("x")
	e := core.BytesEvent("t", b)
	b[0] = 'y'
	assert.Equal(t, "copied", e, core.Event{Type: "t", Data: "x"})
	assert.Equal(t, "text", core.TextEvent("t", "z"), core.Event{Type: "t", Data: "z"})
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

func TestWriteTo_ReturnsWriteError(t *testing.T) {
	_, err := core.Event{Data: "x"}.WriteTo(failingWriter{})
	assert.True(t, "write error returned", err != nil && err.Error() == "boom")
}

func TestAppendEvent_NoAllocs(t *testing.T) {
	e := core.Event{ID: "12", Type: "tick", Data: "line one\nline two", Retry: time.Second}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = core.AppendEvent(buf[:0], e)
	})
	assert.Equal(t, "allocs", allocs, 0.0)
}
