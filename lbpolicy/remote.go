package lbpolicy

import "time"

// Load is a cold load that a gateway started on an upstream and that the node's reports did not show yet: what
// the herd guard holds. Gateways in front of the same fleet exchange them, so that each one's herd guard holds
// the others' loads too.
type Load struct {
	// Model is the model's key (ModelKey).
	Model uint64
	// MB is the memory the load takes, in MiB.
	MB float64
	// Since is when the load started, to the millisecond.
	Since time.Time
}

// Same reports whether l and o are the same load: the same model, started the same millisecond.
func (l Load) Same(o Load) bool {
	return l.Model == o.Model && l.Since.UnixMilli() == o.Since.UnixMilli()
}

// ModelKey is the key under which a State holds the loads of model (canonical, gpustats.CanonicalModel): the
// same in every gateway, since it depends only on the name.
func ModelKey(model string) uint64 { return modelKey(model) }

// Loads appends to dst the loads held in st that started at cut or after, and returns the extended slice.
func (st *State) Loads(dst []Load, cut time.Time) []Load {
	cutNS := cut.UnixNano()
	if !st.loadsSince(cutNS) {
		return dst
	}
	for i := range st.loads {
		l := &st.loads[i]
		meta, model := l.meta.Load(), l.model.Load()
		if meta == 0 || loadStartNS(meta) < cutNS {
			continue
		}
		dst = append(dst, Load{Model: model, MB: loadMB(meta), Since: time.Unix(0, loadStartNS(meta))})
	}
	return dst
}

// ReserveFrom holds l in st as if Select had started it: another gateway's cold load, which this gateway's
// decisions then join or count as taken memory, and which ends as Select's own do (a report taken after it shows
// the model, or the reservation TTL passes). A load already held (the same model started the same millisecond)
// is held once; loads that started before cut are over, and their entries are reused.
func (st *State) ReserveFrom(l Load, cut time.Time) {
	v := packLoad(l.Since.UnixNano(), l.MB)
	start, cutNS := loadStartNS(v), cut.UnixNano()
	if start < cutNS || l.Model == 0 {
		return
	}
	for i := range st.loads {
		e := &st.loads[i]
		if meta := e.meta.Load(); meta != 0 && loadStartNS(meta) == start && e.model.Load() == l.Model {
			return
		}
	}
	last := st.lastLoadNS.Load()
	st.reserve(l.Model, l.MB, l.Since.UnixNano(), cutNS)
	// reserve marks its load as the latest; an older one from elsewhere must not hide a newer one of ours.
	if last > start {
		st.lastLoadNS.CompareAndSwap(start, last)
	}
}
