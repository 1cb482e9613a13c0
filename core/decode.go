package core

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// DefaultMaxDecodeSize is the default Decoder.MaxEventSize.
const DefaultMaxDecodeSize = 16 << 20

// ErrDecodeTooLarge is returned by Decoder.Next for a line or event larger than MaxEventSize.
var ErrDecodeTooLarge = errors.New("ssehub: decoded event too large")

// A Decoder reads events from a text/event-stream, as a browser's EventSource
// does: it implements the client side of the WHATWG HTML "Server-sent events"
// section (interpretation of the event stream). Use it to read streams in tests
// and Go clients.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxEventSize bounds one line and one event's data, in bytes.
	// Default: DefaultMaxDecodeSize.
	MaxEventSize int
	// OnComment, if set, is called with the text of each comment line, without
	// the leading colon.
	OnComment func(text string)

	r           *bufio.Reader
	started     bool // BOM handled
	skipLF      bool // last line ended in CR: a following LF belongs to it
	line        []byte
	data        []byte
	hasData     bool
	typ         string
	lastEventID string
	retry       time.Duration // reconnection time, as set by the stream
	pendRetry   time.Duration // retry seen since the last blank line (RetryNow: 0)
	pendID      bool          // an id field seen since the last blank line
}

// NewDecoder returns a Decoder that reads from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 4096)}
}

// Next returns the next dispatched event. As in a browser:
//   - Event.ID is the last event ID, which persists across events until a
//     stream sets another;
//   - Event.Type is empty when the stream named none (clients call it "message");
//   - CR and CRLF in data arrive as LF; invalid UTF-8 becomes U+FFFD;
//   - blocks without a data field are not dispatched, and an event cut off by
//     the end of the stream is discarded.
//
// Event.Retry is the last valid "retry:" field of the event's block, if any
// (RetryNow for 0), and Event.ResetID is set when the block's id field reset
// the last event ID to empty. At the end of the stream Next returns io.EOF.
func (d *Decoder) Next() (Event, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := d.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			if d.OnComment != nil {
				d.OnComment(decodeUTF8(line[1:]))
			}
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if err := d.field(string(field), value); err != nil {
			return Event{}, err
		}
	}
}

// LastEventID returns the stream's current last event ID: what a browser would
// send as Last-Event-ID when it reconnects.
func (d *Decoder) LastEventID() string { return d.lastEventID }

// Retry returns the reconnection time the stream last set, or 0.
func (d *Decoder) Retry() time.Duration { return d.retry }

func (d *Decoder) field(name string, value []byte) error {
	switch name {
	case "event":
		d.typ = decodeUTF8(value)
	case "data":
		if len(d.data)+len(value)+1 > d.max() {
			return fmt.Errorf("%w: more than %d bytes of data", ErrDecodeTooLarge, d.max())
		}
		d.data = append(d.data, value...)
		d.data = append(d.data, '\n')
		d.hasData = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			d.lastEventID = decodeUTF8(value)
			d.pendID = true
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			d.retry = time.Duration(ms) * time.Millisecond
			d.pendRetry = d.retry
			if ms == 0 {
				d.pendRetry = RetryNow
			}
		}
	}
	return nil
}

func (d *Decoder) dispatch() (Event, bool) {
	retry, reset := d.pendRetry, d.pendID && d.lastEventID == ""
	d.pendRetry, d.pendID = 0, false
	if !d.hasData {
		d.typ = ""
		return Event{}, false
	}
	data := d.data[:len(d.data)-1] // the spec removes the last LF
	ev := Event{ID: d.lastEventID, Type: d.typ, Data: decodeUTF8(data), Retry: retry, ResetID: reset}
	d.data, d.hasData, d.typ = d.data[:0], false, ""
	return ev, true
}

// readLine returns the next line without its ending. Lines end in CRLF, LF or
// CR; a CR is not held back waiting for an LF, so a stream that ends its lines
// with CR never stalls.
func (d *Decoder) readLine() ([]byte, error) {
	if !d.started {
		d.started = true
		// Peek(3) only when a BOM may follow, so a live stream never waits for it.
		if b, err := d.r.Peek(1); err == nil && b[0] == 0xEF {
			if b, err := d.r.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
				d.r.Discard(3)
			}
		}
	}
	d.line = d.line[:0]
	for {
		if _, err := d.r.Peek(1); err != nil {
			return nil, err // at io.EOF an unterminated line is discarded, as browsers do
		}
		chunk, _ := d.r.Peek(d.r.Buffered())
		if d.skipLF {
			d.skipLF = false
			if chunk[0] == '\n' {
				d.r.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(chunk, "\r\n")
		if i < 0 {
			d.line = append(d.line, chunk...)
			d.r.Discard(len(chunk))
		} else {
			d.line = append(d.line, chunk[:i]...)
			d.skipLF = chunk[i] == '\r'
			d.r.Discard(i + 1)
		}
		if len(d.line) > d.max() {
			return nil, fmt.Errorf("%w: a line of more than %d bytes", ErrDecodeTooLarge, d.max())
		}
		if i >= 0 {
			return d.line, nil
		}
	}
}

func (d *Decoder) max() int {
	if d.MaxEventSize > 0 {
		return d.MaxEventSize
	}
	return DefaultMaxDecodeSize
}

// parseDigits parses a retry value: ASCII digits only, as the spec requires.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// decodeUTF8 decodes b as the WHATWG UTF-8 decoder does: each maximal invalid
// subpart becomes one U+FFFD.
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			out = append(out, b[:size]...)
			b = b[size:]
			continue
		}
		out = utf8.AppendRune(out, utf8.RuneError)
		b = b[maximalSubpart(b):]
	}
	return string(out)
}

// maximalSubpart returns the length of the invalid sequence at the start of b:
// a lead byte followed by as many continuation bytes as stay valid for it.
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c >= 0xE0 && c <= 0xEF:
		need = 2
		if c == 0xE0 {
			lo = 0xA0
		} else if c == 0xED {
			hi = 0x9F
		}
	case c >= 0xF0 && c <= 0xF4:
		need = 3
		if c == 0xF0 {
			lo = 0x90
		} else if c == 0xF4 {
			hi = 0x8F
		}
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}
