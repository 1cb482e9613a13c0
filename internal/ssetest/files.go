package ssetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/core"
)

// fileLimit is the child's limit of open files in OutOfFiles, and floodSize
// how many clients ask for a stream at once: well past the limit.
const (
	fileLimit = 256
	floodSize = 2 * fileLimit
)

// Serving starts an app that streams every request on hub, on 127.0.0.1, and
// returns its URL and a function that shuts it down the documented way.
type Serving func(hub *core.Hub) (url string, shutdown func(context.Context) error)

// OutOfFiles checks that an app keeps serving when its process runs out of
// file descriptors. It re-runs the calling test as a child process whose open-file limit is lowered to fileLimit; the child serves
// with serve on a hub with the default stream cap. The parent then opens
// floodSize streams at once: each gets its stream or a 503 with Retry-After
// within a bounded wait, never a dead server; afterwards a new client
// streams, and once every client has left, the child holds no more
// descriptors or goroutines than before the flood.
func OutOfFiles(t *testing.T, serve Serving) {
	if os.Getenv("SSEHUB_FILES_CHILD") == "1" {
		filesChild(t, serve)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SSEHUB_FILES_CHILD=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { // the child ends when its stdin closes; a stuck one is killed by its PID
		stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("child: %v", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("child %d did not exit; killed", cmd.Process.Pid)
			<-exited
		}
	}()
	lines := bufio.NewScanner(stdout)
	report := func() map[string]string {
		t.Helper()
		for lines.Scan() {
			if f := strings.Fields(lines.Text()); len(f) > 0 && f[0] == "REPORT" {
				kv := map[string]string{}
				for i := 1; i+1 < len(f); i += 2 {
					kv[f[i]] = f[i+1]
				}
				return kv
			}
		}
		t.Fatalf("child ended without a report: %v", lines.Err())
		return nil
	}
	before := report()
	base := before["url"]
	t.Logf("child %d: limit %d files, stream cap %s, %s files and %s goroutines before the flood",
		cmd.Process.Pid, fileLimit, before["cap"], before["fds"], before["goroutines"])

	start := time.Now()
	statuses, conns := flood(t, base, floodSize)
	counts := map[string]int{}
	for _, s := range statuses {
		counts[s]++
	}
	t.Logf("%d clients at once: %v in %v", floodSize, counts, time.Since(start).Round(time.Millisecond))
	if counts["200"]+counts["503"] != floodSize {
		t.Errorf("every client must get its stream or 503: %v", counts)
	}
	if capacity, _ := strconv.Atoi(before["cap"]); counts["200"] > capacity || counts["200"] == 0 {
		t.Errorf("%d streams, cap %d", counts["200"], capacity)
	}

	c := Open(t, base+"/after") // the server survived: a new client streams
	c.Close()
	for _, conn := range conns {
		conn.Close()
	}
	fmt.Fprintln(stdin, "report")
	after := report()
	t.Logf("after: %s files, %s goroutines, %s streams", after["fds"], after["goroutines"], after["streams"])
	if after["streams"] != "0" {
		t.Errorf("streams left: %s", after["streams"])
	}
	if n, m := atoi(after["fds"]), atoi(before["fds"]); n > m+2 {
		t.Errorf("descriptors: %d after, %d before", n, m)
	}
	if n, m := atoi(after["goroutines"]), atoi(before["goroutines"]); n > m+2 {
		t.Errorf("goroutines: %d after, %d before", n, m)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// flood asks for n streams at once, at most 32 being dialled at a time, and
// returns each one's status ("200", "503", or what went wrong) and the
// connections of the streams, which stay open.
func flood(t *testing.T, base string, n int) ([]string, []net.Conn) {
	u, err := url.Parse(base)
	must(t, err)
	statuses := make([]string, n)
	var mu sync.Mutex
	var open []net.Conn
	var wg sync.WaitGroup
	slots := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			conn, status := askForStream(u.Host)
			statuses[i] = status
			if conn != nil {
				mu.Lock()
				open = append(open, conn)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return statuses, open
}

// askForStream requests a stream and reads its status within 10 seconds:
// a bounded wait. It returns the connection of a 200, which it leaves open.
func askForStream(host string) (net.Conn, string) {
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return nil, "dial " + failure(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /flood HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, "read " + failure(err)
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			conn.Close()
			return nil, "503 without Retry-After"
		}
		io.Copy(io.Discard, resp.Body)
		conn.Close()
		return nil, strconv.Itoa(resp.StatusCode)
	}
	conn.SetDeadline(time.Time{})
	return conn, "200"
}

// failure names the kind of a network error, so that they can be counted.
func failure(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	}
	return "error"
}

// filesChild is the child of OutOfFiles: it lowers its limit, serves, and
// reports on stdout: once at the start, then whenever a line arrives on
// stdin, after its streams have ended. It stops when stdin closes.
func filesChild(t *testing.T, serve Serving) {
	lim := syscall.Rlimit{Cur: fileLimit, Max: fileLimit}
	must(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	hub := core.NewHub()
	base, shutdown := serve(hub)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	baseline := -1
	report := func() {
		WaitFor(t, 15*time.Second, "streams to end", func() bool { return hub.Stats().Subscribers == 0 })
		// A server's idle workers and connections take a while to go
		// (fasthttp stops idle workers every 10s): wait for them, bounded.
		for deadline := time.Now().Add(25 * time.Second); baseline >= 0 && runtime.NumGoroutine() > baseline+2 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		if baseline < 0 {
			baseline = runtime.NumGoroutine()
		}
		runtime.GC()
		fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(os.Getpid()), "fd"))
		must(t, err)
		fmt.Printf("REPORT url %s cap %d fds %d goroutines %d streams %d\n",
			base, hub.Stats().MaxSubscribers, len(fds), runtime.NumGoroutine(), hub.Stats().Subscribers)
	}
	report()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		report()
	}
}
