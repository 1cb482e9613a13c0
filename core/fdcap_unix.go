//go:build unix

package core

import "syscall"

// fdCap is the default stream cap: the soft limit of open files, less room
// for the app's other files and connections; 0 (no cap) when there is no
// such limit.
func fdCap() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	cur := uint64(lim.Cur) // unsigned or not, by platform
	if cur > 1<<30 {       // unlimited (RLIM_INFINITY), or as good as
		return 0
	}
	return capBelow(int(cur))
}

// capBelow returns the streams a process with a limit of files may serve:
// the limit less an eighth of it, at least 32, kept for the app's other
// files and connections (half the limit when that leaves too little).
func capBelow(limit int) int {
	reserve := max(32, limit/8)
	if limit < 2*reserve {
		return max(limit/2, 1)
	}
	return limit - reserve
}
