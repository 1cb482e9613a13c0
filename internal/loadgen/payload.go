package loadgen

import (
	"bytes"
	"strconv"
)

// AppendPayload appends an event's data: "<seq> <sentNano> " padded with 'x'
// to size bytes (never shorter than the two numbers and their spaces).
func AppendPayload(dst []byte, seq uint64, sentNano int64, size int) []byte {
	start := len(dst)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, sentNano, 10)
	dst = append(dst, ' ')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// ParsePayload returns the seq and send time at the start of an event's data.
// ok is false when the data does not start with two numbers.
func ParsePayload(b []byte) (seq uint64, sentNano int64, ok bool) {
	seq, b, ok1 := parseUint(b)
	if !ok1 || len(b) == 0 || b[0] != ' ' {
		return 0, 0, false
	}
	ts, _, ok2 := parseUint(b[1:])
	if !ok2 {
		return 0, 0, false
	}
	return seq, int64(ts), true
}

func parseUint(b []byte) (v uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && i < 20 && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + uint64(b[i]-'0')
	}
	return v, b[i:], i > 0
}

// scanLines calls onData for each complete "data:" line of b (the value,
// without the field name, its optional space and a trailing CR) and returns
// how many bytes it consumed: up to the last LF.
func scanLines(b []byte, onData func([]byte)) int {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return start
		}
		line := b[start : start+i]
		start += i + 1
		if len(line) >= 5 && line[0] == 'd' && string(line[:5]) == "data:" {
			v := line[5:]
			if len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			if n := len(v); n > 0 && v[n-1] == '\r' {
				v = v[:n-1]
			}
			onData(v)
		}
	}
}
