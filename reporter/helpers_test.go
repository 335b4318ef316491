package reporter

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sollol-go/sollol/gpustats"
)

// fakeTool writes an executable called name into dir that records its arguments in dir/name.args, prints stdout
// and stderr and exits with code. It uses shell built-ins only, so tests can run with PATH=dir alone.
func fakeTool(t *testing.T, dir, name, stdout, stderr string, code int) {
	t.Helper()
	out := filepath.Join(dir, name+".stdout")
	errf := filepath.Join(dir, name+".stderr")
	if err := os.WriteFile(out, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(errf, []byte(stderr), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/sh
printf '%%s\n' "$*" >> %q
while IFS= read -r l || [ -n "$l" ]; do printf '%%s\n' "$l"; done < %q
while IFS= read -r l || [ -n "$l" ]; do printf '%%s\n' "$l" >&2; done < %q
exit %d
`, filepath.Join(dir, name+".args"), out, errf, code)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// onlyPath makes dir the whole PATH for the test, so that no real vendor tool is found.
func onlyPath(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	return dir
}

func readArgs(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".args"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// m makes a known Measure; u is unknown.
func m(f float64) gpustats.Measure { return gpustats.Measure(f) }

var u = gpustats.Unknown

// sameGPU compares two GPUs, with unknown equal to unknown.
func sameGPU(a, b gpustats.GPU) bool {
	eq := func(x, y gpustats.Measure) bool {
		return x == y || (math.IsNaN(float64(x)) && math.IsNaN(float64(y)))
	}
	return a.Index == b.Index && a.Name == b.Name && a.UUID == b.UUID && eq(a.MemoryTotalMB, b.MemoryTotalMB) &&
		eq(a.MemoryFreeMB, b.MemoryFreeMB) && eq(a.MemoryUsedMB, b.MemoryUsedMB) &&
		eq(a.UtilizationPct, b.UtilizationPct) && eq(a.TemperatureC, b.TemperatureC) && eq(a.PowerW, b.PowerW)
}

// sampleWith opens the sampler name with opts, takes one sample, and checks that it names vendor.
func sampleWith(t *testing.T, name string, opts Options, vendor string) Reading {
	t.Helper()
	s, err := Open(context.Background(), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Vendor != vendor {
		t.Errorf("vendor %q, want %q", r.Vendor, vendor)
	}
	return r
}

func checkGPUs(t *testing.T, got, want []gpustats.GPU) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d GPUs, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		if !sameGPU(got[i], want[i]) {
			t.Errorf("GPU %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func writeExec(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return fmt.Sprint(i) }
