// Package gpustats is the wire contract between gpu-reporter and the vram_aware policy: the report a GPU node
// publishes to Redis, its JSON codec, the checks an untrusted report must pass, HMAC signing, the Redis names, the
// Publisher (write side) and the Watcher (read side, an immutable snapshot of every node).
//
// The JSON is compatible in both directions with SOLLOL's Python gpu_reporter.py: its members keep SOLLOL's names
// and units (memory in MiB, utilisation in percent, temperature in °C, timestamp in epoch seconds), and everything
// this project adds is an additional member that SOLLOL's reader ignores.
package gpustats

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Schema is the version of the extended report written by this package. SOLLOL's reports carry no schema member
// and decode as schema 0.
const Schema = 2

// Vendors a report may name. SOLLOL writes "none" for a CPU-only node and "unknown" when it cannot tell.
const (
	VendorNVIDIA  = "nvidia"
	VendorAMD     = "amd"
	VendorIntel   = "intel"
	VendorNone    = "none"
	VendorUnknown = "unknown"
)

// Report is one node's state as published to Redis under the key Names.Node(NodeID).
type Report struct {
	// Vendor is one of the Vendor constants.
	Vendor string `json:"vendor"`
	// NodeID names the Ollama server this report describes, by convention "host:port" as clients reach it.
	NodeID string `json:"node_id"`
	// Timestamp is when the report was taken, in seconds since the Unix epoch. Freshness is judged from it.
	Timestamp float64 `json:"timestamp"`
	// GPUs lists every GPU of the node; an empty list means a CPU-only node.
	GPUs []GPU `json:"gpus"`
	// Note is free text, such as SOLLOL's "CPU-only mode".
	Note string `json:"note,omitempty"`

	// Schema is Schema for reports written by this package, 0 for SOLLOL's.
	Schema int `json:"schema,omitempty"`
	// Hostname is the node's host name.
	Hostname string `json:"hostname,omitempty"`
	// Addresses are other host names or IP addresses under which upstreams may know this node.
	Addresses []string `json:"addresses,omitempty"`
	// IntervalS is the reporter's publishing interval in seconds.
	IntervalS float64 `json:"interval_s,omitempty"`
	// Draining asks gateways to send the node no new requests while others can take them.
	Draining bool `json:"draining,omitempty"`
	// Tombstone marks the last message of a reporter that shut down cleanly: readers drop the node.
	Tombstone bool `json:"tombstone,omitempty"`
	// Ollama is what the node's Ollama server said about its models; nil when the reporter did not ask.
	Ollama *Ollama `json:"ollama,omitempty"`
}

// GPU is one device. A Measure that the driver does not give is unknown (JSON null), never zero.
type GPU struct {
	Index         int     `json:"index"`
	Name          string  `json:"name"`
	UUID          string  `json:"uuid,omitempty"`
	MemoryTotalMB Measure `json:"memory_total_mb"`
	MemoryFreeMB  Measure `json:"memory_free_mb"`
	MemoryUsedMB  Measure `json:"memory_used_mb"`
	// UtilizationPct is the share of time the GPU was busy, 0–100.
	UtilizationPct Measure `json:"utilization_percent"`
	TemperatureC   Measure `json:"temperature_c"`
	// PowerW is the power draw in watts; omitted when unknown.
	PowerW Measure `json:"power_w,omitzero"`
}

// Ollama is the node's Ollama server state.
type Ollama struct {
	// Reachable is false when the reporter could not get an answer from Ollama.
	Reachable bool `json:"reachable"`
	// Loaded are the models in memory (GET /api/ps).
	Loaded []LoadedModel `json:"loaded"`
	// Installed are the models on disk (GET /api/tags). Nil means not known; an empty list means none.
	Installed []InstalledModel `json:"installed"`
	// NumParallel is OLLAMA_NUM_PARALLEL as the reporter knows it: how many requests one loaded model serves at
	// once. 0 means not reported (readers assume Ollama's default, 1).
	NumParallel int `json:"num_parallel,omitempty"`
	// RAMMB is the node's system memory in MiB, where Ollama spills the layers of a model that does not fit the
	// GPUs; 0 means not reported.
	RAMMB float64 `json:"ram_mb,omitempty"`
}

// LoadedModel is a model Ollama holds in memory.
type LoadedModel struct {
	Name string `json:"name"`
	// SizeMB is the model's memory footprint; SizeVRAMMB the part of it in GPU memory (0: all on CPU).
	SizeMB     float64 `json:"size_mb"`
	SizeVRAMMB float64 `json:"size_vram_mb"`
	// ExpiresAt is when Ollama will unload it (RFC 3339), empty when unknown.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// InstalledModel is a model Ollama has on disk.
type InstalledModel struct {
	Name   string  `json:"name"`
	SizeMB float64 `json:"size_mb"`
}

// Time returns the report's timestamp as a time.Time.
func (r *Report) Time() time.Time {
	sec, frac := math.Modf(r.Timestamp)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// Timestamp converts t to a report timestamp: epoch seconds with sub-second precision, as Python's time.time().
func Timestamp(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// Measure is a non-negative quantity that may be unknown. Unknown is NaN in Go and null in JSON, so that a missing
// reading is never mistaken for zero free memory.
type Measure float64

// Unknown is the Measure a sampler reports when the device does not give a value.
var Unknown = Measure(math.NaN())

// Known reports whether m holds a value.
func (m Measure) Known() bool { return !math.IsNaN(float64(m)) }

// MarshalJSON writes m as a number, or null when unknown. Whole numbers carry no fraction, as Python writes ints.
func (m Measure) MarshalJSON() ([]byte, error) {
	if !m.Known() {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(m), 'f', -1, 64), nil
}

// UnmarshalJSON reads a number, or null as unknown.
func (m *Measure) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = Unknown
		return nil
	}
	// The decoder has checked the JSON syntax already: a number parses here, anything else is an error.
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("want a number or null, got %.32s", b)
	}
	*m = Measure(f)
	return nil
}

// IsZero lets omitzero drop an unknown Measure.
func (m Measure) IsZero() bool { return !m.Known() }

// UnmarshalJSON decodes a GPU; a member that is absent stays unknown rather than zero.
func (g *GPU) UnmarshalJSON(b []byte) error {
	type plain GPU
	p := plain{MemoryTotalMB: Unknown, MemoryFreeMB: Unknown, MemoryUsedMB: Unknown,
		UtilizationPct: Unknown, TemperatureC: Unknown, PowerW: Unknown}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*g = GPU(p)
	return nil
}
