// Package e2ebench holds the end-to-end benchmarks of ssehub: a ginsse or
// fibersse server in the benchmark process, and SSE clients over real
// loopback connections in child processes (internal/loadgen). The figures
// are those of issue 5's targets, reported with b.ReportMetric:
//
//	go test -run '^$' -bench . -benchmem -benchtime=1x -timeout 30m ./internal/e2ebench/
//	SSEHUB_BENCH_MAXCONN=19000 go test -run '^$' -bench MaxConnections -benchtime=1x -timeout 30m ./internal/e2ebench/
//
// Under -short every scenario runs at a tenth of its size (and the
// 10,000-connection ones at 1,000). SSEHUB_BENCH_PROFILE_DIR=dir writes heap
// and goroutine profiles taken at the idle-memory measurement point.
//
// A plain "go test" runs only a quick smoke test of the machinery.
package e2ebench
