package reporter

import (
	"context"
	"strings"
	"testing"

	"github.com/sollol-go/sollol/gpustats"
)

func TestNvidiaSMI(t *testing.T) {
	dir := onlyPath(t)
	fakeTool(t, dir, "nvidia-smi", ""+
		"0, NVIDIA GeForce RTX 3070, GPU-aaaa, 8192, 4123, 4069, 55, 62, 115.32\n"+
		"1, NVIDIA A100-SXM4-80GB, GPU-bbbb, 81920, [N/A], 81000, [Not Supported], 40, [N/A]\n"+
		"\n"+
		"2, Tesla K80, rev 2, [N/A], [N/A], 11441, 100, 0, 30, 25.00\n", "", 0)
	r := sampleWith(t, "nvidia-smi", Options{}, gpustats.VendorNVIDIA)
	checkGPUs(t, r.GPUs, []gpustats.GPU{
		{Index: 0, Name: "NVIDIA GeForce RTX 3070", UUID: "GPU-aaaa", MemoryTotalMB: 8192, MemoryUsedMB: 4123, MemoryFreeMB: 4069, UtilizationPct: 55, TemperatureC: 62, PowerW: 115.32},
		// Used is derived from total and free; what is not supported stays unknown.
		{Index: 1, Name: "NVIDIA A100-SXM4-80GB", UUID: "GPU-bbbb", MemoryTotalMB: 81920, MemoryUsedMB: 920, MemoryFreeMB: 81000, UtilizationPct: u, TemperatureC: 40, PowerW: u},
		// A comma in the name; an unknown total leaves free and used as they are.
		{Index: 2, Name: "Tesla K80, rev 2", UUID: "", MemoryTotalMB: u, MemoryUsedMB: 11441, MemoryFreeMB: 100, UtilizationPct: 0, TemperatureC: 30, PowerW: 25},
	})
	if args := readArgs(t, dir, "nvidia-smi"); !strings.Contains(args, "--format=csv,noheader,nounits") {
		t.Errorf("nvidia-smi called with %q", args)
	}
}

func TestNvidiaSMIFailures(t *testing.T) {
	for _, tc := range []struct {
		name, stdout, stderr string
		code                 int
		want                 string
	}{
		{"driver gone", "", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\nMake sure...", 9,
			"couldn't communicate with the NVIDIA driver"},
		{"too few fields", "0, RTX, GPU-x, 8192\n", "", 0, "4 fields"},
		{"bad index", "x, RTX, GPU-x, 1, 1, 0, 1, 1, 1\n", "", 0, "bad GPU index"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := onlyPath(t)
			fakeTool(t, dir, "nvidia-smi", tc.stdout, tc.stderr, tc.code)
			s, err := Open(context.Background(), "nvidia-smi", Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Sample(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNvidiaSMIMissing(t *testing.T) {
	onlyPath(t)
	_, err := Open(context.Background(), "nvidia-smi", Options{})
	if err == nil || !strings.Contains(err.Error(), "nvidia-smi not found on PATH") {
		t.Fatalf("error %v", err)
	}
}

func TestToolTimeout(t *testing.T) {
	dir := onlyPath(t)
	// A tool that hangs, made of shell built-ins only.
	script := "#!/bin/sh\nwhile :; do :; done\n"
	writeExec(t, dir, "nvidia-smi", script)
	s, err := Open(context.Background(), "nvidia-smi", Options{CommandTimeout: 200e6})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Sample(context.Background())
	if err == nil || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Fatalf("error %v", err)
	}
}
