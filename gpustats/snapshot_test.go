package gpustats

import "testing"

func TestSnapshotLookup(t *testing.T) {
	node := func(id, hostname string, addrs ...string) *Node {
		return NewNode(&Report{Vendor: VendorNVIDIA, NodeID: id, Hostname: hostname, Addresses: addrs, Timestamp: 1}, nil)
	}
	s := NewSnapshot(
		node("10.0.0.5:11434", "gpu1", "gpu1.lan"),
		// Two Ollama servers on one machine, each with its own reporter.
		node("10.0.0.6:11434", "gpu2"), node("10.0.0.6:11435", "gpu2"),
		// A report that announces another node's host does not take it over.
		node("10.0.0.7:11434", "gpu3", "10.0.0.5"),
		node("gpu4", "", "10.0.0.8"),
	)
	for dial, want := range map[string]string{
		"10.0.0.5:11434": "10.0.0.5:11434", // exact
		"10.0.0.5:8080":  "",               // never by host where the node id names another port
		"gpu1.lan:8080":  "",
		"gpu1.lan:11434": "10.0.0.5:11434", // by an announced address
		"gpu1:11434":     "10.0.0.5:11434", // by the announced host name
		"10.0.0.6:11435": "10.0.0.6:11435", // exact still works on a shared host
		"10.0.0.6:11436": "",               // a third port on the shared host takes neither report
		"gpu2:11434":     "10.0.0.6:11434", // its host name where the ports agree
		"gpu2:11436":     "",
		"gpu4:11434":     "gpu4", // a node id without a port matches every port of its host
		"10.0.0.8:8080":  "gpu4", // and of the addresses it announces
		"gpu3:11434":     "10.0.0.7:11434",
		"10.9.9.9:11434": "",
	} {
		got := ""
		if n := s.Lookup(dial); n != nil {
			got = n.Report.NodeID
		}
		if got != want {
			t.Errorf("Lookup(%q) = %q, want %q", dial, got, want)
		}
	}
}
