package redistest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/ssetest"
)

// Sentinels are redis-sentinel processes that watch one primary and its
// replicas under one name, with a quorum of two.
type Sentinels struct {
	t    testing.TB
	Name string // the name the primary is monitored under
	list []*Server
}

// StartSentinels starts n redis-sentinel processes (from PATH) that watch
// primary, with replicas, under the name "ssehub". A sentinel deems the
// primary down after downAfter without an answer, and a failover that has
// not finished after failoverTimeout is given up (and tried again after
// twice that). Each sentinel is told the others and the replicas at start,
// instead of finding them within seconds, so that a failover can begin at
// once. They are killed when the test ends. Without redis-sentinel the test
// is skipped, except under CI=true.
func StartSentinels(t testing.TB, n int, primary *Server, replicas []*Server, downAfter, failoverTimeout time.Duration) *Sentinels {
	t.Helper()
	bin := lookPath(t, "redis-sentinel")
	s := &Sentinels{t: t, Name: "ssehub"}
	ids := make([]string, n)
	for i := range ids {
		var b [20]byte
		rand.Read(b[:])
		ids[i] = hex.EncodeToString(b[:])
	}
	for range n {
		s.list = append(s.list, &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)})
	}
	for i, sn := range s.list {
		var conf strings.Builder
		fmt.Fprintf(&conf, "port %d\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n", sn.port)
		fmt.Fprintf(&conf, "dir %s\nlogfile %s\n", sn.dir, filepath.Join(sn.dir, "sentinel.log"))
		fmt.Fprintf(&conf, "sentinel myid %s\n", ids[i])
		fmt.Fprintf(&conf, "sentinel monitor %s 127.0.0.1 %d 2\n", s.Name, primary.port)
		fmt.Fprintf(&conf, "sentinel down-after-milliseconds %s %d\n", s.Name, downAfter.Milliseconds())
		fmt.Fprintf(&conf, "sentinel failover-timeout %s %d\n", s.Name, failoverTimeout.Milliseconds())
		fmt.Fprintf(&conf, "sentinel parallel-syncs %s 1\n", s.Name)
		for _, r := range replicas {
			fmt.Fprintf(&conf, "sentinel known-replica %s 127.0.0.1 %d\n", s.Name, r.port)
		}
		for j, other := range s.list {
			if j != i {
				fmt.Fprintf(&conf, "sentinel known-sentinel %s 127.0.0.1 %d %s\n", s.Name, other.port, ids[j])
			}
		}
		path := filepath.Join(sn.dir, "sentinel.conf") // sentinels rewrite their config: it must be writable
		if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		sn.argv = func() []string { return []string{path} }
		if err := sn.tryStart(); err != nil {
			t.Fatalf("starting redis-sentinel: %v", err)
		}
		t.Cleanup(sn.Kill)
	}
	ssetest.WaitFor(t, 10*time.Second, "the sentinels to see each other and the replicas", func() bool {
		for _, sn := range s.list {
			m, err := sn.Do("SENTINEL", "MASTER", s.Name)
			if err != nil {
				return false
			}
			f := fields(m)
			if f["flags"] != "master" || f["num-slaves"] != strconv.Itoa(len(replicas)) || f["num-other-sentinels"] != strconv.Itoa(n-1) {
				return false
			}
			reps, err := sn.Do("SENTINEL", "REPLICAS", s.Name)
			if err != nil {
				return false
			}
			list, _ := reps.([]any)
			for _, r := range list {
				if fields(r)["flags"] != "slave" {
					return false
				}
			}
		}
		return true
	})
	return s
}

// fields turns a [k1 v1 k2 v2 ...] reply into a map.
func fields(v any) map[string]string {
	list, _ := v.([]any)
	out := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		v, _ := list[i+1].(string)
		out[k] = v
	}
	return out
}

// Addrs are the sentinels' host:port addresses.
func (s *Sentinels) Addrs() []string {
	out := make([]string, len(s.list))
	for i, sn := range s.list {
		out[i] = sn.Addr()
	}
	return out
}

// Primary returns the address of the primary, as the first sentinel that
// answers names it.
func (s *Sentinels) Primary() (string, error) {
	var err error
	for _, sn := range s.list {
		var v any
		if v, err = sn.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.Name); err == nil {
			if hp, ok := v.([]any); ok && len(hp) == 2 {
				host, _ := hp[0].(string)
				port, _ := hp[1].(string)
				return host + ":" + port, nil
			}
			err = fmt.Errorf("redistest: unexpected reply %v", v)
		}
	}
	return "", err
}
