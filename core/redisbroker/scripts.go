package redisbroker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core"
)

// checkEpoch starts every script that reads or writes events. The meta hash
// holds epoch (a random tag), seq (the last event's number), base (seq when
// the epoch began) and rid (the replication id of the server that last ran
// one of these scripts). A new epoch begins when
//   - the hash is gone: Redis lost its data;
//   - it holds a seq below what this instance has seen in the same epoch
//     (ARGV[3]): Redis came back from an older snapshot;
//   - the server is a replica promoted since the hash was last written here:
//     its previous replication id (master_replid2) is the one recorded. Its
//     copy may lack events the old primary acknowledged (replication is
//     asynchronous), and no instance can tell which ones, as the instance
//     that saw them may reconnect last: going on in the same epoch could give
//     a number a second event.
//
// Either way the numbers it is about to hand out were, or may have been,
// handed out before, so a new epoch begins: the wire id carries the tag, and
// an id from before is never taken for a new one. A server restarted from its
// own AOF has a new replication id but no previous one: it keeps the epoch
// unless its seq went back.
//
// ARGV[1]: a fresh tag; ARGV[2]: the epoch the caller knows; ARGV[3]: the
// highest seq the caller has seen in it.
const checkEpoch = `
local meta = KEYS[1]
local m = redis.call('HMGET', meta, 'epoch', 'seq', 'rid')
local e, seq, was = m[1], tonumber(m[2] or '0'), m[3]
local info = redis.call('INFO', 'replication')
local rid = string.match(info, 'master_replid:(%w+)') or ''
local promoted = was and was ~= rid and was == string.match(info, 'master_replid2:(%w+)')
if not e or (e == ARGV[2] and seq < tonumber(ARGV[3])) or promoted then
  e = ARGV[1]
  redis.call('HSET', meta, 'epoch', e, 'base', string.format('%d', seq), 'seq', string.format('%d', seq), 'rid', rid)
elseif was ~= rid then
  redis.call('HSET', meta, 'rid', rid)
end
`

// syncScript returns {epoch, base, seq}, starting an epoch if need be.
var syncScript = redis.NewScript(checkEpoch + `
return {e, redis.call('HGET', meta, 'base'), string.format('%d', seq)}
`)

// publishScript numbers a batch of events and adds them to the streams of
// their topics, in one atomic step: one global order, one id per event on all
// its topics. It moves seq once for the batch; each stream gets one entry for
// up to maxEntryEvents of the batch's events (see "Data model" in the package
// doc), whose stream id "<seq>-0" is the seq of its last event. A stream's
// last entry of the batch trims it, and each stream's TTL is refreshed once.
//
// ARGV[4]: MAXLEN; ARGV[5]: TTL in ms (0: none); ARGV[6]: the number of
// events. Then, for each entry in order: the index of its stream in KEYS
// (KEYS[2:] holds the batch's streams, each once), negative when the entry
// trims the stream; the offset of its last event in the batch (0 for the
// first event); the number of that event's field arguments; the entry's
// other events, packed (see appendPacked), or ""; and the last event's fields
// and values (see fieldArgs). The script adds the epoch, "e", and with packed
// events the seq of the batch's first event, "s". It returns {epoch, seq of
// the first event}. It runs through runOnce, never retried.
var publishScript = newScript(checkEpoch + `
local maxlen, ttl, n = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local first = redis.call('HINCRBY', meta, 'seq', n) - n + 1
local s = string.format('%d', first)
local a = 7
while a <= #ARGV do
  local key, nf, packed = tonumber(ARGV[a]), tonumber(ARGV[a + 2]), ARGV[a + 3]
  local x = {KEYS[math.abs(key)]}
  if key < 0 then
    x[2], x[3], x[4] = 'MAXLEN', '~', maxlen
  end
  x[#x + 1] = string.format('%d-0', first + tonumber(ARGV[a + 1]))
  x[#x + 1], x[#x + 2] = 'e', e
  if packed ~= '' then
    x[#x + 1], x[#x + 2], x[#x + 3], x[#x + 4] = 's', s, 'b', packed
  end
  for i = a + 4, a + 3 + nf do x[#x + 1] = ARGV[i] end
  redis.call('XADD', unpack(x))
  a = a + 4 + nf
end
if ttl > 0 then
  for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end
end
return {e, s}
`)

// A script is a redis.Script that keeps its source, for runOnce's EVAL.
type script struct {
	*redis.Script
	src string
}

func newScript(src string) script { return script{redis.NewScript(src), src} }

// runOnce runs s on c exactly as Script.Run does (EVALSHA, then EVAL if Redis
// does not have the script cached), except that go-redis never retries it,
// whatever the client's MaxRetries: a retry after a lost reply would run the
// script twice. NOSCRIPT means it did not run, so the EVAL is no retry.
func runOnce(ctx context.Context, c redis.UniversalClient, s script, keys []string, args ...any) (any, error) {
	argv := make([]any, 0, 3+len(keys)+len(args))
	argv = append(argv, "evalsha", s.Hash(), len(keys))
	for _, k := range keys {
		argv = append(argv, k)
	}
	argv = append(argv, args...)
	cmd := noRetry{redis.NewCmd(ctx, argv...)}
	_ = c.Process(ctx, cmd)
	if err := cmd.Err(); errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT") {
		argv[0], argv[1] = "eval", s.src
		cmd = noRetry{redis.NewCmd(ctx, argv...)}
		_ = c.Process(ctx, cmd)
	}
	return cmd.Result()
}

// noRetry is a command go-redis runs at most once: its retry loops check
// NoRetry (for commands that must not run twice) before they try again.
type noRetry struct{ *redis.Cmd }

func (noRetry) NoRetry() bool { return true }

// historyScript returns the newest ARGV[3] entries of stream KEYS[2] up to id
// ARGV[2], newest first, or nil when the epoch is no longer ARGV[1]: then the
// caller's position means nothing in this Redis.
var historyScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return false end
return redis.call('XREVRANGE', KEYS[2], ARGV[2], '-', 'COUNT', ARGV[3])
`)

// An entry is one event as a stream holds it: a stream entry's own, or one
// packed in it (see unpack).
type entry struct {
	seq   uint64
	epoch string // "e": the epoch it was published in
	id    string // "i": the app's id, if it set one
	typ   string // "y"
	data  string // "d"
	retry int64  // "r": milliseconds, -1 for none
	flags string // "f": l live (no id, no replay), c comment, x id reset
	pub   int64  // "p": Message.PublishedAt, unix nanoseconds; absent (0) in entries of older versions
}

// wireID is the id clients see of an event with the app's id (if any) and
// seq: the app's, "<epoch>-<seq>", or none for a live event. Epoch tags are
// ten characters, so these ids never parse as a hub's own ("<8 chars>-<seq>").
func wireID(id string, live bool, epoch string, seq uint64) string {
	switch {
	case id != "":
		return id
	case live:
		return ""
	}
	return epoch + "-" + strconv.FormatUint(seq, 10)
}

// eachField calls f with each field of m's entry but the epoch, as a key
// and a value: the one place that writes what entry.set reads.
func eachField(m core.Message, f func(k byte, v string)) {
	f('d', m.Event.Data)
	if m.ID != "" {
		f('i', m.ID)
	}
	if m.Event.Type != "" {
		f('y', m.Event.Type)
	}
	if r := retryArg(m.Event.Retry); r != "" {
		f('r', r)
	}
	if fl := flagsOf(m); fl != "" {
		f('f', fl)
	}
	if !m.PublishedAt.IsZero() {
		f('p', strconv.FormatInt(m.PublishedAt.UnixNano(), 10))
	}
}

// fieldKeys are the one-letter field names, as strings, by letter.
var fieldKeys = func() (k [128]string) {
	for _, c := range "diyrfp" {
		k[c] = string(c)
	}
	return k
}()

// fieldArgs appends m's fields (eachField) as field, value arguments.
func fieldArgs(args []any, m core.Message) []any {
	eachField(m, func(k byte, v string) { args = append(args, fieldKeys[k], v) })
	return args
}

// appendPacked appends m to an entry's packed events ("b"): gap, the number
// of seqs between m's and the previous packed event's (or the batch's first
// seq, "s"), then each field as its letter, the value's length and the
// value, then a 0 byte. Gaps and lengths are uvarints.
func appendPacked(b []byte, gap int, m core.Message) []byte {
	b = binary.AppendUvarint(b, uint64(gap))
	eachField(m, func(k byte, v string) {
		b = append(b, k)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	})
	return append(b, 0)
}

// uvarint is binary.Uvarint on a string.
func uvarint(s string) (uint64, int) {
	return binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
}

// errMalformed: the entry of seq last holds packed events that do not parse.
type errMalformed struct{ last uint64 }

func (e errMalformed) Error() string {
	return fmt.Sprintf("redisbroker: the entry of seq %d holds malformed packed events", e.last)
}

// unpack appends the events packed in an entry to out, in order: their seqs
// are first plus their offsets, rising, and below last, the seq of the
// entry's own event. Their values are substrings of packed.
func unpack(out []entry, packed string, first, last uint64, epoch string) ([]entry, error) {
	bad := errMalformed{last}
	if first >= last {
		return nil, bad
	}
	next := first // the lowest seq the next event may have
	for len(packed) > 0 {
		off, n := uvarint(packed)
		if n <= 0 || off >= last-next {
			return nil, bad
		}
		packed = packed[n:]
		e := entry{seq: next + off, epoch: epoch, retry: -1}
		for {
			if len(packed) == 0 {
				return nil, bad
			}
			k := packed[0]
			packed = packed[1:]
			if k == 0 {
				break
			}
			size, n := uvarint(packed)
			if n <= 0 || size > uint64(len(packed)-n) {
				return nil, bad
			}
			e.set(k, packed[n:n+int(size)])
			packed = packed[n+int(size):]
		}
		out = append(out, e)
		next = e.seq + 1
	}
	return out, nil
}

// flagsOf encodes what an entry's "f" field says of m.
func flagsOf(m core.Message) string {
	var f []byte
	if m.Live {
		f = append(f, 'l')
	}
	if m.Comment {
		f = append(f, 'c')
	}
	if m.Event.ResetID {
		f = append(f, 'x')
	}
	return string(f)
}

// retryArg is the "r" field for d: none, or milliseconds (core.RetryNow: 0).
func retryArg(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d == core.RetryNow:
		return "0"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// message is the entry as the hub takes it. seqBase lifts the seq above
// every seq of earlier epochs, so that Message.Seq only grows.
func (e *entry) message(topics []string, seqBase uint64) core.Message {
	live := strings.Contains(e.flags, "l")
	m := core.Message{
		ID:      wireID(e.id, live, e.epoch, e.seq),
		Seq:     seqBase + e.seq,
		Topics:  topics,
		Event:   core.Event{Type: e.typ, Data: e.data, Retry: e.retryDuration(), ResetID: strings.Contains(e.flags, "x")},
		Live:    live,
		Comment: strings.Contains(e.flags, "c"),
	}
	if e.pub > 0 {
		m.PublishedAt = time.Unix(0, e.pub)
	}
	return m
}

func (e *entry) retryDuration() time.Duration {
	switch {
	case e.retry < 0:
		return 0
	case e.retry == 0:
		return core.RetryNow
	}
	return time.Duration(e.retry) * time.Millisecond
}

func (e *entry) set(k byte, v string) {
	switch k {
	case 'e':
		e.epoch = v
	case 'i':
		e.id = v
	case 'y':
		e.typ = v
	case 'd':
		e.data = v
	case 'r':
		e.retry, _ = strconv.ParseInt(v, 10, 64)
	case 'f':
		e.flags = v
	case 'p':
		e.pub, _ = strconv.ParseInt(v, 10, 64)
	}
}

// parseSeq reads the seq out of a stream id "<seq>-0".
func parseSeq(id string) (uint64, error) {
	n, _, _ := strings.Cut(id, "-")
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisbroker: stream id %q is not one of ours", id)
	}
	return seq, nil
}

// appendEntries parses XRANGE or XREVRANGE as a script or go-redis's Do
// returns it, [[id, [field, value, ...]], ...], and appends the events of its
// entries to out: in the entries' order and, within an entry, in seq order
// (its packed events, then its own). It also returns how many entries there
// were.
func appendEntries(out []entry, v any) (_ []entry, entries int, err error) {
	rows, ok := v.([]any)
	if !ok {
		return nil, 0, fmt.Errorf("redisbroker: unexpected history reply %T", v)
	}
	for _, r := range rows {
		row, ok := r.([]any)
		if !ok || len(row) != 2 {
			return nil, 0, fmt.Errorf("redisbroker: unexpected history row %v", r)
		}
		id, _ := row[0].(string)
		seq, err := parseSeq(id)
		if err != nil {
			return nil, 0, err
		}
		e := entry{seq: seq, retry: -1}
		var first, packed string
		kv, _ := row[1].([]any)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			v, _ := kv[i+1].(string)
			switch {
			case len(k) != 1:
			case k == "s":
				first = v
			case k == "b":
				packed = v
			default:
				e.set(k[0], v)
			}
		}
		if packed != "" {
			s, err := strconv.ParseUint(first, 10, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("redisbroker: the entry of seq %d has packed events and no valid first seq (%q)", seq, first)
			}
			if out, err = unpack(out, packed, s, seq, e.epoch); err != nil {
				return nil, 0, err
			}
		}
		out = append(out, e)
	}
	return out, len(rows), nil
}

// replyStrings parses the {a, b, c} reply of syncScript and publishScript.
func replyStrings(v any, n int) ([]string, error) {
	list, ok := v.([]any)
	if !ok || len(list) != n {
		return nil, fmt.Errorf("redisbroker: unexpected script reply %v", v)
	}
	out := make([]string, n)
	for i, x := range list {
		switch x := x.(type) {
		case string:
			out[i] = x
		case int64:
			out[i] = strconv.FormatInt(x, 10)
		default:
			return nil, fmt.Errorf("redisbroker: unexpected script reply %v", v)
		}
	}
	return out, nil
}
