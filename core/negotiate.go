package core

import "strings"

// Bounds on the Accept header work: a client cannot make negotiation costly.
const (
	maxAcceptLen     = 8 << 10
	maxAcceptEntries = 64
)

// AcceptsEventStream reports whether an Accept header selects an event stream:
// it names text/event-stream explicitly with a q-value above zero, and no
// other explicit media type is preferred to it. Wildcards never select it, so
// a browser's page load (… */*;q=0.8) and fetch's default (*/*) get the
// normal handler. Malformed entries are ignored; only the first 8 KiB and 64
// entries are read.
func AcceptsEventStream(accept string) bool {
	if len(accept) > maxAcceptLen {
		accept = accept[:maxAcceptLen]
	}
	sseQ, otherQ := -1, -1
	for n := 0; accept != "" && n < maxAcceptEntries; n++ {
		var item string
		item, accept, _ = strings.Cut(accept, ",")
		mediaType, params, _ := strings.Cut(item, ";")
		mediaType = strings.TrimSpace(mediaType)
		q, ok := qValue(params)
		if !ok || mediaType == "" {
			continue
		}
		switch {
		case strings.EqualFold(mediaType, "text/event-stream"):
			sseQ = max(sseQ, q)
		case strings.HasSuffix(mediaType, "/*"):
			// wildcards accept anything, and prefer nothing
		default:
			otherQ = max(otherQ, q)
		}
	}
	return sseQ > 0 && sseQ >= otherQ
}

// qValue finds the q parameter among ";"-separated params and returns it in
// thousandths (1000 when absent). ok is false for a malformed q-value.
func qValue(params string) (q int, ok bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		return parseQ(strings.TrimSpace(value))
	}
	return 1000, true
}

// parseQ parses an RFC 9110 qvalue: 0, 1, or either with up to three decimals
// (1 only with zeros).
func parseQ(s string) (int, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return whole, true
	}
	if s[1] != '.' {
		return 0, false
	}
	frac, scale := 0, 100
	for _, c := range s[2:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		frac += int(c-'0') * scale
		scale /= 10
	}
	if whole == 1000 && frac != 0 {
		return 0, false
	}
	return whole + frac, true
}
