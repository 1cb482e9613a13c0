package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/ssehub/ssehub/core"
)

// The reader's connection, its state, and how Publish and Subscribe wait for it.

// dialer hands go-redis the socket that dialReader dialed. Should go-redis
// dial again within a session (it does not), it gets a socket of its own,
// which Close still knows about.
func (b *Broker) dialer(ctx context.Context, network, addr string) (net.Conn, error) {
	b.connMu.Lock()
	c, dial := b.next, b.baseDial
	b.next = nil
	closed := b.connClosed
	b.connMu.Unlock()
	if closed {
		if c != nil {
			c.Close()
		}
		return nil, ErrClosed
	}
	if c != nil {
		return c, nil
	}
	c, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.connClosed {
		c.Close()
		return nil, ErrClosed
	}
	b.conn = c
	return c, nil
}

// connection returns nil once the reader is in a synced session. While it is
// not, connection asks it to try at once and waits for the outcome of an
// attempt that began after the request: concurrent callers share one dial,
// and, right after Redis comes back, the first caller already gets through.
// A failed attempt is an error wrapping ErrUnavailable, as is ctx ending.
func (b *Broker) connection(ctx context.Context) error {
	b.st.Lock()
	want := b.st.attempts + 1
	if b.st.trying { // it may have begun before Redis came back: wait for the next one
		want++
	}
	for {
		live, closed, n, ch := b.st.live, b.st.closed, b.st.attempts, b.st.changed
		b.st.Unlock()
		switch {
		case closed:
			return ErrClosed
		case live:
			return nil
		case n >= want:
			return fmt.Errorf("%w: not connected (%s)", ErrUnavailable, b.BrokerState().LastError)
		}
		select {
		case b.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-b.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for the connection: %w", ErrUnavailable, ctx.Err())
		}
		b.st.Lock()
	}
}

// BrokerState reports whether the reader is connected, how often it
// reconnected, and the latest connection or publish error.
func (b *Broker) BrokerState() core.BrokerState {
	s := core.BrokerState{Connected: b.connected.Load(), Reconnects: b.reconnects.Load()}
	if p := b.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	return s
}

func (b *Broker) setErr(err error) {
	s := err.Error()
	b.lastErr.Store(&s)
}

// readerClient returns a client for one session of the reader, made from
// the options of the server to read from (see readerOptions), with the
// socket already dialed: it waits for the client's Dialer. The client has
// one connection and never retries; its Dialer is dialer, so that Close can
// cut its blocked read short. Dialing before go-redis does keeps a failed
// dial out of go-redis's pool, whose dial circuit breaker would delay the
// reconnect by up to a second and leave a probing goroutine behind.
func (b *Broker) readerClient() (*redis.Client, error) {
	o, err := b.readerOptions(b.ctx)
	if err != nil {
		return nil, err
	}
	o.MaxRetries = -1
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.PipelinePoolSize = 1, 0, 0, -1
	// What an app's client set up for itself stays with it: its push
	// handlers (go-redis stores its processor in the options), maintenance
	// notifications, client-side cache, limiter, autopipelining.
	o.PushNotificationProcessor = nil
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	o.ClientSideCacheConfig, o.ClientSideCache = nil, nil
	o.Limiter, o.AutoPipelineOptions = nil, nil
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.Network == "" {
		o.Network = "tcp"
	}
	dial := o.Dialer // a FailoverClient's asks the sentinels for the primary at each dial
	if dial == nil {
		dial = redis.NewDialer(o)
	}
	o.Dialer = b.dialer

	ctx, cancel := context.WithTimeout(b.ctx, o.DialTimeout)
	defer cancel()
	c, err := dial(ctx, o.Network, o.Addr)
	if err != nil {
		return nil, err
	}
	b.connMu.Lock()
	if b.connClosed {
		b.connMu.Unlock()
		c.Close()
		return nil, ErrClosed
	}
	b.next, b.conn, b.baseDial = c, c, dial
	b.connMu.Unlock()
	return redis.NewClient(o), nil
}

// up marks the reader live: Publish and Subscribe may proceed.
func (b *Broker) up() {
	b.st.Lock()
	b.st.live, b.st.trying = true, false
	b.st.attempts++
	close(b.st.changed)
	b.st.changed = make(chan struct{})
	again, down := b.st.everUp, time.Since(b.st.downAt)
	b.st.everUp = true
	b.st.Unlock()
	select { // this connection answers every request for one so far
	case <-b.kick:
	default:
	}
	b.connected.Store(true)
	if again {
		n := b.reconnects.Add(1)
		b.cfg.logger.Info("redisbroker: reconnected to Redis", "reconnects", n, "down_for", down.Round(time.Millisecond))
	}
}

// lost records the end of a session: a lost connection, or a failed attempt.
func (b *Broker) lost(established bool, err error) {
	if err == nil {
		err = errors.New("session ended")
	}
	b.setErr(err)
	b.connected.Store(false)
	b.st.Lock()
	b.st.live, b.st.trying = false, false
	if established {
		b.st.downAt = time.Now()
	} else {
		b.st.attempts++
	}
	close(b.st.changed)
	b.st.changed = make(chan struct{})
	b.st.Unlock()
	if established {
		b.cfg.logger.Warn("redisbroker: lost Redis; reconnecting", "err", err)
	} else {
		b.cfg.logger.Debug("redisbroker: connecting to Redis failed", "err", err)
	}
}
