package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters without replicas, on loopback.
type Cluster struct {
	t testing.TB
	// Nodes are the masters; together they serve every hash slot.
	Nodes []*Server
}

// StartCluster launches three redis-server processes in cluster mode (each with its bus on a free port of its own),
// joins them with redis-cli --cluster create, and waits until every node reports cluster_state:ok. Extra args go
// to every node. It needs redis-cli (Debian: redis-tools, which redis-server depends on).
func StartCluster(t testing.TB, args ...string) *Cluster {
	t.Helper()
	cli := lookup(t, "redis-cli", "redis-tools")
	c := &Cluster{t: t}
	addrs := make([]string, 3)
	for i := range addrs {
		s := newServer(t)
		s.args = append([]string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-port", strconv.Itoa(FreePort(t)), "--cluster-node-timeout", "2000"}, args...)
		s.start()
		c.Nodes = append(c.Nodes, s)
		addrs[i] = s.Addr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cliArgs := append([]string{"--cluster", "create"}, addrs...)
	cliArgs = append(cliArgs, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, cliArgs...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(cliArgs, " "), err, out)
	}
	for _, s := range c.Nodes {
		client := s.Client()
		waitFor(t, 15*time.Second, "cluster_state:ok on "+s.Addr(), func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			v, err := client.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(v, "cluster_state:ok"), fmt.Sprint(v, err)
		})
	}
	return c
}

// Addrs are the nodes' "127.0.0.1:port" addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		addrs[i] = s.Addr()
	}
	return addrs
}

// URL is the redis-cluster:// URL naming every node, as gpustats.NewClient reads it.
func (c *Cluster) URL() string {
	u := "redis-cluster://" + c.Nodes[0].Addr()
	for i, a := range c.Addrs()[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// Client returns a cluster client for the nodes that is closed when the test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.t.Cleanup(func() { cc.Close() })
	return cc
}
