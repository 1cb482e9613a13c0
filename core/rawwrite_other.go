//go:build !unix

package core

// enableRawWrites does nothing here: every stream is written by its own goroutine.
func (c *ConnStream) enableRawWrites() {}
