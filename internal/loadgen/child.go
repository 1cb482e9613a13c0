package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/core"
)

// Main runs the child: it reads the Config from EnvVar, serves the protocol
// on stdin and stdout, and exits the process (status 0 after "quit" or EOF on
// stdin, 1 on failure).
func Main() {
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(EnvVar)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: config:", err)
		os.Exit(1)
	}
	if err := Run(cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Run is Main with its input and output given; it returns after "quit", at
// the end of in, or when cfg.Lifetime has passed (an error).
func Run(cfg Config, in io.Reader, out io.Writer) error {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Lifetime)
	defer cancel()

	p := newPool(cfg, out)
	defer p.close()

	cmds := make(chan string)
	go func() { // ends with in; a closed stdin means the parent is gone
		defer close(cmds)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case cmds <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()

	p.emit("ready", p.dialAll(ctx))
	return p.serve(ctx, cmds)
}

// pool is the child's clients.
type pool struct {
	cfg     Config
	u       *url.URL
	request []byte

	outMu sync.Mutex
	out   io.Writer

	conns   []*conn // nil where the dial failed
	readers int     // reading clients connected
	win     atomic.Pointer[window]

	wg      sync.WaitGroup
	closing atomic.Bool
	quit    chan struct{}

	ended  atomic.Int64
	events atomic.Int64
	errs   atomic.Int64
	errMsg atomic.Pointer[string]
}

type conn struct {
	id    int
	nc    net.Conn
	stuck bool
	ended atomic.Bool
}

func newPool(cfg Config, out io.Writer) *pool {
	u, _ := url.Parse(cfg.URL) // validated
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: ssehub-loadgen\r\n\r\n"
	return &pool{cfg: cfg, u: u, request: []byte(req), out: out, quit: make(chan struct{})}
}

func (p *pool) emit(typ string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"err": err.Error()})
		typ = "error"
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	fmt.Fprintf(p.out, "LOADGEN %s %s\n", typ, b)
}

func (p *pool) fail(err error) {
	p.errs.Add(1)
	s := err.Error()
	p.errMsg.CompareAndSwap(nil, &s)
}

// dialAll opens every client, at most DialsInFlight at a time, each until its
// response headers, and starts its reader.
func (p *pool) dialAll(ctx context.Context) Ready {
	start := time.Now()
	cfg := p.cfg
	n := cfg.Clients + cfg.Stuck
	p.conns = make([]*conn, n)
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()

	sem := make(chan struct{}, cfg.DialsInFlight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	failed := 0
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			mu.Lock()
			failed += n - i
			if firstErr == nil {
				firstErr = fmt.Errorf("connect timeout after %d of %d clients", i, n)
			}
			mu.Unlock()
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := p.open(ctx, i, i >= cfg.Clients)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = fmt.Errorf("client %d: %w", i, err)
				}
				return
			}
			p.conns[i] = c
		}()
	}
	wg.Wait()
	for _, c := range p.conns {
		if c != nil && !c.stuck {
			p.readers++
		}
	}
	r := Ready{Connected: n - failed, Failed: failed, Seconds: time.Since(start).Seconds()}
	if firstErr != nil {
		r.Err = firstErr.Error()
	}
	return r
}

// open dials client i, sends the request, reads the response headers and
// starts the client's reader.
func (p *pool) open(ctx context.Context, i int, stuck bool) (*conn, error) {
	cfg := p.cfg
	d := net.Dialer{Timeout: 10 * time.Second}
	if h, _, _ := net.SplitHostPort(p.u.Host); h == "127.0.0.1" && cfg.SourceIPs > 1 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%cfg.SourceIPs))}
	}
	readBuf := cfg.ReadBuf
	if stuck {
		d.Control = rcvbufControl(cfg.StuckRcvBuf)
		readBuf = 512
	}
	var nc net.Conn
	var err error
	for try := range 4 {
		nc, err = d.DialContext(ctx, "tcp", p.u.Host)
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(50*(try+1)) * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	dl := time.Now().Add(30 * time.Second)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	nc.SetDeadline(dl)
	if _, err := nc.Write(p.request); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, readBuf)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("response headers: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		nc.Close()
		return nil, fmt.Errorf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	nc.SetDeadline(time.Time{})
	c := &conn{id: i, nc: nc, stuck: stuck}
	p.wg.Add(1)
	go p.read(c, resp.Body)
	return c, nil
}

// read consumes one stream until it ends. resp.Body undoes chunked
// transfer coding (fasthttp and net/http both use it here).
func (p *pool) read(c *conn, body io.Reader) {
	defer p.wg.Done()
	defer p.endConn(c)
	if c.stuck { // a client that stopped reading: it holds its socket, nothing more
		<-p.quit
		return
	}
	var err error
	if p.cfg.Decoder == "core" {
		err = p.readCore(c, body)
	} else {
		err = p.readFast(c, body)
	}
	if err != nil && !p.closing.Load() && !errors.Is(err, net.ErrClosed) {
		p.fail(fmt.Errorf("client %d: %w", c.id, err))
	}
}

func (p *pool) readFast(c *conn, body io.Reader) error {
	buf := make([]byte, p.cfg.ReadBuf)
	n := 0
	for {
		m, err := body.Read(buf[n:])
		if m > 0 {
			now := time.Now().UnixNano()
			n += m
			used := p.scan(c, buf[:n], now)
			n = copy(buf, buf[used:n])
			if n == len(buf) { // one line longer than the buffer
				buf = slices.Grow(buf, len(buf))[:2*len(buf)]
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// scan records the events of b's complete lines, all received at now, and
// returns how many bytes it consumed.
func (p *pool) scan(c *conn, b []byte, now int64) int {
	w := p.win.Load()
	var cw *connWindow
	if w != nil {
		cw = &w.conns[c.id]
		cw.mu.Lock()
		defer cw.mu.Unlock()
	}
	return scanLines(b, func(data []byte) {
		seq, sent, ok := ParsePayload(data)
		p.events.Add(1)
		if ok && cw != nil {
			w.record(c, cw, seq, sent, now)
		}
	})
}

// readCore reads the stream as a browser would, with core.Decoder.
func (p *pool) readCore(c *conn, body io.Reader) error {
	dec := core.NewDecoder(body)
	for {
		e, err := dec.Next()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		now := time.Now().UnixNano()
		p.events.Add(1)
		seq, sent, ok := ParsePayload([]byte(e.Data))
		if w := p.win.Load(); ok && w != nil {
			cw := &w.conns[c.id]
			cw.mu.Lock()
			w.record(c, cw, seq, sent, now)
			cw.mu.Unlock()
		}
	}
}

func (p *pool) endConn(c *conn) {
	c.ended.Store(true)
	p.ended.Add(1)
	if w := p.win.Load(); w != nil && !c.stuck {
		w.gone(&w.conns[c.id])
	}
}

// serve answers commands until "quit", the end of cmds or ctx.
func (p *pool) serve(ctx context.Context, cmds <-chan string) error {
	var cur *window
	var timer *time.Timer
	finish := func(timedOut bool) {
		if timer != nil {
			timer.Stop()
		}
		if cur != nil {
			p.emit("summary", p.summarize(cur, timedOut))
		}
		cur, timer = nil, nil
	}
	for {
		var complete <-chan struct{}
		var expired <-chan time.Time
		if cur != nil {
			complete, expired = cur.complete, timer.C
		}
		select {
		case line, ok := <-cmds:
			if !ok {
				return nil
			}
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "window":
				finish(false)
				w, timeout, err := p.parseWindow(f[1:])
				if err != nil {
					p.emit("error", map[string]string{"err": err.Error()})
					continue
				}
				cur, timer = w, time.NewTimer(timeout)
				p.openWindow(w)
				p.emit("window", map[string]int{"id": w.id})
			case "end":
				finish(false)
			case "status":
				p.emit("status", p.status())
			case "quit":
				finish(false)
				return nil
			default:
				p.emit("error", map[string]string{"err": "unknown command " + strconv.Quote(f[0])})
			}
		case <-complete:
			finish(false)
		case <-expired:
			finish(true)
		case <-ctx.Done():
			finish(true)
			return fmt.Errorf("lifetime of %v over", p.cfg.Lifetime)
		}
	}
}

func (p *pool) status() Status {
	s := Status{Ended: int(p.ended.Load()), Events: p.events.Load(), Errors: int(p.errs.Load())}
	for _, c := range p.conns {
		if c != nil {
			s.Connected++
		}
	}
	if m := p.errMsg.Load(); m != nil {
		s.ErrSample = *m
	}
	return s
}

func (p *pool) parseWindow(f []string) (*window, time.Duration, error) {
	if len(f) != 5 {
		return nil, 0, errors.New("window: want ID LO HI TIMEOUT_MS LAT")
	}
	var v [5]uint64
	for i, s := range f {
		x, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("window: %w", err)
		}
		v[i] = x
	}
	lo, hi := v[1], v[2]
	if hi < lo || hi-lo >= 1<<24 || v[3] == 0 {
		return nil, 0, errors.New("window: bad range or timeout")
	}
	w := &window{
		id: int(v[0]), lo: lo, hi: hi, per: int64(hi - lo + 1), lat: v[4] != 0,
		readers: p.readers, conns: make([]connWindow, len(p.conns)),
		complete: make(chan struct{}),
	}
	return w, time.Duration(v[3]) * time.Millisecond, nil
}

// openWindow makes w the counting window. Clients that ended before count as gone.
func (p *pool) openWindow(w *window) {
	if w.lat {
		c := int(min(w.per, 1<<16))
		for i := range w.conns {
			if p.conns[i] != nil && !p.conns[i].stuck {
				w.conns[i].samples = make([]int64, 0, c)
			}
		}
	}
	w.user0, w.sys0 = cpuSeconds()
	p.win.Store(w)
	for i, c := range p.conns {
		if c != nil && !c.stuck && c.ended.Load() {
			w.gone(&w.conns[i])
		}
	}
	if w.readers == 0 {
		w.once.Do(func() { close(w.complete) })
	}
}

func (p *pool) summarize(w *window, timedOut bool) Summary {
	p.win.Store(nil)
	user, sys := cpuSeconds()
	s := Summary{ID: w.id, Readers: w.readers, Expected: int64(w.readers) * w.per, TimedOut: timedOut}
	s.CPUUser, s.CPUSys = user-w.user0, sys-w.sys0
	var all []int64
	for i := range w.conns {
		cw := &w.conns[i]
		cw.mu.Lock()
		s.Received += cw.count
		s.Dups += cw.dups
		if cw.count >= w.per {
			s.Complete++
		}
		if cw.isGone {
			s.Gone++
		}
		if cw.first != 0 && (s.FirstRecv == 0 || cw.first < s.FirstRecv) {
			s.FirstRecv = cw.first
		}
		s.LastRecv = max(s.LastRecv, cw.last)
		all = append(all, cw.samples...)
		cw.mu.Unlock()
	}
	s.Lost = max(0, s.Expected-s.Received)
	if len(all) > 0 {
		slices.Sort(all)
		s.Samples = len(all)
		s.P50, s.P90, s.P99, s.P999 = quantile(all, 0.50), quantile(all, 0.90), quantile(all, 0.99), quantile(all, 0.999)
		s.Max = all[len(all)-1]
	}
	return s
}

// quantile of sorted values: the smallest value with at least q of them at
// or below it.
func quantile(sorted []int64, q float64) int64 {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (p *pool) close() {
	p.closing.Store(true)
	close(p.quit)
	for _, c := range p.conns {
		if c != nil {
			c.nc.Close()
		}
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// A window counts the events with lo <= seq <= hi.
type window struct {
	id       int
	lo, hi   uint64
	per      int64 // events each client should receive
	lat      bool
	readers  int
	conns    []connWindow
	done     atomic.Int64 // clients complete or gone
	complete chan struct{}
	once     sync.Once
	user0    float64 // the child's CPU seconds when the window opened
	sys0     float64
}

type connWindow struct {
	mu          sync.Mutex
	count, dups int64
	first, last int64
	lastSeq     uint64
	samples     []int64
	finished    bool // complete or gone: counted in done
	isGone      bool
	_           [24]byte // keep neighbours' locks apart
}

func (w *window) record(c *conn, cw *connWindow, seq uint64, sent, now int64) {
	if seq < w.lo || seq > w.hi {
		return
	}
	if seq <= cw.lastSeq {
		cw.dups++
		return
	}
	cw.lastSeq = seq
	cw.count++
	if cw.first == 0 {
		cw.first = now
	}
	cw.last = now
	if w.lat && sent > 0 {
		cw.samples = append(cw.samples, max(0, now-sent))
	}
	if cw.count == w.per && !cw.finished {
		cw.finished = true
		w.finish()
	}
}

// gone marks a client whose stream ended; it will not complete.
func (w *window) gone(cw *connWindow) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.finished {
		return
	}
	cw.finished, cw.isGone = true, true
	w.finish()
}

func (w *window) finish() {
	if w.done.Add(1) >= int64(w.readers) {
		w.once.Do(func() { close(w.complete) })
	}
}
