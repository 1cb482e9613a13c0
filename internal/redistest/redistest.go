// Package redistest starts real redis-server and redis-sentinel processes for
// tests: on free loopback ports, without persistence unless asked, with their
// files in temporary directories, ended by their PID when the test ends.
//
// Without the binaries a test is skipped, except under CI=true, where that is
// a failure.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/ssetest"
)

// A Server is a redis-server (or redis-sentinel) process of the test's own,
// on a free loopback port, with its files in a temporary directory.
type Server struct {
	t      testing.TB
	bin    string
	port   int
	dir    string
	argv   func() []string // the command line, built at each start
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts redis-server from PATH, without persistence unless extra
// arguments say otherwise, and stops it when the test ends. Without the binary
// the test is skipped, except under CI=true, where that is a failure.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	r := &Server{t: t, bin: lookPath(t, "redis-server"), dir: t.TempDir()}
	r.argv = func() []string {
		return append([]string{
			"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no",
			"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"),
		}, extra...) // later arguments win
	}
	r.startOnFreePort()
	return r
}

// lookPath finds bin on PATH, or skips the test (fails it under CI=true);
// Debian's package of that name has it.
func lookPath(t testing.TB, bin string) string {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		msg := fmt.Sprintf("%s is not on PATH (Debian: apt-get install %s); skipping tests against a real Redis", bin, bin)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

func (r *Server) startOnFreePort() {
	r.t.Helper()
	for attempt := 0; ; attempt++ { // another process may take the port before the server binds it
		r.port = freePort(r.t)
		err := r.tryStart()
		if err == nil {
			break
		}
		if attempt == 2 {
			r.t.Fatalf("starting %s: %v", filepath.Base(r.bin), err)
		}
	}
	r.t.Cleanup(r.Kill)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Addr is the server's host:port.
func (r *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Start starts the server again on the same port and directory.
func (r *Server) Start() {
	r.t.Helper()
	if err := r.tryStart(); err != nil {
		r.t.Fatalf("restarting %s: %v", filepath.Base(r.bin), err)
	}
}

func (r *Server) tryStart() error {
	cmd := exec.Command(r.bin, r.argv()...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { // ends when the process does; kill makes sure it does
		cmd.Wait()
		close(exited)
	}()
	r.cmd, r.exited = cmd, exited
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ping(r.Addr()) == nil {
			return nil
		}
		select {
		case <-exited:
			return &exec.ExitError{ProcessState: cmd.ProcessState}
		default:
		}
		if time.Now().After(deadline) {
			r.Kill()
			return os.ErrDeadlineExceeded
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ping speaks just enough RESP to see that the server answers.
func ping(addr string) error {
	v, err := Do(addr, "PING")
	if err != nil {
		return err
	}
	if v != "PONG" {
		return os.ErrInvalid
	}
	return nil
}

// Kill ends the server with SIGKILL, by its PID, as a crash would, and waits
// for it to exit.
func (r *Server) Kill() {
	if r.cmd == nil {
		return
	}
	select {
	case <-r.exited:
	default:
		syscall.Kill(r.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-r.exited:
		case <-time.After(10 * time.Second):
			r.t.Errorf("%s (pid %d) did not exit", filepath.Base(r.bin), r.cmd.Process.Pid)
		}
	}
	r.cmd = nil
}

// Do sends one command to the server and returns its reply (see the
// package-level Do).
func (r *Server) Do(args ...string) (any, error) { return Do(r.Addr(), args...) }

// Info returns the fields of an INFO section ("replication", "server"...).
func (r *Server) Info(section string) (map[string]string, error) {
	v, err := r.Do("INFO", section)
	if err != nil {
		return nil, err
	}
	s, _ := v.(string)
	out := make(map[string]string)
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}

// StartReplica starts a redis-server that replicates primary, and waits until
// the primary streams its writes to it. It has the primary send its data set
// at once, without the few seconds' wait for other replicas that Redis makes
// by default (repl-diskless-sync-delay).
func StartReplica(t testing.TB, primary *Server, extra ...string) *Server {
	t.Helper()
	if _, err := primary.Do("CONFIG", "SET", "repl-diskless-sync-delay", "0"); err != nil {
		t.Fatalf("CONFIG SET on the primary: %v", err)
	}
	r := Start(t, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(primary.port)}, extra...)...)
	ssetest.WaitFor(t, 10*time.Second, "the replica's first sync", func() bool {
		info, err := r.Info("replication")
		return err == nil && info["master_link_status"] == "up"
	})
	// After a diskless sync the primary streams writes to the replica only
	// once the replica has acknowledged (within a second): until then the
	// replica has the data set but misses every write. A write made after the
	// sync that arrives shows that it no longer does.
	if _, err := primary.Do("SET", "redistest:replica", "streaming"); err != nil {
		t.Fatalf("SET on the primary: %v", err)
	}
	ssetest.WaitFor(t, 10*time.Second, "the primary to stream to the replica", func() bool {
		v, err := r.Do("GET", "redistest:replica")
		return err == nil && v == "streaming"
	})
	if _, err := primary.Do("DEL", "redistest:replica"); err != nil {
		t.Fatalf("DEL on the primary: %v", err)
	}
	return r
}

// A RedisError is an error reply.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// Do sends one command to the server at addr on a connection of its own and
// returns the reply: a string (simple or bulk), an int64, a []any, nil, or a
// RedisError.
func Do(addr string, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	v, err := readReply(bufio.NewReader(c))
	if err != nil {
		return nil, err
	}
	if e, ok := v.(RedisError); ok {
		return nil, e
	}
	return v, nil
}

func readReply(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redistest: empty reply line")
	}
	switch body := line[1:]; line[0] {
	case '+':
		return body, nil
	case '-':
		return RedisError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(rd); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redistest: unexpected reply %q", line)
}
