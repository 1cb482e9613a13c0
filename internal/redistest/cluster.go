package redistest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/ssetest"
)

// StartCluster starts a Redis Cluster of n primaries without replicas on
// loopback, the hash slots split evenly among them, and waits until every
// node reports the cluster ok. It needs Redis 7.0 or later (cluster-port).
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	nodes := make([]*Server, n)
	buses := make([]int, n)
	for i := range nodes {
		buses[i] = freePort(t)
		nodes[i] = Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(buses[i]), "--cluster-node-timeout", "2000")
	}
	for i, node := range nodes {
		lo, hi := i*16384/n, (i+1)*16384/n-1
		args := []string{"CLUSTER", "ADDSLOTS"}
		for s := lo; s <= hi; s++ {
			args = append(args, strconv.Itoa(s))
		}
		if _, err := node.Do(args...); err != nil {
			t.Fatalf("CLUSTER ADDSLOTS on %s: %v", node.Addr(), err)
		}
		if i > 0 {
			if _, err := node.Do("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(nodes[0].port), strconv.Itoa(buses[0])); err != nil {
				t.Fatalf("CLUSTER MEET from %s: %v", node.Addr(), err)
			}
		}
	}
	ssetest.WaitFor(t, 20*time.Second, "the cluster to form", func() bool {
		for _, node := range nodes {
			v, err := node.Do("CLUSTER", "INFO")
			s, _ := v.(string)
			if err != nil || !strings.Contains(s, "cluster_state:ok") ||
				!strings.Contains(s, "cluster_known_nodes:"+strconv.Itoa(n)+"\r\n") {
				return false
			}
		}
		return true
	})
	return nodes
}
