package gpustats

import (
	"math"
	"time"
	"unicode"
)

// Bounds on an untrusted report. They are far above any real node and far below what could hurt a gateway.
const (
	MaxGPUs            = 64
	MaxLoadedModels    = 256
	MaxInstalledModels = 4096
	MaxNumParallel     = 1024
	MaxAddresses       = 32
	MaxNameLen         = 256
	MaxNoteLen         = 1024
	// MaxMemoryMB is 16 TiB: no single device or model comes near it.
	MaxMemoryMB = 16 << 20
)

// Validate checks every value of a decoded report and returns a *RejectError naming the first bad one. now and
// maxSkew bound the timestamp from above; staleness is the reader's business, not a validation error.
func (r *Report) Validate(now time.Time, maxSkew time.Duration) error {
	switch r.Vendor {
	case VendorNVIDIA, VendorAMD, VendorIntel, VendorNone, VendorUnknown:
	default:
		return reject(RejectInvalid, "unknown vendor %.32q", r.Vendor)
	}
	if err := checkName("node_id", r.NodeID, false); err != nil {
		return err
	}
	if !finite(r.Timestamp) || r.Timestamp <= 0 {
		return reject(RejectInvalid, "timestamp %v is not a positive number", r.Timestamp)
	}
	if ahead := r.Time().Sub(now); ahead > maxSkew {
		return reject(RejectFuture, "timestamp is %s in the future (allowed skew %s)", ahead.Round(time.Millisecond), maxSkew)
	}
	if len(r.Note) > MaxNoteLen {
		return reject(RejectInvalid, "note is %d bytes, limit %d", len(r.Note), MaxNoteLen)
	}
	if err := checkName("hostname", r.Hostname, true); err != nil {
		return err
	}
	if len(r.Addresses) > MaxAddresses {
		return reject(RejectInvalid, "%d addresses, limit %d", len(r.Addresses), MaxAddresses)
	}
	for _, a := range r.Addresses {
		if err := checkName("address", a, false); err != nil {
			return err
		}
	}
	if !finite(r.IntervalS) || r.IntervalS < 0 || r.IntervalS > 3600 {
		return reject(RejectInvalid, "interval_s %v outside 0–3600", r.IntervalS)
	}
	if len(r.GPUs) > MaxGPUs {
		return reject(RejectInvalid, "%d GPUs, limit %d", len(r.GPUs), MaxGPUs)
	}
	for i := range r.GPUs {
		if err := r.GPUs[i].validate(); err != nil {
			return err
		}
	}
	if r.Ollama != nil {
		return r.Ollama.validate()
	}
	return nil
}

func (g *GPU) validate() error {
	if g.Index < 0 || g.Index >= 1024 {
		return reject(RejectInvalid, "GPU index %d outside 0–1023", g.Index)
	}
	if len(g.Name) > MaxNameLen || len(g.UUID) > MaxNameLen {
		return reject(RejectInvalid, "GPU %d: name or uuid longer than %d bytes", g.Index, MaxNameLen)
	}
	for _, m := range []struct {
		name string
		v    Measure
		max  float64
	}{
		{"memory_total_mb", g.MemoryTotalMB, MaxMemoryMB},
		{"memory_free_mb", g.MemoryFreeMB, MaxMemoryMB},
		{"memory_used_mb", g.MemoryUsedMB, MaxMemoryMB},
		{"utilization_percent", g.UtilizationPct, 100},
		{"temperature_c", g.TemperatureC, 250},
		{"power_w", g.PowerW, 100000},
	} {
		if m.v.Known() && !(m.v >= 0 && float64(m.v) <= m.max) {
			return reject(RejectInvalid, "GPU %d: %s %v outside 0–%v", g.Index, m.name, float64(m.v), m.max)
		}
	}
	if g.MemoryTotalMB.Known() {
		if g.MemoryFreeMB.Known() && g.MemoryFreeMB > g.MemoryTotalMB {
			return reject(RejectInvalid, "GPU %d: memory_free_mb %v exceeds memory_total_mb %v", g.Index, float64(g.MemoryFreeMB), float64(g.MemoryTotalMB))
		}
		if g.MemoryUsedMB.Known() && g.MemoryUsedMB > g.MemoryTotalMB {
			return reject(RejectInvalid, "GPU %d: memory_used_mb %v exceeds memory_total_mb %v", g.Index, float64(g.MemoryUsedMB), float64(g.MemoryTotalMB))
		}
	}
	return nil
}

func (o *Ollama) validate() error {
	if len(o.Loaded) > MaxLoadedModels {
		return reject(RejectInvalid, "%d loaded models, limit %d", len(o.Loaded), MaxLoadedModels)
	}
	if len(o.Installed) > MaxInstalledModels {
		return reject(RejectInvalid, "%d installed models, limit %d", len(o.Installed), MaxInstalledModels)
	}
	if o.NumParallel < 0 || o.NumParallel > MaxNumParallel {
		return reject(RejectInvalid, "num_parallel %d outside 0–%d", o.NumParallel, MaxNumParallel)
	}
	if !finite(o.RAMMB) || o.RAMMB < 0 || o.RAMMB > MaxMemoryMB {
		return reject(RejectInvalid, "ram_mb %v outside 0–%d", o.RAMMB, MaxMemoryMB)
	}
	for _, m := range o.Loaded {
		if err := checkModel(m.Name, m.SizeMB); err != nil {
			return err
		}
		if !finite(m.SizeVRAMMB) || m.SizeVRAMMB < 0 || m.SizeVRAMMB > m.SizeMB {
			return reject(RejectInvalid, "model %.64q: size_vram_mb %v outside 0–size_mb", m.Name, m.SizeVRAMMB)
		}
		if len(m.ExpiresAt) > 64 {
			return reject(RejectInvalid, "model %.64q: expires_at too long", m.Name)
		}
	}
	for _, m := range o.Installed {
		if err := checkModel(m.Name, m.SizeMB); err != nil {
			return err
		}
	}
	return nil
}

func checkModel(name string, sizeMB float64) error {
	if err := checkName("model name", name, false); err != nil {
		return err
	}
	if !finite(sizeMB) || sizeMB < 0 || sizeMB > MaxMemoryMB {
		return reject(RejectInvalid, "model %.64q: size_mb %v outside 0–%d", name, sizeMB, MaxMemoryMB)
	}
	return nil
}

// checkName accepts a non-empty (or, with optional, empty) printable string without spaces of bounded length.
func checkName(what, s string, optional bool) error {
	if s == "" {
		if optional {
			return nil
		}
		return reject(RejectInvalid, "%s is empty", what)
	}
	if len(s) > MaxNameLen {
		return reject(RejectInvalid, "%s is %d bytes, limit %d", what, len(s), MaxNameLen)
	}
	for _, c := range s {
		if c == unicode.ReplacementChar || unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return reject(RejectInvalid, "%s %.64q has a space or an unprintable character", what, s)
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
