package redisbroker

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// An Option configures a Broker. New and NewFromClient apply the options and
// panic on a value that can only be a mistake, with a message starting
// "redisbroker: ".
type Option func(*config)

type config struct {
	prefix     string
	maxLen     int64
	ttl        time.Duration
	block      time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	logger     *slog.Logger
}

func defaultConfig() config {
	return config{
		prefix:     "ssehub",
		maxLen:     10000,
		ttl:        24 * time.Hour,
		block:      5 * time.Second,
		minBackoff: 100 * time.Millisecond,
		maxBackoff: 5 * time.Second,
		logger:     slog.New(slog.DiscardHandler),
	}
}

// WithPrefix sets the namespace of the broker's keys: every key is
// "{prefix}:...", one Redis Cluster hash tag, so that the publish script and
// the reader's MULTI/EXEC and XREAD, which touch several keys at once, run on
// one node. Brokers share events only with brokers of the same prefix. The
// prefix must not contain '{' or '}' (they would change the hash tag) nor
// control bytes.
// Default: "ssehub".
func WithPrefix(prefix string) Option {
	if prefix == "" {
		panic("redisbroker: WithPrefix: empty prefix")
	}
	if strings.ContainsAny(prefix, "{}") {
		panic(fmt.Sprintf("redisbroker: WithPrefix: %q contains a brace, which would break the hash tag", prefix))
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; c < 0x20 || c == 0x7f {
			panic(fmt.Sprintf("redisbroker: WithPrefix: %q contains control byte %#02x", prefix, c))
		}
	}
	return func(c *config) { c.prefix = prefix }
}

// WithMaxLen bounds each topic's stream to about n entries (XADD MAXLEN ~ n,
// once per stream in each batch of publishes): how far back a subscribing hub
// can fill its history, and how long an instance may be cut off from Redis
// and still receive every event it missed.
// Keep it at least the hubs' history size (core.WithHistory). Redis trims in
// whole macro nodes, so a stream may hold somewhat more than n. An entry holds
// one event, or up to 32 that were published in one Redis call (see "Data
// model" in the package doc): a stream keeps at least n events, and under
// load up to 32 times as many.
// Default: 10000.
func WithMaxLen(n int64) Option {
	if n <= 0 {
		panic(fmt.Sprintf("redisbroker: WithMaxLen must be positive, got %d", n))
	}
	return func(c *config) { c.maxLen = n }
}

// WithStreamTTL sets how long a topic's stream outlives its last event: each
// publish refreshes the expiry, so topics that fall silent leave no keys
// behind. Zero keeps streams forever (they stay bounded by WithMaxLen, but
// their number grows with the topics ever used).
// Default: 24h.
func WithStreamTTL(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("redisbroker: WithStreamTTL must not be negative, got %v", d))
	}
	if d != 0 && d < time.Millisecond {
		panic(fmt.Sprintf("redisbroker: WithStreamTTL below a millisecond: %v", d))
	}
	return func(c *config) { c.ttl = d }
}

// WithBlock sets how long the reader's XREAD waits for events before it
// returns empty. The reader then reads a round anyway, which checks the epoch
// (see "Ids and epochs" in the package doc): so d also bounds how long a
// FLUSHALL behind the broker's back goes unnoticed while nothing is published,
// and how late a new subscription's events may come if its wake-up failed.
// Default: 5s.
func WithBlock(d time.Duration) Option {
	if d < 10*time.Millisecond {
		panic(fmt.Sprintf("redisbroker: WithBlock must be at least 10ms, got %v", d))
	}
	return func(c *config) { c.block = d }
}

// WithBackoff sets the reader's reconnect delays after it loses Redis: min
// after the first failure, doubling up to max, each with random jitter.
// Default: 100ms, 5s.
func WithBackoff(min, max time.Duration) Option {
	if min <= 0 || max < min {
		panic(fmt.Sprintf("redisbroker: WithBackoff needs 0 < min <= max, got %v, %v", min, max))
	}
	return func(c *config) { c.minBackoff, c.maxBackoff = min, max }
}

// WithLogger sets where the broker reports lost and regained connections
// (Warn, Info) and data loss in Redis (Warn).
// Default: silent.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("redisbroker: WithLogger: nil logger")
	}
	return func(c *config) { c.logger = l }
}
