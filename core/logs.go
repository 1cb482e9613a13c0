package core

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// What the hub logs, and at which level, is WithLogger's contract. Faults go
// out at Warn through a limiter per kind, since a flood of them (clients
// cut off together, a refused crowd) must not turn into a flood of lines.

// A warnKind is one kind of fault the hub warns about.
type warnKind int

const (
	warnWriteTimeout warnKind = iota
	warnLagged
	warnHubFull
	warnClientFull
	warnTooManyTopics
	warnBrokerFailed
	warnBrokerLost
	warnBrokerEvent
	warnPanic
	warnKinds

	noWarn warnKind = -1 // not a fault
)

// warnEvery is the shortest time between two Warn lines of one kind.
const warnEvery = 10 * time.Second

// slowClientsWarnAt is how many write timeouts, or lagged streams, within
// warnEvery make a Warn line: one client on a bad network is no fault of the
// server's, ten at once point to the network or the hub.
const slowClientsWarnAt = 10

// warnAt returns how many faults of kind k within warnEvery make a line.
func (k warnKind) warnAt() int {
	if k == warnWriteTimeout || k == warnLagged {
		return slowClientsWarnAt
	}
	return 1
}

// A warnLimiter lets a Warn line of its kind through at most once per
// warnEvery, and only once enough faults fell within one window.
type warnLimiter struct {
	mu       sync.Mutex
	window   time.Time // start of the current window
	inWindow int       // faults since window
	since    int       // faults since the last line
	last     time.Time // when the last line went out
}

// allow counts one fault at now and reports whether to log it, with how many
// faults of its kind there were since the previous line, this one included.
func (l *warnLimiter) allow(now time.Time, warnAt int) (count int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= warnEvery {
		l.window, l.inWindow = now, 0
	}
	l.inWindow++
	l.since++
	if l.inWindow < warnAt || (!l.last.IsZero() && now.Sub(l.last) < warnEvery) {
		return 0, false
	}
	count, l.since, l.last = l.since, 0, now
	return count, true
}

// warn logs a fault of kind k at Warn, unless its limiter holds it back; the
// line says how many there were since the last one ("count").
func (h *Hub) warn(k warnKind, msg string, args ...any) {
	l := h.opt.logger
	if !l.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	if n, ok := h.warns[k].allow(time.Now(), k.warnAt()); ok {
		l.Warn(msg, append(args, "count", n)...)
	}
}

// debug logs a step of the hub's or a stream's life.
func (h *Hub) debug(msg string, args ...any) {
	if l := h.opt.logger; l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug(msg, args...)
	}
}
