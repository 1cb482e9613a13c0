package ssetest

import (
	"context"
	"log/slog"
	"sync"
)

// Logs is a slog.Handler that keeps every record, for tests of what a hub
// or broker logs: slog.New(&Logs{}).
type Logs struct {
	mu      sync.Mutex
	records []LogRecord
}

// A LogRecord is one record: its level, message and attributes as text.
type LogRecord struct {
	Level  slog.Level
	Msg    string
	Fields map[string]string
}

func (l *Logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *Logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *Logs) WithGroup(string) slog.Handler            { return l }

func (l *Logs) Handle(_ context.Context, r slog.Record) error {
	rec := LogRecord{Level: r.Level, Msg: r.Message, Fields: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.Fields[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.mu.Unlock()
	return nil
}

// At returns the records of level, in order.
func (l *Logs) At(level slog.Level) []LogRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LogRecord
	for _, r := range l.records {
		if r.Level == level {
			out = append(out, r)
		}
	}
	return out
}

// Has reports whether a record of level with message msg was logged.
func (l *Logs) Has(level slog.Level, msg string) bool {
	for _, r := range l.At(level) {
		if r.Msg == msg {
			return true
		}
	}
	return false
}
