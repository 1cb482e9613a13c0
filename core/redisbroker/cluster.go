package redisbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
)

// The Broker is a core.Cluster: hubs on one Redis count each other's streams
// (core.WithPresence) and end each other's streams (core.Hub.End).
//
// Counts. Each instance keeps its count of a topic in a hash field of its own
// ("{prefix}:n:<topic>", field: the instance) and its liveness in a sorted
// set ("{prefix}:alive", score: until when, by Redis's clock). It renews its
// liveness every presenceTTL/3; a count counts only while its instance is
// alive, so an instance that dies stops counting within presenceTTL, with
// nobody cleaning up (a count of a dead instance is dropped when next read).
// A Redis that restarted and lost the counts has them again within a renewal,
// which writes them all anew. Changes reach the other instances at once, as a
// Pub/Sub message; hubs also recount every few seconds, which is what makes a
// dead instance's streams leave their counts.
//
// Ends. Hub.End publishes the Selector on the same channel; every instance
// ends its matching streams. An instance cut off from Redis at that moment
// misses it, which is why an app must also refuse the ended client in its
// topic function (the browser then stops reconnecting).
var _ core.Cluster = (*Broker)(nil)

// presenceTTL is how long an instance's counts last without renewal.
const presenceTTL = 6 * time.Second

// cluster is the Broker's state as a core.Cluster.
type cluster struct {
	write sync.Mutex // held over each write of this instance's counts to Redis, so that they land in order

	mu      sync.Mutex
	joined  bool
	end     func(core.Selector)
	recount func(string)
	counts  map[string]int // this instance's, as last set (0s removed)
}

// The Pub/Sub channel's messages: "c <instance> <topic>", a count changed;
// "e <instance> <selector as JSON>", an End.
func (b *Broker) channel() string { return "{" + b.cfg.prefix + "}:ctl" }
func (b *Broker) kAlive() string  { return "{" + b.cfg.prefix + "}:alive" }
func (b *Broker) kCount(topic string) string {
	return "{" + b.cfg.prefix + "}:n:" + topic
}

// setCountScript records ARGV[2] streams of instance ARGV[1] in hash KEYS[1]
// (removing the field at 0), renews the instance's liveness in KEYS[2] by
// ARGV[3] ms from Redis's clock, and tells the others on channel ARGV[4].
var setCountScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '0' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// countScript sums the counts in hash KEYS[1] of the instances alive in
// KEYS[2], and drops the others' fields.
var countScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HGETALL', KEYS[1])
local sum = 0
for i = 1, #h, 2 do
  local alive = redis.call('ZSCORE', KEYS[2], h[i])
  if alive and tonumber(alive) >= now then
    sum = sum + tonumber(h[i + 1])
  else
    redis.call('HDEL', KEYS[1], h[i])
  end
end
return sum
`)

// renewScript renews instance ARGV[1]'s liveness in KEYS[1] by ARGV[2] ms,
// drops the instances that have expired, and writes the instance's counts
// anew: ARGV[i+1] in the hash KEYS[i], for i from 2.
var renewScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[1], ARGV[i + 1])
end
return 1
`)

// Join subscribes to the cluster's channel and starts renewing this
// instance's liveness. It is called once, by core.NewHub, after Start.
func (b *Broker) Join(end func(core.Selector), recount func(topic string)) error {
	b.cl.mu.Lock()
	defer b.cl.mu.Unlock()
	if b.cl.joined {
		return errorf("Join called twice")
	}
	b.cl.joined, b.cl.end, b.cl.recount = true, end, recount
	b.cl.counts = map[string]int{}
	ps := b.pub.Subscribe(b.ctx, b.channel()) // go-redis resubscribes after a lost connection
	b.wg.Add(2)
	go b.listen(ps)
	go b.renew()
	return nil
}

// listen hands the cluster's messages to the hub until Close.
func (b *Broker) listen(ps *redis.PubSub) {
	defer b.wg.Done()
	defer ps.Close()
	msgs := ps.Channel()
	for {
		select {
		case <-b.done:
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			b.handle(m.Payload)
		}
	}
}

func (b *Broker) handle(payload string) {
	kind, rest, _ := strings.Cut(payload, " ")
	from, body, _ := strings.Cut(rest, " ")
	if from == b.inst {
		return // this instance acted on its own message already
	}
	b.cl.mu.Lock()
	end, recount := b.cl.end, b.cl.recount
	b.cl.mu.Unlock()
	switch kind {
	case "c":
		recount(body)
	case "e":
		var sel core.Selector
		if json.Unmarshal([]byte(body), &sel) == nil {
			end(sel)
		}
	}
}

// renew renews this instance's liveness and counts every presenceTTL/3
// until Close.
func (b *Broker) renew() {
	defer b.wg.Done()
	t := time.NewTicker(presenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
		}
		b.cl.write.Lock()
		b.cl.mu.Lock()
		keys := []string{b.kAlive()}
		args := []any{b.inst, presenceTTL.Milliseconds()}
		for topic, n := range b.cl.counts {
			keys = append(keys, b.kCount(topic))
			args = append(args, n)
		}
		b.cl.mu.Unlock()
		ctx, cancel := context.WithTimeout(b.ctx, presenceTTL/3)
		if err := renewScript.Run(ctx, b.pub, keys, args...).Err(); err != nil && b.ctx.Err() == nil {
			b.setErr(err)
		}
		cancel()
		b.cl.write.Unlock()
	}
}

// SetCount records that this instance has n streams on topic.
func (b *Broker) SetCount(ctx context.Context, topic string, n int) error {
	b.cl.write.Lock() // else a renew that copied the counts before may write the old n after
	defer b.cl.write.Unlock()
	b.cl.mu.Lock()
	if n > 0 {
		b.cl.counts[topic] = n
	} else {
		delete(b.cl.counts, topic)
	}
	b.cl.mu.Unlock()
	err := setCountScript.Run(ctx, b.pub, []string{b.kCount(topic), b.kAlive()},
		b.inst, n, presenceTTL.Milliseconds(), b.channel(), "c "+b.inst+" "+topic).Err()
	if err != nil {
		return errorf("set count: %w", wrapUnavailable(err))
	}
	return nil
}

// Count returns the streams on topic across every live instance.
func (b *Broker) Count(ctx context.Context, topic string) (int, error) {
	n, err := countScript.Run(ctx, b.pub, []string{b.kCount(topic), b.kAlive()}).Int()
	if err != nil {
		return 0, errorf("count: %w", wrapUnavailable(err))
	}
	return n, nil
}

// End ends the streams sel selects on this instance at once, and asks every
// other instance to.
func (b *Broker) End(ctx context.Context, sel core.Selector) error {
	b.cl.mu.Lock()
	end := b.cl.end
	b.cl.mu.Unlock()
	if end == nil {
		return errorf("End before Join")
	}
	end(sel)
	body, _ := json.Marshal(sel)
	if err := b.pub.Publish(ctx, b.channel(), "e "+b.inst+" "+string(body)).Err(); err != nil {
		return errorf("end: %w", wrapUnavailable(err))
	}
	return nil
}

// leave removes this instance's counts and liveness, and tells the others,
// when the broker closes: they count without it at once.
func (b *Broker) leave() {
	b.cl.mu.Lock()
	topics := make([]string, 0, len(b.cl.counts))
	for t := range b.cl.counts {
		topics = append(topics, t)
	}
	joined := b.cl.joined
	b.cl.mu.Unlock()
	if !joined {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	pipe := b.pub.Pipeline()
	pipe.ZRem(ctx, b.kAlive(), b.inst)
	for _, t := range topics {
		pipe.HDel(ctx, b.kCount(t), b.inst)
		pipe.Publish(ctx, b.channel(), "c "+b.inst+" "+t)
	}
	pipe.Exec(ctx) // with Redis away there is nothing to tidy; the counts expire
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("redisbroker: "+format, args...)
}

// wrapUnavailable makes a Redis error match ErrUnavailable.
func wrapUnavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
