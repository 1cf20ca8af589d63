package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartCluster starts n redis-server processes in cluster mode, splits the
// 16384 hash slots between them, joins them into one cluster and waits
// until every node reports cluster_state:ok. It uses only the servers' own
// commands (no redis-cli). The servers stop when the test ends.
func StartCluster(tb testing.TB, n int) []*Server {
	tb.Helper()
	nodes := make([]*Server, n)
	for i := range nodes {
		nodes[i] = Start(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
	}
	ctx := context.Background()
	per := 16384 / n
	for i, s := range nodes {
		c := s.Client()
		lo, hi := i*per, (i+1)*per-1
		if i == n-1 {
			hi = 16383
		}
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			tb.Fatalf("redistest: CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, s.Addr(), err)
		}
		if i > 0 {
			if err := c.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", nodes[0].port).Err(); err != nil {
				tb.Fatalf("redistest: CLUSTER MEET from %s: %v", s.Addr(), err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range nodes {
		for !clusterOK(s.Client()) {
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster of %d nodes did not reach cluster_state:ok within 20s", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

func clusterOK(c *redis.Client) bool {
	info, err := c.ClusterInfo(context.Background()).Result()
	if err != nil {
		return false
	}
	// ok means every slot is served, which needs every node to have met.
	return strings.Contains(info, "cluster_state:ok")
}

// Addrs returns the nodes' host:port addresses.
func Addrs(nodes []*Server) []string {
	out := make([]string, len(nodes))
	for i, s := range nodes {
		out[i] = "127.0.0.1:" + strconv.Itoa(s.port)
	}
	return out
}
