//go:build !linux

package loadgen

import (
	"os/exec"
	"syscall"
)

// rcvbufControl: elsewhere the stuck client keeps the default buffer.
func rcvbufControl(int) func(network, address string, c syscall.RawConn) error { return nil }

// dieWithParent: without Pdeathsig the child still exits when its stdin
// closes, and after its Lifetime.
func dieWithParent(*exec.Cmd) {}

func cpuSeconds() (user, sys float64) { return 0, 0 }
