package lbpolicy

import (
	"math"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

// class ranks candidates before scores do: a lower class wins whatever the scores.
type class int

const (
	classResident class = iota
	classFits
	classLoading
	classMemoryUnknownInstalled
	classMemoryUnknown
	classNoStats
	classOverwhelmed
	classMakeRoom
	classTooSmall
	classCPUOnly

	// Added to a class: a draining node ranks below every node that is not, and a node without the model below
	// every node that may have it.
	classDraining     class = 1 << 4
	classNotInstalled class = 1 << 5
)

var classReasons = [...]Reason{
	classResident:               ReasonResident,
	classLoading:                ReasonLoading,
	classFits:                   ReasonFits,
	classMemoryUnknownInstalled: ReasonMemoryUnknown,
	classMemoryUnknown:          ReasonMemoryUnknown,
	classNoStats:                ReasonNoStats,
	classOverwhelmed:            ReasonOverwhelmed,
	classMakeRoom:               ReasonMakeRoom,
	classTooSmall:               ReasonTooSmall,
	classCPUOnly:                ReasonCPUOnly,
}

func (c class) reason(model string) Reason {
	switch {
	case c&classNotInstalled != 0:
		return ReasonNotInstalled
	case c&classDraining != 0:
		return ReasonDraining
	case c == classFits && model == "":
		return ReasonMostFree
	}
	return classReasons[c]
}

// verdict is one candidate's standing.
type verdict struct {
	class class
	// base is the score before the candidate's in-flight requests count (see inFlightScore).
	base   float64
	freeMB float64 // free GPU memory less reservations; NaN when unknown
	needMB float64 // the model's size when it would be loaded cold on a GPU with known memory, else 0
	fresh  bool
	// named is true when the node's report names the requested model, loaded or installed.
	named bool
}

// request is what classify needs to know about the request, worked out once per Select.
type request struct {
	model string
	// key identifies model in the herd guard's reservations, worked out when first needed (see modelKey).
	key uint64
	// sizeMB is the model's size as known from any node, 0 when none knows it.
	sizeMB float64
	// In nanoseconds since the Unix epoch, which compare faster than time.Time on every candidate: a report is
	// fresh when taken between notBefore and notAfter; reservations made by reserveCut have expired.
	notBefore, notAfter, reserveCut int64
	// newest is the time of the newest reservation when the request began (see Reservations.newest);
	// reservedNS is the same in nanoseconds when it is after reserveCut, else math.MinInt64: no reservation counts
	// on a node whose report was taken at or after reservedNS.
	newest     uint64
	reservedNS int64
}

// start fills in r for a request for model decided at now; a request starts zero.
func (r *request) start(s *Selector, model string, now time.Time) {
	ns := now.UnixNano()
	r.model = model
	r.notBefore, r.notAfter, r.reserveCut = ns-int64(s.cfg.StaleAfter), ns+int64(s.cfg.MaxSkew), ns-int64(s.cfg.ReserveTTL)
	r.newest = s.res.newest.Load()
	r.reservedNS = int64(r.newest) * 1e6 // entries hold milliseconds: newest ≤ ⌊t/1e6⌋ when newest×1e6 ≤ t
	if r.reservedNS <= r.reserveCut {
		r.reservedNS = math.MinInt64
	}
}

// modelKey is the request's model's key in the herd guard's reservations.
func (r *request) modelKey() uint64 {
	if r.key == 0 {
		r.key = modelKey(r.model)
	}
	return r.key
}

// classify judges a node with a fresh report for r, counting the reservations made on it after the millisecond
// cut.
func (s *Selector) classify(n *gpustats.Node, r *request, cut uint64, v *verdict) {
	*v = verdict{freeMB: math.NaN(), fresh: true}
	var extra class
	if n.Draining {
		extra |= classDraining
	}
	resident, installed := false, false
	model := r.model
	var info gpustats.ModelInfo
	if model != "" {
		info = n.Model(model)
		resident = info.Loaded && info.SizeVRAMMB > 0
		installed = info.Installed || info.Loaded
		v.named = installed
		if n.InstalledKnown && !installed {
			extra |= classNotInstalled
		}
	}
	scoreMB := 0.0
	switch {
	case !n.GPU:
		v.class = classCPUOnly
	case !n.MemoryKnown:
		v.class = classMemoryUnknown
		if resident {
			v.class = classResident
		} else if installed {
			v.class = classMemoryUnknownInstalled
		}
	default:
		var pending, loading float64
		if r.newest > cut {
			pending, loading = s.res.pending(n.Report.NodeID, r.modelKey(), cut)
		}
		v.freeMB = n.FreeMB - pending
		scoreMB = v.freeMB
		overwhelmed := v.freeMB < s.cfg.MinFreeMB
		switch {
		case resident:
			v.class = classResident
		case model == "" && overwhelmed:
			v.class = classOverwhelmed
		case model == "":
			v.class = classFits
		default:
			need := s.needMB(info, r.sizeMB)
			fits := need+s.cfg.HeadroomMB <= v.freeMB
			v.needMB = need
			switch {
			case fits && !overwhelmed:
				v.class = classFits
			case loading > 0:
				// An earlier request is loading the model here, which the node's report cannot show yet, and
				// another copy does not fit: this request joins that load, unless another node has room for a
				// copy of its own (fits ranks higher), rather than evicting models elsewhere (make-room).
				v.class = classLoading
				v.needMB = 0
				scoreMB = v.freeMB + loading
			case fits:
				v.class = classOverwhelmed
			case need+s.cfg.HeadroomMB > n.TotalMB:
				// Even with every model unloaded the node cannot hold it: Ollama would refuse or spill it to
				// the CPU. Ranked below every node that can make room, however much the herd guard has
				// reserved there, since those reservations go away and this node's size does not.
				v.class = classTooSmall
				scoreMB = roomMB(n) - (n.FreeMB - v.freeMB)
			default:
				v.class = classMakeRoom
				scoreMB = roomMB(n) - (n.FreeMB - v.freeMB)
			}
			if extra&classNotInstalled != 0 {
				v.needMB = 0 // nothing will load there
			}
		}
	}
	v.class |= extra
	v.base = s.baseScore(scoreMB, n.UtilizationPct)
}

// fresh reports whether n is a report Select may trust.
func (r *request) fresh(n *gpustats.Node) bool {
	if n == nil {
		return false
	}
	t := n.UpdatedUnixNano()
	return t >= r.notBefore && t <= r.notAfter
}

// reservedSince is the time (nanoseconds since the Unix epoch) after which reservations on n still count: those
// made before n's report was taken are in the report already, and those before reserveCut have expired. Only
// called for fresh reports, whose times are recent enough to count in nanoseconds.
func (r *request) reservedSince(n *gpustats.Node) int64 {
	return max(r.reserveCut, n.UpdatedUnixNano())
}
