//go:build !unix

package core

// fdCap is 0, no cap: there is no open-file limit to read here.
func fdCap() int { return 0 }
