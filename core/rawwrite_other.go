//go:build !unix

package core

// canWriteRaw: elsewhere every stream is written by its own goroutine.
const canWriteRaw = false

func (c *ConnStream) rawWrite(fd uintptr) bool { return true }
