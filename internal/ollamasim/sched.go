package ollamasim

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// runner is a loaded (or loading) model, as Ollama calls it.
type runner struct {
	model   *Model
	vramMB  float64
	perGPU  []float64     // MiB on each GPU
	ready   chan struct{} // closed when the load is done
	loadDur time.Duration
	slots   chan struct{} // NumParallel tokens; a request holds one while it generates
	refs    int           // requests between acquire and release
	active  int           // requests generating
	// lastUsed orders idle runners for eviction; expires is when an idle runner unloads (zero: never).
	lastUsed, expires time.Time
}

// loadError is Ollama's answer when a model can never fit.
type loadError struct{ needMB, haveMB float64 }

func (e *loadError) Error() string {
	return fmt.Sprintf("model requires more system memory (%s) than is available (%s)", gib(e.needMB), gib(e.haveMB))
}

func gib(mb float64) string { return fmt.Sprintf("%.1f GiB", mb/1024) }

// errBusy is Ollama's answer when OLLAMA_MAX_QUEUE requests already wait.
type errBusy struct{}

func (errBusy) Error() string {
	return "server busy, please try again.  maximum pending requests exceeded"
}

// acquire returns the runner of m, loading it when needed, with a reference the caller must release. cold says
// whether this request started the load. Like Ollama's scheduler, requests are admitted one at a time in arrival
// order, and a request that must wait for busy models to make room holds up those behind it.
func (n *Node) acquire(ctx context.Context, m *Model) (r *runner, cold bool, err error) {
	select {
	case n.sched <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	defer func() { <-n.sched }()
	need := m.FootprintMB()
	for {
		n.mu.Lock()
		n.expireLocked()
		if r := n.runners[m.Name]; r != nil {
			r.refs++
			n.mu.Unlock()
			return r, false, nil
		}
		if need > n.totalMB {
			n.mu.Unlock()
			return nil, false, &loadError{needMB: need, haveMB: n.totalMB}
		}
		if alloc := n.makeRoomLocked(need); alloc != nil {
			r := n.startLoadLocked(m, alloc)
			n.mu.Unlock()
			return r, true, nil
		}
		wait := n.idle
		n.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// makeRoomLocked unloads idle runners, least recently used first, until needMB fits and fewer than MaxLoaded
// runners remain, and returns where the model goes on the GPUs. It unloads nothing and returns nil when even
// unloading every idle runner would not be enough.
func (n *Node) makeRoomLocked(needMB float64) []float64 {
	var idle []*runner
	idleMB := 0.0
	for _, r := range n.runners {
		if r.refs == 0 {
			idle = append(idle, r)
			idleMB += r.vramMB
		}
	}
	if len(n.runners)-len(idle) >= n.cfg.MaxLoaded || n.freeMB()+idleMB < needMB {
		return nil
	}
	slices.SortFunc(idle, func(a, b *runner) int { return a.lastUsed.Compare(b.lastUsed) })
	for {
		if len(n.runners) < n.cfg.MaxLoaded {
			if alloc := place(needMB, n.freePerGPU()); alloc != nil {
				return alloc
			}
		}
		if len(idle) == 0 {
			// Enough memory in total, but split across GPUs where it cannot be used; wait for more to free up.
			return nil
		}
		n.unloadLocked(idle[0])
		idle = idle[1:]
	}
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

func (n *Node) startLoadLocked(m *Model, alloc []float64) *runner {
	r := &runner{model: m, vramMB: m.FootprintMB(), perGPU: alloc, ready: make(chan struct{}),
		loadDur: n.cfg.loadTime(m), slots: make(chan struct{}, n.cfg.NumParallel), refs: 1}
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

// release drops a reference taken by acquire; the runner's idle time starts when the last one goes.
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
	n.stats.Evictions++
	n.changed()
}

// startGenerating waits for r's load and then for one of its parallel slots, in arrival order, and marks the
// request active. It returns how long it waited for the load. stopGenerating gives the slot back.
func (n *Node) startGenerating(ctx context.Context, r *runner) (loadWait time.Duration, err error) {
	start := n.cfg.Clock.Now()
	select {
	case <-r.ready:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	loadWait = n.cfg.Clock.Now().Sub(start)
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return loadWait, ctx.Err()
	}
	n.mu.Lock()
	r.active++
	n.changed()
	n.mu.Unlock()
	return loadWait, nil
}

func (n *Node) stopGenerating(r *runner) {
	n.mu.Lock()
	r.active--
	n.changed()
	n.mu.Unlock()
	<-r.slots
}
