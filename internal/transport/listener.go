package transport

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// RetryListener wraps ln so that Accept waits out a process out of file
// descriptors (EMFILE, ENFILE) and like failures, retrying with a backoff
// from 5 ms to 1 s as net/http's server does, instead of returning an error
// that a server (fasthttp's) takes as the end of serving.
func RetryListener(ln net.Listener) net.Listener { return retryListener{ln} }

type retryListener struct{ net.Listener }

func (l retryListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || !retryable(err) {
			return c, err
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		time.Sleep(delay)
	}
}

// retryable reports whether an accept error passes by itself: the process or
// system is out of descriptors or buffers, or the peer gave up before it was
// accepted.
func retryable(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
