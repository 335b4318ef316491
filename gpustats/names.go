package gpustats

import "strings"

// DefaultPrefix is SOLLOL's key prefix. Its reader runs KEYS sollol:gpu:* and parses every key except the stream,
// so nothing but node reports may live under it; the update channel is not a key and does not show there.
const DefaultPrefix = "sollol:gpu:"

// Names are the Redis key, channel and stream names under one prefix. The zero value uses DefaultPrefix.
type Names struct {
	// Prefix starts every name; empty means DefaultPrefix.
	Prefix string
}

func (n Names) prefix() string {
	if n.Prefix == "" {
		return DefaultPrefix
	}
	return n.Prefix
}

// Node is the key holding the latest report of nodeID (SET with a TTL).
func (n Names) Node(nodeID string) string { return n.prefix() + nodeID }

// Stream is the history stream that reports are appended to (XADD, capped).
func (n Names) Stream() string { return n.prefix() + "stats" }

// Channel is the pub/sub channel every report and tombstone is published on.
func (n Names) Channel() string { return n.prefix() + "updates" }

// Pattern matches every key under the prefix, for SCAN.
func (n Names) Pattern() string { return n.prefix() + "*" }

// NodeID returns the node id a key holds, or false for a key that is not a node report (the stream, other prefixes).
func (n Names) NodeID(key string) (string, bool) {
	id, ok := strings.CutPrefix(key, n.prefix())
	if !ok || id == "" || key == n.Stream() {
		return "", false
	}
	return id, true
}
