package core

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxIDLength is the longest event id accepted, in bytes. Ids travel back in the
// Last-Event-ID request header, so they stay short.
const MaxIDLength = 256

// Event is one server-sent event.
//
// The zero Event is valid: it encodes as a single empty "data:" line, which a
// browser dispatches as a message with empty data.
type Event struct {
	// ID is sent as the "id:" field. Leave it empty on events given to Hub.Publish
	// and the hub assigns one, so that clients can resume with Last-Event-ID.
	// An ID must be printable ASCII without leading or trailing spaces.
	ID string
	// Type is sent as the "event:" field; empty means the default type, "message".
	// It must be valid UTF-8 without CR or LF.
	Type string
	// Data is sent as one "data:" line per line; CRLF, CR and LF all end a line.
	// It must be valid UTF-8 (browsers would replace invalid bytes).
	Data string
	// Retry, when positive, is sent as the "retry:" field: how long the client waits
	// before it reconnects. It must be a whole number of milliseconds. RetryNow
	// sends "retry: 0": reconnect at once.
	Retry time.Duration
	// ResetID sends an empty "id:" field, which resets the client's last
	// event id: a browser then reconnects without Last-Event-ID. ID must be
	// empty. Hub.Publish keeps such an event out of the history, like
	// Hub.PublishLive.
	ResetID bool
}

// RetryNow, as Event.Retry, sends "retry: 0": the client reconnects at once
// when the stream ends.
const RetryNow time.Duration = -1

// TextEvent returns an event of the given type carrying text.
func TextEvent(typ, data string) Event { return Event{Type: typ, Data: data} }

// BytesEvent returns an event of the given type carrying data, copied.
func BytesEvent(typ string, data []byte) Event { return Event{Type: typ, Data: string(data)} }

// JSONEvent returns an event of the given type whose data is v encoded as JSON.
// JSON never contains a raw line break, so the data travels as one "data:" line.
func JSONEvent(typ string, v any) (Event, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Event{}, fmt.Errorf("ssehub: encode %s event as JSON: %w", typ, err)
	}
	return Event{Type: typ, Data: string(b)}, nil
}

// Validate reports whether e can be encoded without breaking the stream's framing.
// The errors wrap ErrInvalidID, ErrInvalidType, ErrInvalidData or ErrInvalidRetry.
func (e Event) Validate() error {
	if err := ValidateID(e.ID); err != nil {
		return err
	}
	if i := strings.IndexAny(e.Type, "\r\n"); i >= 0 {
		return fmt.Errorf("%w: %q contains a line break", ErrInvalidType, e.Type)
	}
	if !utf8.ValidString(e.Type) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidType, e.Type)
	}
	if !utf8.ValidString(e.Data) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidData)
	}
	if e.Retry != RetryNow && (e.Retry < 0 || e.Retry%time.Millisecond != 0) {
		return fmt.Errorf("%w: %v is not a whole, non-negative number of milliseconds (RetryNow sends 0)", ErrInvalidRetry, e.Retry)
	}
	if e.ResetID && e.ID != "" {
		return fmt.Errorf("%w: ResetID with ID %q: an id is either reset or set", ErrInvalidID, e.ID)
	}
	return nil
}

// ValidateID reports whether id may be used as an event id: empty, or printable
// ASCII of at most MaxIDLength bytes without leading or trailing spaces (HTTP
// trims those from the Last-Event-ID header the id comes back in).
// The error wraps ErrInvalidID.
func ValidateID(id string) error {
	if len(id) > MaxIDLength {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidID, len(id), MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: %q contains byte %#02x; ids must be printable ASCII", ErrInvalidID, id, c)
		}
	}
	if id != "" && (id[0] == ' ' || id[len(id)-1] == ' ') {
		return fmt.Errorf("%w: %q has leading or trailing spaces", ErrInvalidID, id)
	}
	return nil
}

// AppendEvent appends the encoding of e to dst and returns the extended buffer.
// If e is invalid (see Event.Validate) it returns dst unchanged and the error:
// a broken frame is never produced. It allocates only when dst must grow.
func AppendEvent(dst []byte, e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	return appendValidEvent(dst, e), nil
}

func appendValidEvent(dst []byte, e Event) []byte {
	if e.ID != "" {
		dst = appendField(dst, "id: ", e.ID)
	} else if e.ResetID {
		dst = append(dst, "id:\n"...)
	}
	if e.Type != "" {
		dst = appendField(dst, "event: ", e.Type)
	}
	if e.Retry != 0 {
		dst = appendRetry(dst, e.Retry)
	}
	dst = appendLines(dst, "data:", e.Data)
	return append(dst, '\n')
}

// appendRetry appends the "retry:" field for d (RetryNow: 0).
func appendRetry(dst []byte, d time.Duration) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, max(int64(d/time.Millisecond), 0), 10)
	return append(dst, '\n')
}

// AppendComment appends text as comment lines (": text"), one per line of text.
// Clients ignore comments; they keep idle connections open through proxies.
func AppendComment(dst []byte, text string) []byte {
	return appendLines(dst, ":", text)
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, value...)
	return append(dst, '\n')
}

// appendLines writes prefix+" "+line for every line of text, splitting on CRLF,
// CR and LF as the WHATWG parser does, and a bare prefix for an empty line. The
// space is always written before a non-empty line because the parser strips
// exactly one, so a line that starts with spaces keeps them.
func appendLines(dst []byte, prefix, text string) []byte {
	// Search LF and CR with IndexByte (vectorised), remembering where the
	// next of each is, so that the whole text is scanned about once.
	nextLF, nextCR := -2, -2 // -2: not searched yet; -1: none left
	for pos := 0; ; {
		if nextLF != -1 && nextLF < pos {
			nextLF = indexFrom(text, '\n', pos)
		}
		if nextCR != -1 && nextCR < pos {
			nextCR = indexFrom(text, '\r', pos)
		}
		end := nextLF
		if end < 0 || (nextCR >= 0 && nextCR < end) {
			end = nextCR
		}
		line := text[pos:]
		if end >= 0 {
			line = text[pos:end]
		}
		dst = append(dst, prefix...)
		if line != "" {
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if end < 0 {
			return dst
		}
		pos = end + 1
		if text[end] == '\r' && pos < len(text) && text[pos] == '\n' {
			pos++
		}
	}
}

// indexFrom is strings.IndexByte from pos on, as an index into s.
func indexFrom(s string, c byte, pos int) int {
	if i := strings.IndexByte(s[pos:], c); i >= 0 {
		return pos + i
	}
	return -1
}

// WriteTo writes the encoding of e to w. It implements io.WriterTo and returns
// the validation error (writing nothing) or the first write error.
func (e Event) WriteTo(w io.Writer) (int64, error) {
	var stack [512]byte
	b, err := AppendEvent(stack[:0], e)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// String returns the encoded event, or "<invalid event: ...>".
func (e Event) String() string {
	b, err := AppendEvent(nil, e)
	if err != nil {
		return "<invalid event: " + err.Error() + ">"
	}
	return string(b)
}
