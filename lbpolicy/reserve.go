package lbpolicy

import (
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Reservations is the herd guard's state: GPU memory promised to models that Select sent to a node to load, which
// the node's reports cannot show yet. A reservation counts against the node's free memory until a report from the
// node taken after the reservation arrives (that report shows the load itself) or until the reservation expires.
//
// It is safe for concurrent use and its zero value is ready. Reading and adding are lock-free and allocation-free;
// only the first reservation on a node takes a mutex and allocates, to add the node's slot. Slots are never
// removed, so memory grows with the number of distinct node ids ever chosen for a cold load, not with traffic.
//
// Times are kept to the millisecond and rounded so that a reservation is held rather than dropped early. Each
// node holds up to 16 separate reservations; beyond that new ones are merged into the latest, which then lasts
// as long as the newest of them.
type Reservations struct {
	slots atomic.Pointer[map[string]*slot]
	// newest is the time of the newest reservation on any node (as in an entry), so that pending answers without
	// looking the node up when none is recent enough to count: the common case between bursts of cold loads.
	newest atomic.Uint64
	mu     sync.Mutex
}

type slot struct {
	// Each entry packs the reservation's time (milliseconds since the Unix epoch, plus one) in the high bits and
	// its size in MiB in the low bits, so that one atomic word holds a consistent pair. Zero is an empty entry.
	entries [16]atomic.Uint64
	// models[i] identifies the model entry i was reserved for (modelKey), 0 when unknown or merged. It is written
	// just before its entry, so a reader may pair an entry with the previous model for an instant: a heuristic,
	// never a correctness matter.
	models [16]atomic.Uint64
}

const (
	mbBits = 22 // up to 4 TiB per entry
	mbMax  = 1<<mbBits - 1
	msMax  = 1<<(64-mbBits) - 1 // until the year 2109
)

// Reserve records that mb MiB on node nodeID are taken by a load decided at time at. Reservations made at or
// before since no longer count and their room is reused; pass the same since as to Pending.
func (r *Reservations) Reserve(nodeID string, mb float64, at, since time.Time) {
	r.reserve(nodeID, 0, mb, floorMS(at)+1, floorMS(since))
}

// reserve is Reserve for the model with key model (see modelKey; 0 for none), with the times in the form of
// entries: atMS is one millisecond past the decision's millisecond, so that a report taken in the same
// millisecond does not release the reservation, and cutMS is since's millisecond.
func (r *Reservations) reserve(nodeID string, model uint64, mb float64, atMS, cutMS uint64) {
	if nodeID == "" || !(mb > 0) {
		return
	}
	s := r.slot(nodeID)
	// newest moves first: a reader that sees the entry below must not be told by newest that nothing is pending.
	for n := r.newest.Load(); n < atMS && !r.newest.CompareAndSwap(n, atMS); n = r.newest.Load() {
	}
	v := atMS<<mbBits | uint64(math.Min(math.Ceil(mb), mbMax))
	cut := cutMS
	for {
		latest, latestV := -1, uint64(0)
		for i := range s.entries {
			old := s.entries[i].Load()
			if old == 0 || old>>mbBits <= cut {
				s.models[i].Store(model)
				if s.entries[i].CompareAndSwap(old, v) {
					return
				}
				continue
			}
			if latest < 0 || old>>mbBits >= latestV>>mbBits {
				latest, latestV = i, old
			}
		}
		if latest >= 0 && s.entries[latest].CompareAndSwap(latestV, merge(latestV, v)) {
			s.models[latest].Store(0)
			return
		}
	}
}

// Pending returns the MiB reserved on node nodeID by reservations made after since.
func (r *Reservations) Pending(nodeID string, since time.Time) float64 {
	total, _ := r.pending(nodeID, 0, floorMS(since))
	return total
}

// pending returns the MiB reserved on node nodeID after the millisecond cut, and how much of it is for the model
// with key model (0: none asked).
func (r *Reservations) pending(nodeID string, model uint64, cut uint64) (total, forModel float64) {
	if r.newest.Load() <= cut {
		return 0, 0
	}
	m := r.slots.Load()
	if m == nil {
		return 0, 0
	}
	s := (*m)[nodeID]
	if s == nil {
		return 0, 0
	}
	var sum, same uint64
	for i := range s.entries {
		if v := s.entries[i].Load(); v>>mbBits > cut {
			sum += v & mbMax
			if model != 0 && s.models[i].Load() == model {
				same += v & mbMax
			}
		}
	}
	return float64(sum), float64(same)
}

// modelKey identifies a model name in reservations: FNV-1a, never 0, computed without allocating.
func modelKey(model string) uint64 {
	if model == "" {
		return 0
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(model); i++ {
		h ^= uint64(model[i])
		h *= 1099511628211
	}
	return max(h, 1)
}

func (r *Reservations) slot(nodeID string) *slot {
	if m := r.slots.Load(); m != nil {
		if s := (*m)[nodeID]; s != nil {
			return s
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[string]*slot{}
	if old := r.slots.Load(); old != nil {
		if s := (*old)[nodeID]; s != nil {
			return s
		}
		maps.Copy(next, *old)
	}
	s := &slot{}
	next[nodeID] = s
	r.slots.Store(&next)
	return s
}

func merge(a, b uint64) uint64 {
	return max(a>>mbBits, b>>mbBits)<<mbBits | min(a&mbMax+b&mbMax, mbMax)
}

// floorMS is t in whole milliseconds since the Unix epoch, clamped to what an entry holds.
func floorMS(t time.Time) uint64 { return clampMS(t.UnixMilli()) }

// nanoMS is floorMS for a time in nanoseconds since the Unix epoch.
func nanoMS(ns int64) uint64 { return clampMS(ns / 1e6) }

func clampMS(ms int64) uint64 {
	if ms < 0 {
		return 0
	}
	return min(uint64(ms), msMax-1)
}
