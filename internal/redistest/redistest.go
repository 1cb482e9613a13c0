// Package redistest starts real redis-server processes for tests: on a free
// loopback port, without persistence unless asked, ended by their PID.
package redistest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Server is a redis-server process of the test's own, on a free
// loopback port, with its files in a temporary directory.
type Server struct {
	t      testing.TB
	bin    string
	port   int
	dir    string
	extra  []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts redis-server from PATH, without persistence unless extra
// arguments say otherwise, and stops it when the test ends. Without the binary
// the test is skipped, except under CI=true, where that is a failure.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server is not on PATH (Debian: apt-get install redis-server); skipping tests against a real Redis"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	r := &Server{t: t, bin: bin, dir: t.TempDir(), extra: extra}
	for attempt := 0; ; attempt++ { // another process may take the port before redis-server binds it
		r.port = freePort(t)
		if err := r.tryStart(); err == nil {
			break
		} else if attempt == 2 {
			t.Fatalf("starting redis-server: %v", err)
		}
	}
	t.Cleanup(r.Kill)
	return r
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
		r.t.Fatalf("restarting redis-server: %v", err)
	}
}

func (r *Server) tryStart() error {
	args := append([]string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"),
	}, r.extra...) // later arguments win
	cmd := exec.Command(r.bin, args...)
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
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
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
			r.t.Errorf("redis-server (pid %d) did not exit", r.cmd.Process.Pid)
		}
	}
	r.cmd = nil
}
