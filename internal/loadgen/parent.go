package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// A Child is a running load generator, seen from the parent.
type Child struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	msgs    chan message
	exited  chan struct{}
	waitErr error
	stderr  *tailBuffer
	once    sync.Once
}

type message struct {
	typ  string
	body []byte
}

// Start runs the current executable (a test binary) again as a child with
// -test.run=^testName$ and cfg in EnvVar. testName must be a test that calls
// Main when EnvVar is set.
func Start(cfg Config, testName string) (*Child, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^"+testName+"$", "-test.count=1",
		"-test.timeout="+(cfg.Lifetime+time.Minute).String())
	cmd.Env = append(os.Environ(), EnvVar+"="+string(js))
	dieWithParent(cmd)
	c := &Child{cmd: cmd, msgs: make(chan message, 64), exited: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = io.MultiWriter(os.Stderr, c.stderr)
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(c.msgs)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			rest, ok := bytes.CutPrefix(line, []byte("LOADGEN "))
			if !ok {
				fmt.Fprintf(os.Stderr, "loadgen child %d: %s\n", cmd.Process.Pid, line)
				continue
			}
			typ, body, _ := bytes.Cut(rest, []byte(" "))
			c.msgs <- message{typ: string(typ), body: bytes.Clone(body)}
		}
		io.Copy(io.Discard, stdout)
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// next waits for the child's next message, which must be of type want, and
// decodes it into v.
func (c *Child) next(want string, timeout time.Duration, v any) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			<-c.exited
			return fmt.Errorf("loadgen child exited (%v) waiting for %s; stderr: %s", c.waitErr, want, c.stderr)
		}
		if m.typ != want {
			return fmt.Errorf("loadgen child: want %s, got %s %s", want, m.typ, m.body)
		}
		if v == nil {
			return nil
		}
		return json.Unmarshal(m.body, v)
	case <-t.C:
		return fmt.Errorf("loadgen child: no %s within %v", want, timeout)
	}
}

func (c *Child) send(format string, args ...any) error {
	_, err := fmt.Fprintf(c.stdin, format+"\n", args...)
	return err
}

// Ready waits until every client has dialled and returns the child's count.
// Failed clients are an error.
func (c *Child) Ready(timeout time.Duration) (Ready, error) {
	var r Ready
	if err := c.next("ready", timeout, &r); err != nil {
		return r, err
	}
	if r.Failed > 0 {
		return r, fmt.Errorf("loadgen: %d clients failed: %s", r.Failed, r.Err)
	}
	return r, nil
}

// Window starts counting events lo..hi (with latencies if lat) and returns
// once the child counts them; the Summary comes when every client has them
// all, or at timeout.
func (c *Child) Window(id int, lo, hi uint64, timeout time.Duration, lat bool) error {
	l := 0
	if lat {
		l = 1
	}
	if err := c.send("window %d %d %d %d %d", id, lo, hi, max(1, timeout.Milliseconds()), l); err != nil {
		return err
	}
	return c.next("window", 30*time.Second, nil)
}

// Summary waits for the current window's summary.
func (c *Child) Summary(timeout time.Duration) (Summary, error) {
	var s Summary
	err := c.next("summary", timeout, &s)
	return s, err
}

// End asks for the current window's summary now.
func (c *Child) End(timeout time.Duration) (Summary, error) {
	if err := c.send("end"); err != nil {
		return Summary{}, err
	}
	return c.Summary(timeout)
}

// Status asks for the child's counters.
func (c *Child) Status(timeout time.Duration) (Status, error) {
	var s Status
	if err := c.send("status"); err != nil {
		return s, err
	}
	err := c.next("status", timeout, &s)
	return s, err
}

// Close asks the child to quit, waits up to 10 s, and then kills it by its
// PID. It is safe to call more than once.
func (c *Child) Close() {
	c.once.Do(func() {
		c.send("quit")
		c.stdin.Close()
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		go func() {
			for range c.msgs { // drain, so the reader reaches Wait
			}
		}()
		select {
		case <-c.exited:
		case <-t.C:
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
}

// Err says how the child ended (nil while it runs or after a clean exit).
func (c *Child) Err() error {
	select {
	case <-c.exited:
		var ee *exec.ExitError
		if errors.As(c.waitErr, &ee) {
			return fmt.Errorf("%w; stderr: %s", c.waitErr, c.stderr)
		}
		return c.waitErr
	default:
		return nil
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
