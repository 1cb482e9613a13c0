package e2ebench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The server is this process (the clients are children), so its figures are
// our own: getrusage(RUSAGE_SELF), /proc/self/io and /proc/self/status.

type procSample struct {
	user, sys time.Duration
	ctxsw     int64 // voluntary + involuntary context switches
	syscw     int64 // write syscalls (-1 if /proc/self/io is unreadable)
	mallocs   uint64
}

func (s procSample) cpu() time.Duration { return s.user + s.sys }

func sampleProc() procSample {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return procSample{
		user:    time.Duration(u.Utime.Nano()),
		sys:     time.Duration(u.Stime.Nano()),
		ctxsw:   u.Nvcsw + u.Nivcsw,
		syscw:   procIO("syscw"),
		mallocs: ms.Mallocs,
	}
}

// procIO returns a field of /proc/self/io, or -1.
func procIO(field string) int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	return procField(b, field+":")
}

// vmRSSKiB returns VmRSS from /proc/self/status, in KiB, or -1.
func vmRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	return procField(b, "VmRSS:")
}

func procField(b []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	return -1
}

// memSample is the Go runtime's view after a GC.
type memSample struct {
	heapInuse, stackInuse uint64
	goroutines            int
}

func sampleMem() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}
