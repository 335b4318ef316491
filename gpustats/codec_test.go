package gpustats

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

var testNow = time.Unix(1764230000, 120000000)

// sollolPayload is a report exactly as SOLLOL's Python reporter writes it: json.dumps with its default separators.
const sollolPayload = `{"vendor": "nvidia", "gpus": [{"index": 0, "name": "NVIDIA GeForce RTX 3070", "memory_total_mb": 8192, "memory_free_mb": 4069, "memory_used_mb": 4123, "utilization_percent": 55, "temperature_c": 62}], "timestamp": 1764229998.518274, "node_id": "10.0.0.5:11434"}`

func fullReport() *Report {
	return &Report{
		Vendor: VendorNVIDIA, NodeID: "10.0.0.5:11434", Timestamp: 1764230000.12,
		GPUs: []GPU{{Index: 0, Name: "NVIDIA GeForce RTX 4090", UUID: "GPU-1", MemoryTotalMB: 24564, MemoryFreeMB: 20468,
			MemoryUsedMB: 4096, UtilizationPct: 25, TemperatureC: 58, PowerW: 120.5}},
		Schema: Schema, Hostname: "gpu1", Addresses: []string{"10.0.0.5"}, IntervalS: 5,
		Ollama: &Ollama{Reachable: true,
			Loaded:    []LoadedModel{{Name: "llama3.1:8b", SizeMB: 5200, SizeVRAMMB: 5200, ExpiresAt: "2026-11-27T10:00:00Z"}},
			Installed: []InstalledModel{{Name: "llama3.1:8b", SizeMB: 4700}}},
	}
}

func TestDecodeSOLLOLPayload(t *testing.T) {
	var d Decoder
	r, err := d.Decode([]byte(sollolPayload), testNow)
	if err != nil {
		t.Fatal(err)
	}
	g := r.GPUs[0]
	if r.NodeID != "10.0.0.5:11434" || r.Vendor != "nvidia" || g.MemoryFreeMB != 4069 || g.MemoryTotalMB != 8192 ||
		g.UtilizationPct != 55 || g.TemperatureC != 62 || g.PowerW.Known() || r.Ollama != nil || r.Schema != 0 {
		t.Fatalf("decoded %+v", r)
	}
	if got := r.Time(); got.Sub(time.Unix(1764229998, 518274000)).Abs() > time.Microsecond {
		t.Fatalf("time %v", got)
	}
}

// TestEncodeReadableBySOLLOL decodes our output the way SOLLOL's Python reader does: a generic JSON object whose
// gpus[0] has its members with its units, as plain numbers.
func TestEncodeReadableBySOLLOL(t *testing.T) {
	b, err := Encode(fullReport(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	gpu := generic["gpus"].([]any)[0].(map[string]any)
	for k, want := range map[string]float64{"index": 0, "memory_total_mb": 24564, "memory_free_mb": 20468,
		"memory_used_mb": 4096, "utilization_percent": 25, "temperature_c": 58} {
		if gpu[k] != want {
			t.Errorf("gpus[0].%s = %v, want %v", k, gpu[k], want)
		}
	}
	if generic["vendor"] != "nvidia" || generic["node_id"] != "10.0.0.5:11434" || generic["timestamp"] != 1764230000.12 {
		t.Errorf("top level: %v", generic)
	}
	// Python's json module would read "24564.0" as a float; SOLLOL's reader formats it as an int, so whole numbers
	// must stay whole.
	if !bytes.Contains(b, []byte(`"memory_total_mb":24564,`)) || !bytes.Contains(b, []byte(`"timestamp":1764230000.12,`)) {
		t.Errorf("numbers not written as SOLLOL writes them: %s", b)
	}
}

func TestRoundTripAndUnknowns(t *testing.T) {
	r := fullReport()
	r.GPUs = append(r.GPUs, GPU{Index: 1, Name: "Intel Arc A770", MemoryTotalMB: 16384, MemoryFreeMB: Unknown,
		MemoryUsedMB: Unknown, UtilizationPct: Unknown, TemperatureC: Unknown, PowerW: Unknown})
	b, err := Encode(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"memory_free_mb":null`)) {
		t.Fatalf("unknown free memory not null: %s", b)
	}
	var d Decoder
	got, err := d.Decode(b, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.GPUs[1]; g.MemoryFreeMB.Known() || g.PowerW.Known() || g.MemoryTotalMB != 16384 {
		t.Fatalf("unknowns lost: %+v", g)
	}
	// A member left out is unknown too, not zero.
	got, err = d.Decode([]byte(`{"vendor":"amd","node_id":"n","timestamp":1764230000,"gpus":[{"index":0,"name":"x","memory_total_mb":100}]}`), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got.GPUs[0].MemoryFreeMB.Known() {
		t.Fatal("absent memory_free_mb decoded as known")
	}
	if n := NewNode(got, nil); n.MemoryKnown {
		t.Fatal("node with unknown free memory marked MemoryKnown")
	}
	b2, _ := Encode(got, nil)
	got2, err := d.Decode(b2, testNow)
	if err != nil || !math.IsNaN(float64(got2.GPUs[0].MemoryFreeMB)) {
		t.Fatalf("second round trip: %v %+v", err, got2)
	}
}

func TestEncodeNilGPUsAsList(t *testing.T) {
	b, _ := Encode(&Report{Vendor: VendorNone, NodeID: "n", Timestamp: 1}, nil)
	if !bytes.Contains(b, []byte(`"gpus":[]`)) {
		t.Fatalf("%s", b)
	}
}

func TestSignVerify(t *testing.T) {
	key, other := []byte("k1"), []byte("k2")
	signed, err := Encode(fullReport(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed[:len(signed)-66], []byte(`,"sig":"`)) {
		t.Fatalf("sig not last: %s", signed)
	}
	for _, tc := range []struct {
		name   string
		keys   [][]byte
		data   []byte
		reason string
	}{
		{"right key", [][]byte{key}, signed, ""},
		{"second of two keys (rotation)", [][]byte{other, key}, signed, ""},
		{"wrong key", [][]byte{other}, signed, RejectBadSignature},
		{"unsigned", [][]byte{key}, []byte(sollolPayload), RejectUnsigned},
		{"tampered", [][]byte{key}, bytes.Replace(signed, []byte(`20468`), []byte(`90468`), 1), RejectBadSignature},
		{"sig not hex", [][]byte{key}, append(append([]byte{}, signed[:len(signed)-3]...), 'z', '"', '}'), RejectBadSignature},
		{"no key configured accepts signed", nil, signed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decoder{Keys: tc.keys}
			_, err := d.Decode(tc.data, testNow)
			if got := RejectReason(err); got != tc.reason || (tc.reason == "" && err != nil) {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
}

func TestCanonicalModel(t *testing.T) {
	for in, want := range map[string]string{"llama3": "llama3:latest", "Llama3:8B": "llama3:8b", "hf.co/a/b": "hf.co/a/b:latest",
		"hf.co/a/b:Q4": "hf.co/a/b:q4", "localhost:5000/m": "localhost:5000/m:latest", " ": "", "": "",
		"llama3:8b": "llama3:8b", " llama3:8b\t": "llama3:8b", "Ünïcode:x": "ünïcode:x", "a:b/c": "a:b/c:latest",
		"qwen2.5-coder:7b-instruct-q4_K_M": "qwen2.5-coder:7b-instruct-q4_k_m"} {
		if got := CanonicalModel(in); got != want {
			t.Errorf("CanonicalModel(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkCanonicalModel is the cost of the name check that Select makes on every request naming a model.
func BenchmarkCanonicalModel(b *testing.B) {
	for _, name := range []string{"llama3:latest", "Llama3"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				CanonicalModel(name)
			}
		})
	}
}

// FuzzCanonicalModel checks the one-pass shortcut against the long way: a name the shortcut passes as canonical
// must be one the long way leaves unchanged, and every result must be canonical.
func FuzzCanonicalModel(f *testing.F) {
	for _, s := range []string{"llama3:8b", "Llama3", "hf.co/a/b", "a:b/c", " x:y", "\u00c9:x", ":", "/", "a\x7f:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		long := strings.ToLower(strings.TrimSpace(name))
		if long != "" && strings.LastIndexByte(long, ':') <= strings.LastIndexByte(long, '/') {
			long += ":latest"
		}
		if got := CanonicalModel(name); got != long {
			t.Fatalf("CanonicalModel(%q) = %q, the long way gives %q", name, got, long)
		}
		if again := CanonicalModel(long); again != long {
			t.Fatalf("CanonicalModel(%q) = %q: not stable", long, again)
		}
	})
}

func TestNamesNodeID(t *testing.T) {
	n := Names{}
	if id, ok := n.NodeID("sollol:gpu:10.0.0.5:11434"); !ok || id != "10.0.0.5:11434" {
		t.Fatal(id, ok)
	}
	for _, k := range []string{"sollol:gpu:stats", "sollol:gpu:", "other:x"} {
		if _, ok := n.NodeID(k); ok {
			t.Errorf("%q taken for a node key", k)
		}
	}
	if (Names{Prefix: "p:"}).Channel() != "p:updates" || !strings.HasPrefix(n.Stream(), DefaultPrefix) {
		t.Fatal("names")
	}
}
