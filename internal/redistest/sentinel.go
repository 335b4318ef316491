package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name a Sentinel group from StartSentinel monitors.
const SentinelMaster = "mymaster"

// Sentinel is a Redis master, one replica, and Sentinel processes monitoring them with quorum 1, all on loopback.
type Sentinel struct {
	t testing.TB
	// Master and Replica are the data servers as started; after Failover their roles are swapped.
	Master, Replica *Server
	// Sentinels are the redis-server --sentinel processes.
	Sentinels []*Server
}

// StartSentinel launches a master, a replica of it, and n Sentinel processes (n is 1 or 3; quorum 1, a master is
// judged down after 1 s), with extra args for both data servers. It returns once the replica is in sync and every
// Sentinel knows the replica.
func StartSentinel(t testing.TB, n int, args ...string) *Sentinel {
	t.Helper()
	if n < 1 {
		n = 1
	}
	s := &Sentinel{t: t}
	// A replica's first sync waits repl-diskless-sync-delay (5 s by default) for more replicas: none are coming.
	s.Master = Start(t, append([]string{"--repl-diskless-sync-delay", "0"}, args...)...)
	s.Replica = Start(t, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port()),
		"--replica-priority", "100"}, args...)...)
	replica := s.Replica.Client()
	waitFor(t, 10*time.Second, "replica in sync", func() (bool, string) {
		v, err := info(replica, "replication", "master_link_status")
		return v == "up", fmt.Sprint(v, err)
	})
	for range n {
		sn := newServer(t)
		sn.sentinel = true
		sn.conf = filepath.Join(sn.dir, "sentinel.conf")
		conf := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
dir %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %[3]s 1000
sentinel failover-timeout %[3]s 10000
sentinel parallel-syncs %[3]s 1
`, sn.port, sn.dir, SentinelMaster, s.Master.Port())
		if err := os.WriteFile(sn.conf, []byte(conf), 0o600); err != nil {
			t.Fatalf("redistest: writing sentinel.conf: %v", err)
		}
		sn.start()
		s.Sentinels = append(s.Sentinels, sn)
	}
	for _, sn := range s.Sentinels {
		c := s.sentinelClient(sn)
		waitFor(t, 15*time.Second, "sentinel knows the replica", func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			replicas, err := c.Replicas(ctx, SentinelMaster).Result()
			for _, r := range replicas {
				if r["port"] == strconv.Itoa(s.Replica.Port()) && !strings.Contains(r["flags"], "down") {
					return true, ""
				}
			}
			return false, fmt.Sprint(replicas, err)
		})
	}
	return s
}

func (s *Sentinel) sentinelClient(sn *Server) *redis.SentinelClient {
	c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// URL is the redis-sentinel:// URL naming every Sentinel and the master name, as gpustats.NewClient reads it.
func (s *Sentinel) URL() string {
	u := "redis-sentinel://" + s.Sentinels[0].Addr() + "?master_name=" + SentinelMaster
	for _, sn := range s.Sentinels[1:] {
		u += "&addr=" + sn.Addr()
	}
	return u
}

// MasterAddr asks the first Sentinel for the current master's address.
func (s *Sentinel) MasterAddr() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	hp, err := s.sentinelClient(s.Sentinels[0]).GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil || len(hp) != 2 {
		s.t.Fatalf("redistest: asking Sentinel for the master: %v %v", hp, err)
	}
	return net.JoinHostPort(hp[0], hp[1])
}

// Failover kills the current master, as a crash would, and waits until every Sentinel names the replica as master
// and the replica has taken the role. Master and Replica are swapped; the killed server stays down.
func (s *Sentinel) Failover() {
	s.t.Helper()
	s.Master.Stop()
	want := s.Replica.Addr()
	for _, sn := range s.Sentinels {
		c := s.sentinelClient(sn)
		waitFor(s.t, 15*time.Second, "failover to "+want, func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			hp, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
			if err != nil || len(hp) != 2 {
				return false, fmt.Sprint(hp, err)
			}
			return net.JoinHostPort(hp[0], hp[1]) == want, "master is " + strings.Join(hp, ":")
		})
	}
	promoted := s.Replica.Client()
	waitFor(s.t, 10*time.Second, "replica promoted", func() (bool, string) {
		v, err := info(promoted, "replication", "role")
		return v == "master", fmt.Sprint(v, err)
	})
	s.Master, s.Replica = s.Replica, s.Master
}
