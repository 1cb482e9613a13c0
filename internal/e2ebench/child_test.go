package e2ebench

import (
	"os"
	"testing"

	"github.com/ssehub/ssehub/internal/loadgen"
)

// childTest is the test the benchmarks re-run this binary with to make a
// load generator.
const childTest = "TestLoadgenChild"

// TestLoadgenChild is the load generator's entry point in a child process
// (loadgen.Start sets loadgen.EnvVar); it checks nothing itself.
func TestLoadgenChild(t *testing.T) {
	if os.Getenv(loadgen.EnvVar) == "" {
		t.Skip("the load generator's entry point: runs only in a benchmark's child process")
	}
	loadgen.Main() // exits the process
}
