package redisbroker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssehub/ssehub/core/redisbroker"
	"github.com/ssehub/ssehub/internal/assert"
)

func TestNew_PanicsOnMistakes(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"nil options", func() { redisbroker.New(nil) }},
		{"nil client", func() { redisbroker.NewFromClient(nil) }},
		{"nil *redis.Client", func() { redisbroker.NewFromClient((*redis.Client)(nil)) }},
		{"ring", func() {
			ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
			defer ring.Close()
			redisbroker.NewFromClient(ring)
		}},
		{"empty prefix", func() { redisbroker.WithPrefix("") }},
		{"brace in prefix", func() { redisbroker.WithPrefix("app}") }},
		{"control byte in prefix", func() { redisbroker.WithPrefix("a\nb") }},
		{"zero max length", func() { redisbroker.WithMaxLen(0) }},
		{"negative TTL", func() { redisbroker.WithStreamTTL(-time.Second) }},
		{"TTL below a millisecond", func() { redisbroker.WithStreamTTL(time.Microsecond) }},
		{"tiny block", func() { redisbroker.WithBlock(time.Millisecond) }},
		{"zero backoff", func() { redisbroker.WithBackoff(0, time.Second) }},
		{"backoff max below min", func() { redisbroker.WithBackoff(time.Second, time.Millisecond) }},
		{"nil logger", func() { redisbroker.WithLogger(nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				p := recover()
				msg, _ := p.(string)
				assert.True(t, fmt.Sprintf("panic with the package prefix, got %#v", p), strings.HasPrefix(msg, "redisbroker: "))
			}()
			tc.fn()
		})
	}
}
