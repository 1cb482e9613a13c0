// Package transport is what the HTTP adapters (core/httpsse, ginsse,
// fibersse) share, and apps never call: turning a request into a
// subscription, answering a refused one, the response head of a stream, and
// taking a connection over.
package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/core"
	"github.com/ssehub/ssehub/internal/corelink"
)

// ErrAppPanic reports app code (a topic function) that panicked: 500.
var ErrAppPanic = errors.New("ssehub: topic function panicked")

// RetryAfter returns the Retry-After sent with 503: 3 to 7 seconds, at
// random, so that clients refused together do not come back together.
func RetryAfter() string { return strconv.Itoa(3 + rand.IntN(5)) }

// Headers are a stream's response headers, besides Connection: keep-alive on
// HTTP/1.x (forbidden in HTTP/2).
var Headers = [...][2]string{
	{"Content-Type", "text/event-stream"},
	{"Cache-Control", "no-cache"},
	{"X-Accel-Buffering", "no"}, // nginx: do not buffer the stream
}

// Subscribe subscribes to hub what build returns. build runs the app's
// functions (topics, meta, client address) with the request at hand; a panic
// in them ends this request with ErrAppPanic, logged on the hub, and nothing
// else.
func Subscribe(hub *core.Hub, build func() (core.Subscription, error)) (*core.Subscriber, error) {
	sub, err := recovered(hub, build)
	if err != nil {
		return nil, err
	}
	return hub.Subscribe(sub)
}

func recovered(hub *core.Hub, build func() (core.Subscription, error)) (sub core.Subscription, err error) {
	defer func() {
		if p := recover(); p != nil {
			corelink.AppPanicked(hub, p)
			err = fmt.Errorf("%w: %v", ErrAppPanic, p)
		}
	}()
	return build()
}

// LastEventID is the request's Last-Event-ID header, or for clients that
// cannot set headers, its lastEventId query parameter.
func LastEventID(header string, query func(string) string) string {
	if header != "" {
		return header
	}
	return query("lastEventId")
}

// Refusal is the answer to a refused subscription: its status and one line of
// body; 503s come with Retry-After (RetryAfter). Browsers' EventSource
// does not reconnect after a non-200 answer.
func Refusal(err error) (status int, body string) {
	var rej *core.RejectError
	switch {
	case errors.As(err, &rej):
		status, body = rej.Status, rej.Message
		if status < 400 || status > 599 {
			status = http.StatusForbidden
		}
	case errors.Is(err, core.ErrTooManySubscribers):
		status, body = http.StatusServiceUnavailable, "too many subscribers, retry later"
	case errors.Is(err, core.ErrClosed):
		status, body = http.StatusServiceUnavailable, "shutting down, retry later"
	case errors.Is(err, core.ErrTooManyTopics), errors.Is(err, core.ErrInvalidTopic), errors.Is(err, core.ErrNoTopics):
		status, body = http.StatusBadRequest, strings.TrimPrefix(err.Error(), "ssehub: ")
	case errors.Is(err, ErrAppPanic):
		status, body = http.StatusInternalServerError, "subscription failed"
	default:
		status, body = http.StatusForbidden, "forbidden"
	}
	return status, "ssehub: " + body + "\n"
}

// VaryAccept adds Accept to h's Vary header, unless it names it (or *)
// already: a negotiating URL answers JSON or a stream depending on Accept, and
// a cache that ignored that would hand one to a client that asked for the
// other (RFC 9110 §12.5.5).
func VaryAccept(h http.Header) {
	for _, v := range h.Values("Vary") {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok == "*" || strings.EqualFold(tok, "Accept") {
				return
			}
		}
	}
	h.Add("Vary", "Accept")
}

// Takeover reports whether hub lets adapters take HTTP/1.1 connections over.
func Takeover(hub *core.Hub) bool { return corelink.Takeover(hub) }

// Head renders a taken-over stream's response head: 200, the headers that
// visit yields (hop-by-hop ones are skipped: the head sets its own), a Date
// as servers send it (RFC 9110 §6.6.1) unless one was set, then a chunked
// HTTP/1.1 body, or for an HTTP/1.0 client one that ends with the connection.
func Head(visit func(yield func(k, v string)), http11 bool) []byte {
	b := []byte("HTTP/1.1 200 OK\r\n")
	date := false
	visit(func(k, v string) {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Transfer-Encoding", "Connection":
			return
		case "Date":
			date = true
		}
		b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
	})
	if !date {
		b = append(time.Now().UTC().AppendFormat(append(b, "Date: "...), http.TimeFormat), "\r\n"...)
	}
	if !http11 {
		return append(b, "Connection: close\r\n\r\n"...)
	}
	return append(b, chunkedEnd...)
}

// chunkedEnd ends the head of a chunked HTTP/1.1 body (see NewConnStream).
const chunkedEnd = "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"

// ServeConn serves sub on a connection taken over from the server, on a
// goroutine the hub owns, and closes the connection after. The head goes out
// with the stream's first flush.
func ServeConn(ctx context.Context, sub *core.Subscriber, conn net.Conn, head []byte) {
	corelink.ServeOwned(ctx, sub, NewConnStream(conn, head))
}

// Detach returns a connection of the stream's own on the same socket (a
// duplicate descriptor), so the server may close its handle and free what it
// holds for the request. Only plain TCP connections can be shared this way.
func Detach(c net.Conn) (net.Conn, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("ssehub: cannot detach a %T", c)
	}
	f, err := tc.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileConn(f)
}

// DoneContext returns a context that ends when done is closed, and carries
// nothing else: fasthttp's server-wide done channel, say.
func DoneContext(done <-chan struct{}) context.Context { return doneContext{done} }

type doneContext struct{ done <-chan struct{} }

func (c doneContext) Done() <-chan struct{}       { return c.done }
func (c doneContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c doneContext) Value(any) any               { return nil }
func (c doneContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// CloneStrings returns a copy of ss whose strings share no memory with it:
// fasthttp reuses the memory of strings taken from a request.
func CloneStrings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}
