package reporter

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSystemRAMMB(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		text string
		want float64
	}{
		{"MemTotal:       65747412 kB\nMemFree:         1180492 kB\n", 64206},
		{"MemFree:         1180492 kB\nMemTotal:       2048 kB\n", 2},
		{"MemTotal: lots kB\n", 0},
		{"MemTotal: 2048 MB\n", 0},
		{"MemFree: 1 kB\n", 0},
		{"", 0},
	} {
		path := filepath.Join(dir, "meminfo")
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := SystemRAMMB(path); got != tc.want {
			t.Errorf("%q: %v MiB, want %v", tc.text, got, tc.want)
		}
	}
	if got := SystemRAMMB(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("missing file: %v", got)
	}
}
