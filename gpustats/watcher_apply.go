package gpustats

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// scanBatch is how many keys one SCAN step asks for and one MGET reads.
const scanBatch = 500

// resync reads every report key and applies what it finds, then forgets nodes that are gone and long stale.
func (w *Watcher) resync(ctx context.Context) error {
	seen := make(map[string]bool, len(w.nodes))
	now := w.clock.Now()
	// ForEachMaster scans every master at once: applying what they fetched must take turns.
	var applying sync.Mutex
	read := func(ctx context.Context, c redis.Cmdable) error {
		return w.scanKeys(ctx, c, func(keys []string) error {
			vals, err := w.fetch(ctx, c, keys)
			if err != nil {
				return err
			}
			applying.Lock()
			defer applying.Unlock()
			w.applyBatch(keys, vals, now, seen)
			return nil
		})
	}
	var err error
	if cc, ok := w.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return read(ctx, c) })
	} else {
		err = read(ctx, w.client)
	}
	if err != nil {
		w.publishIndex() // what was read before the error
		return fmt.Errorf("reading GPU reports: %w", err)
	}
	for id, n := range w.nodes {
		if !seen[id] && now.Sub(n.Updated) > w.opts.Forget {
			w.remove(id, now)
		}
	}
	w.publishIndex()
	w.resyncs.Add(1)
	return nil
}

// scanKeys walks the report keys on one server with SCAN and hands them to batch, at most scanBatch at a time.
// Keys under the prefix that hold no node report (the stream) are left out.
func (w *Watcher) scanKeys(ctx context.Context, c redis.Cmdable, batch func(keys []string) error) error {
	iter := c.Scan(ctx, 0, w.opts.Names.Pattern(), scanBatch).Iterator()
	keys := make([]string, 0, scanBatch)
	for iter.Next(ctx) {
		if _, ok := w.opts.Names.NodeID(iter.Val()); !ok {
			continue
		}
		if keys = append(keys, iter.Val()); len(keys) == scanBatch {
			if err := batch(keys); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return batch(keys)
}

// applyBatch applies the reports that keys held (vals[i] from keys[i], nil where a key vanished) and marks their
// nodes seen.
func (w *Watcher) applyBatch(keys []string, vals [][]byte, now time.Time, seen map[string]bool) {
	for i, v := range vals {
		if v != nil {
			id, _ := w.opts.Names.NodeID(keys[i])
			seen[id] = true
			w.apply(keys[i], v, now)
		}
	}
}

// fetch reads keys in one round trip: MGET on one server, a pipeline of GETs on a cluster, where MGET must not
// span hash slots. Keys that vanished or hold another type come back nil.
func (w *Watcher) fetch(ctx context.Context, c redis.Cmdable, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if _, cluster := w.client.(*redis.ClusterClient); !cluster {
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			if s, ok := v.(string); ok {
				out[i] = []byte(s)
			}
		}
		return out, nil
	}
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, err
	}
	for i, cmd := range cmds {
		if b, err := cmd.(*redis.StringCmd).Bytes(); err == nil {
			out[i] = b
		}
	}
	return out, nil
}

// apply decodes one report, from key (resync), from the channel (key "") or from the stream (key is the stream's
// name), and installs it if it is newer than what the watcher holds. A tombstone removes the node.
func (w *Watcher) apply(key string, data []byte, now time.Time) {
	history := key == w.opts.Names.Stream()
	r, err := w.opts.Decoder.Decode(data, now)
	if err == nil && key != "" && !history && w.opts.Names.Node(r.NodeID) != key {
		err = reject(RejectWrongKey, "key %q holds a report of node %q", key, r.NodeID)
	}
	if err == nil {
		if old := w.nodes[r.NodeID]; old != nil && r.Timestamp <= old.Report.Timestamp {
			if r.Timestamp == old.Report.Timestamp || history {
				return // the same report read again, or an older entry of the stream read after a reconnect
			}
			err = reject(RejectOutOfOrder, "report of %q from %s is older than the one held (%s)", r.NodeID,
				r.Time().Format(time.RFC3339Nano), old.Updated.Format(time.RFC3339Nano))
		}
	}
	if err != nil {
		w.rejectedReport(key, err, now)
		return
	}
	if r.Tombstone {
		w.remove(r.NodeID, now)
		return
	}
	w.accepted.Add(1)
	n := NewNode(r, w.nodes[r.NodeID])
	snap := w.Snapshot()
	w.nodes[r.NodeID] = n
	if snap.sameIndex(n) {
		snap.slots[snap.ids[r.NodeID]].Store(n)
		return
	}
	w.indexChanged(now)
}

// applyVerified takes a published report as a notice (WatcherOptions.VerifyChannel): it applies what the node's
// key holds, which per-node ACLs protect, rather than the message, which any publisher could have forged. A
// tombstone counts only once its node's key is gone. It returns only Redis errors.
func (w *Watcher) applyVerified(ctx context.Context, data []byte, now time.Time) error {
	r, err := w.opts.Decoder.Decode(data, now)
	if err != nil {
		w.rejectedReport("", err, now)
		return nil
	}
	key := w.opts.Names.Node(r.NodeID)
	stored, err := w.client.Get(ctx, key).Bytes()
	switch {
	case err == redis.Nil:
		if r.Tombstone {
			w.remove(r.NodeID, now)
		}
		return nil // otherwise a report that nobody stored under its node's key: not used
	case err != nil:
		return fmt.Errorf("reading %s: %w", key, err)
	}
	w.apply(key, stored, now)
	return nil
}

func (w *Watcher) remove(id string, now time.Time) {
	if _, ok := w.nodes[id]; ok {
		delete(w.nodes, id)
		w.indexChanged(now)
	}
}

// indexDelay is how long a change to the set of nodes may wait for others before the snapshot is rebuilt. A
// rebuild costs O(nodes); without the delay, a thousand reporters starting together would cost a million.
const indexDelay = 5 * time.Millisecond

// indexChanged notes that the snapshot's index no longer matches w.nodes; the session rebuilds it within
// indexDelay, and a resync at its end.
func (w *Watcher) indexChanged(now time.Time) {
	if w.indexStale.IsZero() {
		w.indexStale = now
	}
}

// publishIndex replaces the snapshot with one built from w.nodes, if the index changed.
func (w *Watcher) publishIndex() {
	if w.indexStale.IsZero() {
		return
	}
	w.indexStale = time.Time{}
	nodes := make([]*Node, 0, len(w.nodes))
	for _, n := range w.nodes {
		nodes = append(nodes, n)
	}
	w.snap.Store(NewSnapshot(nodes...))
}

func (w *Watcher) rejectedReport(key string, err error, now time.Time) {
	reason := RejectReason(err)
	for i, r := range rejectReasons {
		if r == reason {
			w.rejected[i].Add(1)
		}
	}
	if last, ok := w.loggedAt[reason]; ok && now.Sub(last) < w.opts.Resync {
		return
	}
	w.loggedAt[reason] = now
	w.log.Warn("ignoring GPU report", zap.String("key", key), zap.String("reason", reason), zap.Error(err))
}
