package lbpolicy

import (
	"strings"
	"testing"
)

func TestReasons(t *testing.T) {
	rs := Reasons()
	if len(rs) != int(reasonCount)-1 {
		t.Fatalf("Reasons() has %d, want %d", len(rs), reasonCount-1)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		name := r.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("reason %d is named %q", r, name)
		}
		seen[name] = true
		if r.Fallback() != strings.HasPrefix(name, "fallback:") {
			t.Errorf("%s: Fallback() = %v", name, r.Fallback())
		}
	}
	if got := Reason(200).String(); got != "unknown" {
		t.Errorf("out of range reason is %q", got)
	}
	if a := testing.AllocsPerRun(10, func() { _ = ReasonMakeRoom.String() }); a != 0 {
		t.Errorf("String allocates")
	}
}
