package ssetest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv names the test that a test binary run again by StartChild plays
// the child of.
const childEnv = "SSETEST_CHILD"

// A Child is a process of the test's own: the test binary run again, in the
// test that started it, as one more instance of an app, which the test may
// kill by its PID as a crash would.
//
//	func TestCrash(t *testing.T) {
//		if ssetest.IsChild(t) {
//			ssetest.RunChild(run) // the example's func run() error
//		}
//		child, line := ssetest.StartChild(t, "listening on ", "ADDR=127.0.0.1:0")
//		...
//		child.Kill()
//	}
type Child struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    LockedBuffer // stdout and stderr
	exited chan struct{}
}

// IsChild reports whether this process is the child StartChild started for t.
func IsChild(t testing.TB) bool { return os.Getenv(childEnv) == t.Name() }

// RunChild runs the child's program (an example's run function) and exits the
// process: with 0 when it returns nil, 1 when it returns an error, which goes
// to stderr. It exits with 2 as soon as its stdin closes, which happens when
// the parent test ends or dies: a child never outlives its test.
func RunChild(run func() error) {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(2)
	}()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// StartChild runs the test binary again, running only t, with env added
// (NAME=value), and waits up to 30 seconds until the child prints a line
// that starts with ready; it returns the rest of that line. In the child,
// IsChild(t) is true. When the test ends, the child's stdin is closed
// (RunChild then exits) and a child still there 10 seconds later is killed
// by its PID; its output is logged if the test failed.
func StartChild(t testing.TB, ready string, env ...string) (*Child, string) {
	t.Helper()
	var run []string
	for _, name := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(name)+"$")
	}
	c := &Child{t: t, exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run="+strings.Join(run, "/"), "-test.count=1", "-test.timeout=5m")
	c.cmd.Env = append(append(os.Environ(), childEnv+"="+t.Name()), env...)
	c.cmd.Stderr = &c.out
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting the child: %v", err)
	}
	readyLine := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			line := lines.Text()
			fmt.Fprintln(&c.out, line)
			if rest, ok := strings.CutPrefix(line, ready); ok {
				select {
				case readyLine <- rest:
				default: // not the first
				}
			}
		}
		io.Copy(io.Discard, stdout) // a line longer than the scanner takes
		c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("child %d still running 10s after its stdin closed; killing it", c.PID())
			c.Kill()
		}
		if t.Failed() {
			t.Logf("child %d output:\n%s", c.PID(), c.out.String())
		}
	})

	select {
	case rest := <-readyLine:
		return c, rest
	case <-c.exited:
		t.Fatalf("child %d exited (%v) before printing %q:\n%s", c.PID(), c.cmd.ProcessState, ready, c.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("child %d did not print %q within 30s:\n%s", c.PID(), ready, c.out.String())
	}
	return nil, ""
}

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Kill sends SIGKILL to the child's PID, so that it ends without running any
// shutdown, and waits up to 10 seconds until it has exited.
func (c *Child) Kill() {
	c.t.Helper()
	if err := syscall.Kill(c.PID(), syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		c.t.Errorf("kill %d: %v", c.PID(), err)
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("child %d still there 10s after SIGKILL", c.PID())
	}
}
