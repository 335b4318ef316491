package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
)

// watchers holds one watcher per distinct Redis target. It outlives config reloads: a reload that keeps the same
// target reuses the connection and the snapshot, and the last configuration to stop using a target closes it.
var watchers = caddy.NewUsagePool()

// watcherKey identifies a Redis target and everything that changes what its watcher accepts.
type watcherKey struct {
	url, prefix, keys string
	resync            time.Duration
	verify            bool
}

// sharedWatcher is a watcher and its client: every policy reading the same reports shares them, so that a reload
// does not read everything again.
type sharedWatcher struct {
	key     watcherKey
	client  redis.UniversalClient
	watcher *gpustats.Watcher
	// stale is the stale_after of the configuration that last provisioned with this target, for metrics.
	stale atomic.Int64
}

func (s *sharedWatcher) staleAfter() time.Duration { return time.Duration(s.stale.Load()) }

// Destruct stops the watcher and closes the client when no configuration uses them any more.
func (s *sharedWatcher) Destruct() error {
	s.watcher.Stop()
	return s.client.Close()
}

func acquireWatcher(url, prefix string, hmacKeys [][]byte, resync time.Duration, verify bool, log *zap.Logger) (*sharedWatcher, error) {
	h := sha256.New()
	sorted := make([]string, len(hmacKeys))
	for i, k := range hmacKeys {
		sorted[i] = string(k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		fmt.Fprintf(h, "%d:%s", len(k), k)
	}
	key := watcherKey{url: url, prefix: prefix, keys: hex.EncodeToString(h.Sum(nil)), resync: resync, verify: verify}
	v, _, err := watchers.LoadOrNew(key, func() (caddy.Destructor, error) {
		client, err := gpustats.NewClient(url)
		if err != nil {
			return nil, err
		}
		w := gpustats.NewWatcher(client, gpustats.WatcherOptions{
			Names:   gpustats.Names{Prefix: prefix},
			Decoder: gpustats.Decoder{Keys: hmacKeys},
			Resync:  resync,
			// Each published report is checked against its node's key (verify_channel).
			VerifyChannel: verify,
			Logger:        log.With(zap.String("redis", gpustats.Redact(url))),
		})
		w.Start(context.Background())
		return &sharedWatcher{key: key, client: client, watcher: w}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*sharedWatcher), nil
}

func releaseWatcher(s *sharedWatcher) {
	if s != nil {
		watchers.Delete(s.key)
	}
}

// eachWatcher calls f for every live shared watcher, for the admin API and metrics.
func eachWatcher(f func(*sharedWatcher)) {
	watchers.Range(func(_, v any) bool {
		f(v.(*sharedWatcher))
		return true
	})
}
