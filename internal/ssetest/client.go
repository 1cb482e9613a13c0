// Package ssetest is the conformance suite both adapters run over real
// loopback connections, and the SSE client it uses.
package ssetest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// A Client is one streaming request, read with core.Decoder as a browser would.
type Client struct {
	t      testing.TB
	Resp   *http.Response
	dec    *core.Decoder
	cancel context.CancelFunc
	events chan core.Event
	errc   chan error
	mu     sync.Mutex
	raw    strings.Builder
	cmts   int
}

// Open sends a GET to url with the headers (Accept: text/event-stream unless
// given) and returns once the response headers have arrived.
func Open(t testing.TB, url string, header ...string) *Client {
	t.Helper()
	c, err := TryOpen(t, url, header...)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return c
}

// H2Stream is a Client; the name reads better where the protocol matters.
type H2Stream = Client

// OpenWith is Open with a given http.Client (an HTTP/2 one, say).
func OpenWith(t testing.TB, hc *http.Client, url string, header ...string) *Client {
	t.Helper()
	c, err := tryOpen(t, hc, url, header...)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return c
}

// TryOpen is Open returning the error.
func TryOpen(t testing.TB, url string, header ...string) (*Client, error) {
	return tryOpen(t, http.DefaultClient, url, header...)
}

func tryOpen(t testing.TB, hc *http.Client, url string, header ...string) (*Client, error) {
	c, err := open(t, hc, url, header...)
	if err == nil {
		t.Cleanup(c.Close)
	}
	return c, err
}

// open is tryOpen without the cleanup: the caller closes the client.
func open(t testing.TB, hc *http.Client, url string, header ...string) (*Client, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	headersIn := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() {
		select {
		case <-headersIn:
		default:
			cancel() // no headers in time: the server buffers them
		}
	})
	defer timer.Stop()
	resp, err := hc.Do(req)
	close(headersIn)
	if err != nil {
		cancel()
		return nil, err
	}
	c := &Client{t: t, Resp: resp, cancel: cancel, events: make(chan core.Event, 256), errc: make(chan error, 1)}
	c.dec = core.NewDecoder(io.TeeReader(resp.Body, rawWriter{c}))
	c.dec.OnComment = func(string) {
		c.mu.Lock()
		c.cmts++
		c.mu.Unlock()
	}
	go c.read()
	return c, nil
}

type rawWriter struct{ c *Client }

func (w rawWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	if w.c.raw.Len() < 1<<20 {
		w.c.raw.Write(p)
	}
	w.c.mu.Unlock()
	return len(p), nil
}

// read decodes until the stream ends; it ends with Close.
func (c *Client) read() {
	defer close(c.events)
	for {
		e, err := c.dec.Next()
		if err != nil {
			c.errc <- err
			return
		}
		c.events <- e
	}
}

// Next returns the next event, failing the test after 5 seconds.
func (c *Client) Next() core.Event {
	c.t.Helper()
	e, ok := c.NextWithin(5 * time.Second)
	if !ok {
		c.t.Fatalf("no event within 5s (stream: %q)", c.Raw())
	}
	return e
}

// NextWithin returns the next event, or false if none came within d or the
// stream ended.
func (c *Client) NextWithin(d time.Duration) (core.Event, bool) {
	select {
	case e, ok := <-c.events:
		return e, ok
	case <-time.After(d):
		return core.Event{}, false
	}
}

// NextData returns the data of the next n events.
func (c *Client) NextData(n int) []string {
	c.t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = c.Next().Data
	}
	return out
}

// Ended waits up to d for the stream to end and returns how it ended.
func (c *Client) Ended(d time.Duration) (error, bool) {
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return <-c.errc, true
			}
		case <-deadline:
			return nil, false
		}
	}
}

// Raw returns the bytes read so far (the first MiB).
func (c *Client) Raw() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw.String()
}

// Comments returns how many comment lines arrived.
func (c *Client) Comments() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmts
}

// LastEventID is what a browser would send on reconnect.
func (c *Client) LastEventID() string { return c.dec.LastEventID() }

// Close hangs up.
func (c *Client) Close() {
	c.cancel()
	c.Resp.Body.Close()
	for range c.events {
	}
}

// Get does a plain request and returns status, a header and the body.
func Get(t testing.TB, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(bufio.NewReader(io.LimitReader(resp.Body, 1<<20)))
	return resp, string(b)
}

// WaitFor polls cond until it holds or d passes, and returns how long it took.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// TCPPair returns both ends of a real loopback TCP connection.
func TCPPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	return server, client
}
