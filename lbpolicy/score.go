package lbpolicy

import "github.com/sollol-go/sollol/gpustats"

// baseScore and inFlightScore make the score of the package documentation: more free memory scores higher,
// in-flight requests and utilisation lower. baseScore is the part that a node's report decides: free memory and
// utilisation.
func (s *Selector) baseScore(freeMB float64, utilizationPct float64) float64 {
	base := 1.0
	switch {
	case freeMB > s.cfg.BoostFreeMB:
		base += freeMB * s.cfg.BoostFactor
	case freeMB > 0:
		base += freeMB
	case freeMB < 0:
		// Reservations can promise more than a node has: the more short it is, the lower it scores, and the
		// score stays positive so that the penalties keep their direction.
		base = 1 / (1 - freeMB)
	}
	if !(utilizationPct > 0) {
		utilizationPct = 0
	}
	utilizationPct = min(utilizationPct, 100)
	return base * (1 - s.cfg.UtilizationPenalty*utilizationPct/100)
}

// inFlightScore is the score of a node whose report gives base, with inFlight requests in flight to it.
func (s *Selector) inFlightScore(base float64, inFlight int) float64 {
	if inFlight <= 0 {
		return base // spares a division
	}
	return base / (1 + s.cfg.InFlightPenalty*float64(inFlight))
}

// roomMB is how much GPU memory the node could offer a model by unloading every model Ollama holds: free memory
// plus the GPU memory of its loaded models, at most its total. A node that did not report its Ollama state is
// assumed able to free all of it.
func roomMB(n *gpustats.Node) float64 {
	o := n.Report.Ollama
	if o == nil {
		return n.TotalMB
	}
	room := n.FreeMB
	for _, m := range o.Loaded {
		room += m.SizeVRAMMB
	}
	return min(room, n.TotalMB)
}

// needMB is the GPU memory a model takes when loaded on a node: the size the node reports for it (info), else the size any other node
// reports (sizeMB), else the configured default.
func (s *Selector) needMB(info gpustats.ModelInfo, sizeMB float64) float64 {
	switch {
	case info.Loaded && info.SizeMB > 0:
		return info.SizeMB
	case info.Installed && info.DiskMB > 0:
		return info.DiskMB
	}
	if sizeMB > 0 {
		return sizeMB
	}
	return s.cfg.DefaultModelMB
}

// knownSizeMB is model's size as any candidate's report gives it: a loaded footprint if some node has one (it
// includes the context buffers), else the size on disk; 0 when no report knows the model.
func knownSizeMB(cs []Candidate, model string) float64 {
	installed := 0.0
	for i := range cs {
		node := cs[i].Node
		if node == nil || node.Report == nil {
			continue
		}
		info := node.Model(model)
		if info.Loaded && info.SizeMB > 0 {
			return info.SizeMB
		}
		if info.Installed && info.DiskMB > 0 && installed == 0 {
			installed = info.DiskMB
		}
	}
	return installed
}
