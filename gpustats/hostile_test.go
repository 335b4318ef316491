package gpustats

import (
	"fmt"
	"strings"
	"testing"
)

// hostile are reports an attacker or a broken reporter could write under a node key, each with the reject reason
// it must get. The watcher test writes them all to a real Redis.
func hostile() []struct{ name, payload, reason string } {
	gpu := func(fields string) string {
		return `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":[{"index":0,"name":"g",` + fields + `}]}`
	}
	many := func(n int, item string) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}
	return []struct{ name, payload, reason string }{
		{"not json", `hello`, RejectMalformed},
		{"truncated", sollolPayload[:60], RejectMalformed},
		{"array", `[1,2,3]`, RejectMalformed},
		{"string", `"x"`, RejectMalformed},
		{"trailing garbage", sollolPayload + `{}`, RejectMalformed},
		{"huge", `{"vendor":"nvidia","note":"` + strings.Repeat("a", MaxReportBytes) + `"}`, RejectTooLarge},
		{"10000 gpus", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":[` +
			many(10000, `{"index":0,"name":"g","memory_total_mb":1,"memory_free_mb":1}`) + `]}`, RejectInvalid},
		{"unknown vendor", `{"vendor":"voodoo","node_id":"evil:1","timestamp":1764230000,"gpus":[]}`, RejectInvalid},
		{"empty node id", `{"vendor":"nvidia","node_id":"","timestamp":1764230000,"gpus":[]}`, RejectInvalid},
		{"node id with newline", `{"vendor":"nvidia","node_id":"a\nb","timestamp":1764230000,"gpus":[]}`, RejectInvalid},
		{"node id not a string", `{"vendor":"nvidia","node_id":5,"timestamp":1764230000,"gpus":[]}`, RejectMalformed},
		{"no timestamp", `{"vendor":"nvidia","node_id":"evil:1","gpus":[]}`, RejectInvalid},
		{"negative timestamp", `{"vendor":"nvidia","node_id":"evil:1","timestamp":-5,"gpus":[]}`, RejectInvalid},
		{"timestamp from the future", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1864230000,"gpus":[]}`, RejectFuture},
		{"timestamp as string", `{"vendor":"nvidia","node_id":"evil:1","timestamp":"now","gpus":[]}`, RejectMalformed},
		{"overflowing number", gpu(`"memory_total_mb":1e400,"memory_free_mb":1`), RejectMalformed},
		{"NaN literal", gpu(`"memory_total_mb":NaN,"memory_free_mb":1`), RejectMalformed},
		{"negative free", gpu(`"memory_total_mb":100,"memory_free_mb":-1`), RejectInvalid},
		{"free > total", gpu(`"memory_total_mb":100,"memory_free_mb":101`), RejectInvalid},
		{"used > total", gpu(`"memory_total_mb":100,"memory_free_mb":1,"memory_used_mb":200`), RejectInvalid},
		{"absurd total", gpu(`"memory_total_mb":1e12,"memory_free_mb":1`), RejectInvalid},
		{"utilisation 250%", gpu(`"memory_total_mb":100,"memory_free_mb":1,"utilization_percent":250`), RejectInvalid},
		{"negative index", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":[{"index":-1,"name":"g"}]}`, RejectInvalid},
		{"gpus not a list", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":{"0":1}}`, RejectMalformed},
		{"100000 installed models", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":[],"ollama":{"reachable":true,"installed":[` +
			many(5000, `{"name":"m","size_mb":1}`) + `]}}`, RejectInvalid},
		{"vram larger than model", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":[],"ollama":{"reachable":true,"loaded":[{"name":"m","size_mb":1,"size_vram_mb":2}]}}`, RejectInvalid},
		{"model name empty", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":[],"ollama":{"reachable":true,"installed":[{"name":"","size_mb":1}]}}`, RejectInvalid},
		{"interval negative", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":[],"interval_s":-1}`, RejectInvalid},
		{"too many addresses", `{"vendor":"nvidia","node_id":"evil:1","timestamp":1764230000,"gpus":[],"addresses":[` +
			many(100, `"10.0.0.1"`) + `]}`, RejectInvalid},
		{"invalid utf-8 in node id", "{\"vendor\":\"nvidia\",\"node_id\":\"a\xff\",\"timestamp\":1764230000,\"gpus\":[]}", RejectInvalid},
	}
}

func TestHostileReportsRejected(t *testing.T) {
	var d Decoder
	for _, tc := range hostile() {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode([]byte(tc.payload), testNow)
			if got := RejectReason(err); got != tc.reason {
				t.Fatalf("reason %q, want %q (err: %v)", got, tc.reason, err)
			}
			if msg := err.Error(); len(msg) > 400 {
				t.Fatalf("error message unbounded (%d bytes): %.200s…", len(msg), msg)
			}
		})
	}
}

func TestValidReportsAccepted(t *testing.T) {
	var d Decoder
	full, _ := Encode(fullReport(), nil)
	for i, p := range []string{sollolPayload, string(full),
		`{"vendor":"none","gpus":[],"timestamp":1764229999.5,"node_id":"10.0.0.9:11434","note":"CPU-only mode"}`,
		fmt.Sprintf(`{"vendor":"nvidia","node_id":"n","timestamp":%v,"gpus":[],"future_member":{"x":1}}`, Timestamp(testNow.Add(DefaultMaxSkew/2))),
	} {
		if _, err := d.Decode([]byte(p), testNow); err != nil {
			t.Errorf("payload %d rejected: %v", i, err)
		}
	}
}
