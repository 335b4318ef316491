package ollamasim

import (
	"context"
	"fmt"
	"time"
)

// runner is a loaded (or loading) model, as Ollama calls it.
type runner struct {
	model   *Model
	sizeMB  float64       // the whole model in memory, GPUs and CPU
	perGPU  []float64     // MiB on each GPU
	cpuMB   float64       // MiB spilled to system memory
	ready   chan struct{} // closed when the load is done
	loadDur time.Duration
	sem     chan struct{} // NumParallel tokens; a request holds one from taking a slot to its last token
	slots   []slot
	// useCount numbers the slots' uses, for the least recently used (Config.MultiUserCache).
	useCount uint64
	refs     int // requests between taking the runner and letting it go
	active   int // requests holding a slot
	decode   int // requests generating tokens
	// lastUsed orders idle runners for eviction; expires is when an idle runner unloads (zero: never).
	lastUsed, expires time.Time
}

// cpuShare is the fraction of the model that runs on the CPU.
func (r *runner) cpuShare() float64 { return r.cpuMB / r.sizeMB }

func (r *runner) vramMB() float64 { return r.sizeMB - r.cpuMB }

// loadError is Ollama's answer when a model cannot fit even in the GPUs and system memory together: what would
// have to go to system memory, and what is there.
type loadError struct{ needMB, haveMB float64 }

func (e *loadError) Error() string {
	return fmt.Sprintf("model requires more system memory (%s) than is available (%s)", gib(e.needMB), gib(e.haveMB))
}

func gib(mb float64) string { return fmt.Sprintf("%.1f GiB", mb/1024) }

// errBusy is Ollama's answer when OLLAMA_MAX_QUEUE requests already wait for a model load.
type errBusy struct{}

func (errBusy) Error() string {
	return "server busy, please try again.  maximum pending requests exceeded"
}

// acquire returns the runner of m, loading it when needed, with a reference the caller must release. It is the
// path of a request whose model was not loaded when it arrived, which the caller counted in loadQueue. As in
// Ollama's scheduler, such requests are handled one at a time, in arrival order: a load that waits for busy models
// to make room holds up those behind it, while requests for loaded models never come here.
//
// Making room follows Ollama's scheduler: with no other model loaded, the model loads with what does not fit the
// GPUs spilled to system memory; with others loaded, it must fit entirely on the GPUs (and stay within
// MaxLoaded), else idle models are unloaded one at a time, least recently used first (Ollama picks by keep-alive,
// then name), and when none is idle the load waits for one to become idle. So a model only spills once it is
// alone. A model larger than the GPUs and system memory together fails at once, where Ollama would first unload
// the others.
func (n *Node) acquire(ctx context.Context, m *Model) (*runner, error) {
	select {
	case n.sched <- struct{}{}:
	case <-ctx.Done():
		n.mu.Lock()
		n.loadQueue--
		n.mu.Unlock()
		return nil, ctx.Err()
	}
	defer func() { <-n.sched }()
	need := m.FootprintMB()
	n.mu.Lock()
	n.loadQueue--
	for {
		n.expireLocked()
		if r := n.runners[m.Name]; r != nil {
			r.refs++
			n.mu.Unlock()
			return r, nil
		}
		if need > n.vramMB+n.cfg.RAMMB {
			n.mu.Unlock()
			return nil, &loadError{needMB: need - n.vramMB, haveMB: n.cfg.RAMMB}
		}
		if alloc, cpuMB := n.fitLocked(need); alloc != nil {
			r := n.startLoadLocked(m, alloc, cpuMB)
			n.mu.Unlock()
			return r, nil
		}
		if r := n.lruIdleLocked(); r != nil {
			n.unloadLocked(r)
			continue
		}
		wait := n.idle
		n.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		n.mu.Lock()
	}
}

// fitLocked returns where needMB goes on the GPUs and how much spills to system memory, or nil when it does not
// fit now.
func (n *Node) fitLocked(needMB float64) (alloc []float64, cpuMB float64) {
	if len(n.runners) == 0 {
		gpu := min(needMB, n.vramMB)
		return place(gpu, n.freePerGPU()), needMB - gpu
	}
	if len(n.runners) >= n.cfg.MaxLoaded {
		return nil, 0
	}
	return place(needMB, n.freePerGPU()), 0
}

// lruIdleLocked is the idle runner used least recently, or nil.
func (n *Node) lruIdleLocked() *runner {
	var lru *runner
	for _, r := range n.runners {
		if r.refs == 0 && (lru == nil || r.lastUsed.Before(lru.lastUsed)) {
			lru = r
		}
	}
	return lru
}

// place puts needMB on the GPU with the most free memory when one can hold it, as Ollama prefers, else spreads it
// over all GPUs in proportion to their free memory. It returns nil when it does not fit.
func place(needMB float64, free []float64) []float64 {
	alloc := make([]float64, len(free))
	best, total := 0, 0.0
	for i, f := range free {
		total += f
		if f > free[best] {
			best = i
		}
	}
	switch {
	case free[best] >= needMB:
		alloc[best] = needMB
	case total >= needMB:
		for i, f := range free {
			alloc[i] = needMB * f / total
		}
	default:
		return nil
	}
	return alloc
}

func (n *Node) startLoadLocked(m *Model, alloc []float64, cpuMB float64) *runner {
	r := &runner{model: m, sizeMB: m.FootprintMB(), perGPU: alloc, cpuMB: cpuMB, ready: make(chan struct{}),
		loadDur: n.cfg.loadTime(m), sem: make(chan struct{}, n.cfg.NumParallel),
		slots: make([]slot, n.cfg.NumParallel), refs: 1}
	for i, a := range alloc {
		n.usedMB[i] += a
	}
	n.runners[m.Name] = r
	n.stats.ColdLoads++
	n.changed()
	n.wg.Go(func() {
		// The load goes on when the request that started it gives up, as in Ollama.
		n.cfg.Clock.Sleep(n.ctx, r.loadDur)
		close(r.ready)
	})
	return r
}

// release drops a reference; the runner's idle time starts when the last one goes.
func (n *Node) release(r *runner, keepAlive time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r.refs--
	if r.refs > 0 {
		return
	}
	now := n.cfg.Clock.Now()
	r.lastUsed, r.expires = now, time.Time{}
	if keepAlive >= 0 {
		r.expires = now.Add(keepAlive)
	}
	if keepAlive == 0 {
		n.unloadLocked(r)
	}
	close(n.idle)
	n.idle = make(chan struct{})
}

// expireLocked unloads the idle runners whose keep-alive has passed.
func (n *Node) expireLocked() {
	now := n.cfg.Clock.Now()
	for _, r := range n.runners {
		if r.refs == 0 && !r.expires.IsZero() && !now.Before(r.expires) {
			n.unloadLocked(r)
		}
	}
}

func (n *Node) unloadLocked(r *runner) {
	if n.runners[r.model.Name] != r {
		return
	}
	delete(n.runners, r.model.Name)
	for i, a := range r.perGPU {
		n.usedMB[i] = max(0, n.usedMB[i]-a)
	}
	if len(n.runners) == 0 {
		clear(n.usedMB) // no rounding left over: an empty node has all its memory
	}
	n.stats.Evictions++
	n.changed()
}
