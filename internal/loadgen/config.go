// Package loadgen is the load generator of the end-to-end benchmarks
// (internal/e2ebench): SSE clients over real loopback connections, run in a
// child process so that the server under test keeps its own file limit, CPU
// accounting and memory figures to itself.
//
// The child is the benchmark's own test binary, started again with
// -test.run naming a test that calls Main when EnvVar is set (Start does
// this). Main reads its Config from EnvVar, opens the clients, spread over
// source addresses 127.0.0.1..127.0.0.4 with a bounded number of dials in
// flight, says "ready" on stdout once every client has its response headers,
// and then measures windows of events on command from stdin.
//
// # Events
//
// Each event's data is "<seq> <publish UnixNano> padding" (see
// AppendPayload). A client counts the events whose seq lies in the current
// window and records publish→receive latency for each; the child writes a
// Summary when every client has received the whole window, when told to
// ("end"), or when the window's timeout passes.
//
// # Protocol
//
// stdin, one command a line:
//
//	window ID LO HI TIMEOUT_MS LAT   count seqs LO..HI (LAT 1: record latencies); answered "window"
//	end                              summarise the current window now
//	status                           answered with a Status
//	quit                             close every client and exit (so does EOF)
//
// stdout, one message a line: "LOADGEN <type> <json>", type ready, window,
// summary, status or error. Other lines are not the protocol's.
//
// # Bounds
//
// Only 127.0.0.0/8 is dialled. Every wait has a timeout, the child exits when
// its stdin closes (its parent is gone) and after Config.Lifetime in any
// case, and on Linux it is killed with its parent (Pdeathsig).
package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// EnvVar holds the child's Config as JSON. A test binary is in child mode
// when it is set.
const EnvVar = "SSEHUB_LOADGEN"

// Config is what a child does.
type Config struct {
	// URL is the stream's address: http://127.0.0.x:port/path.
	URL string `json:"url"`
	// Clients is how many clients read the stream.
	Clients int `json:"clients"`
	// Stuck is how many more clients read the response headers and then never
	// read again, with a receive buffer of StuckRcvBuf bytes (default 4096).
	Stuck       int `json:"stuck,omitempty"`
	StuckRcvBuf int `json:"stuck_rcvbuf,omitempty"`
	// SourceIPs spreads the dials over 127.0.0.1..127.0.0.SourceIPs
	// (1..4; default 4), for more ephemeral ports.
	SourceIPs int `json:"source_ips,omitempty"`
	// DialsInFlight bounds concurrent dials (each until its response
	// headers). Default 128.
	DialsInFlight int `json:"dials_in_flight,omitempty"`
	// ReadBuf is each client's read buffer, in bytes. Default 16 KiB;
	// idle-connection runs use less.
	ReadBuf int `json:"read_buf,omitempty"`
	// Decoder: "fast" (default) scans data lines itself; "core" reads the
	// stream with core.Decoder, as the conformance tests do (slower).
	Decoder string `json:"decoder,omitempty"`
	// ConnectTimeout bounds dialling all clients and their headers.
	// Default 2 minutes.
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`
	// Lifetime bounds the whole child. Default 30 minutes.
	Lifetime time.Duration `json:"lifetime,omitempty"`
}

func (c *Config) setDefaults() {
	if c.StuckRcvBuf <= 0 {
		c.StuckRcvBuf = 4096
	}
	if c.SourceIPs <= 0 {
		c.SourceIPs = 4
	}
	if c.DialsInFlight <= 0 {
		c.DialsInFlight = 128
	}
	if c.ReadBuf <= 0 {
		c.ReadBuf = 16 << 10
	}
	if c.Decoder == "" {
		c.Decoder = "fast"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 2 * time.Minute
	}
	if c.Lifetime <= 0 {
		c.Lifetime = 30 * time.Minute
	}
}

// maxClients bounds one child: its file limit is that of the machine.
const maxClients = 19500

func (c *Config) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return err
	}
	if u.Scheme != "http" {
		return fmt.Errorf("url %q: only http", c.URL)
	}
	if err := loopbackOnly(u.Host); err != nil {
		return err
	}
	switch {
	case c.Clients < 0 || c.Stuck < 0 || c.Clients+c.Stuck == 0:
		return errors.New("no clients")
	case c.Clients+c.Stuck > maxClients:
		return fmt.Errorf("%d clients: at most %d per child", c.Clients+c.Stuck, maxClients)
	case c.SourceIPs > 4:
		return errors.New("source_ips: at most 4 (127.0.0.1..127.0.0.4)")
	case c.Decoder != "fast" && c.Decoder != "core":
		return fmt.Errorf("decoder %q", c.Decoder)
	case c.ReadBuf < 256:
		return errors.New("read_buf: at least 256")
	}
	return nil
}

// loopbackOnly refuses any address outside 127.0.0.0/8.
func loopbackOnly(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || ip.To4()[0] != 127 {
		return fmt.Errorf("address %q: only 127.0.0.x is allowed", hostport)
	}
	return nil
}

// Ready is the child's answer once every client has dialled.
type Ready struct {
	Connected int     `json:"connected"` // clients with a 200 event-stream response
	Failed    int     `json:"failed"`
	Err       string  `json:"err,omitempty"` // the first failure
	Seconds   float64 `json:"seconds"`       // how long connecting took
}

// Summary is one window's result, over the reading clients.
type Summary struct {
	ID       int   `json:"id"`
	Readers  int   `json:"readers"`  // reading clients connected when the window opened
	Expected int64 `json:"expected"` // Readers × window length
	Received int64 `json:"received"` // in-window events received, duplicates excluded
	Lost     int64 `json:"lost"`     // Expected - Received
	Dups     int64 `json:"dups"`     // seqs not above the client's previous one
	Complete int   `json:"complete"` // clients that received the whole window
	Gone     int   `json:"gone"`     // clients whose stream ended before completing
	TimedOut bool  `json:"timed_out"`

	FirstRecv int64 `json:"first_recv"` // UnixNano of the first in-window receive
	LastRecv  int64 `json:"last_recv"`  // ... and of the last

	// Publish→receive latency percentiles, in nanoseconds (LAT windows).
	Samples int   `json:"samples"`
	P50     int64 `json:"p50"`
	P90     int64 `json:"p90"`
	P99     int64 `json:"p99"`
	P999    int64 `json:"p999"`
	Max     int64 `json:"max"`

	// The child's own CPU during the window, in seconds.
	CPUUser float64 `json:"cpu_user"`
	CPUSys  float64 `json:"cpu_sys"`
}

// Status is the child's answer to "status".
type Status struct {
	Connected int    `json:"connected"`
	Ended     int    `json:"ended"`  // streams that ended (EOF or error)
	Events    int64  `json:"events"` // data lines seen, all windows and none
	Errors    int    `json:"errors"`
	ErrSample string `json:"err_sample,omitempty"`
}
