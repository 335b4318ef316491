package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sollol-go/sollol/gpustats"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// cleanEnv clears every SOLLOL_ variable and OLLAMA_NUM_PARALLEL for the test, so that the developer's environment
// cannot change results.
func cleanEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, envPrefix) || name == "OLLAMA_NUM_PARALLEL" {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// deadURL is an Ollama URL where nothing listens.
const deadURL = "http://127.0.0.1:1"

func TestOnceJSONSamplerNone(t *testing.T) {
	cleanEnv(t)
	code, out, errs := runCmd(t, "--once", "--json", "--sampler", "none", "--ollama-url", deadURL, "--node-id", "10.0.0.5:11434")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	rep, err := (&gpustats.Decoder{}).Decode(bytes.TrimSpace([]byte(out)), time.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Vendor != gpustats.VendorNone || rep.NodeID != "10.0.0.5:11434" || rep.Note != "CPU-only mode" || len(rep.GPUs) != 0 ||
		rep.Schema != gpustats.Schema || rep.Ollama == nil || rep.Ollama.Reachable || rep.Draining {
		t.Errorf("report %+v", rep)
	}
	// The node's memory, from /proc/meminfo where there is one.
	if _, err := os.Stat("/proc/meminfo"); err == nil && (rep.Ollama.RAMMB < 64 || rep.Ollama.NumParallel != 1) {
		t.Errorf("ollama member %+v: want ram_mb from /proc/meminfo and num_parallel 1", rep.Ollama)
	}
}

func TestJSONDefaultNodeIDAndSignature(t *testing.T) {
	cleanEnv(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("k3y\n"), 0o600)
	code, out, errs := runCmd(t, "--json", "--sampler", "none", "--ollama-url", "http://127.0.0.1:1", "--hmac-key-file", keyFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	rep, err := (&gpustats.Decoder{Keys: [][]byte{[]byte("k3y")}}).Decode(bytes.TrimSpace([]byte(out)), time.Now())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The node id takes the port of --ollama-url.
	if !strings.HasSuffix(rep.NodeID, ":1") || strings.HasPrefix(rep.NodeID, "127.") {
		t.Errorf("default node id %q", rep.NodeID)
	}
}

func TestAutoSaysWhy(t *testing.T) {
	cleanEnv(t)
	t.Setenv("PATH", t.TempDir())
	code, out, errs := runCmd(t, "--json", "--sampler", "auto", "--ollama-url", deadURL, "--node-id", "n:1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// Without vendor tools on PATH, only NVML (when a driver is installed) or AMD sysfs could see a GPU; on a
	// machine without a GPU the choice is "none" and each other sampler has said why it was passed over.
	if strings.Count(errs, "sampler chosen") != 1 {
		t.Fatalf("no single choice logged:\n%s", errs)
	}
	for _, name := range []string{"nvidia-smi", "rocm-smi", "intel"} {
		if !strings.Contains(errs, `"sampler": "`+name+`", "reason": `) {
			t.Errorf("no verdict for %s:\n%s", name, errs)
		}
	}
	rep, err := (&gpustats.Decoder{}).Decode(bytes.TrimSpace([]byte(out)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(errs, `"sampler": "none", "reason": "it opened and sees no GPU`) {
		if rep.Vendor != gpustats.VendorNone || strings.Count(errs, "sampler passed over") != 5 {
			t.Errorf("chose none but vendor %q / log:\n%s", rep.Vendor, errs)
		}
	} else if len(rep.GPUs) == 0 {
		t.Errorf("chose a GPU sampler but reports no GPU:\n%s", errs)
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	cleanEnv(t)
	t.Setenv("SOLLOL_REDIS_HOST", "from-env")
	t.Setenv("SOLLOL_REDIS_PORT", "6380")
	t.Setenv("SOLLOL_INTERVAL", "0.25")
	c := newFlagSet("t", &bytes.Buffer{})
	if err := c.parse([]string{"--redis-host", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if c.redisHost != "from-flag" || c.redisPort != 6380 || c.interval != 250*time.Millisecond {
		t.Errorf("host %q port %d interval %s", c.redisHost, c.redisPort, c.interval)
	}
	if strings.Join(c.set, ",") != "interval,redis-host,redis-port" {
		t.Errorf("set flags %v", c.set)
	}

	t.Setenv("SOLLOL_INTERVAL", "soon")
	if err := newFlagSet("t", &bytes.Buffer{}).parse(nil); err == nil || !strings.Contains(err.Error(), "SOLLOL_INTERVAL") {
		t.Errorf("bad env value: %v", err)
	}
	t.Setenv("SOLLOL_INTERVAL", "")
	os.Unsetenv("SOLLOL_INTERVAL")
	t.Setenv("SOLLOL_REDIS_PASSWORD", "hunter2")
	t.Setenv("SOLLOL_REDIS_PORT", "x")
	if err := newFlagSet("t", &bytes.Buffer{}).parse(nil); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad port: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{{"--interval", "soon"}, {"--no-such-flag"}, {"stray"}, {"--log-level", "loud"}} {
		if code, _, _ := runCmd(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, errs := runCmd(t, "--json", "--sampler", "quantum", "--node-id", "n:1"); code != exitError || !strings.Contains(errs, "unknown sampler") {
		t.Errorf("unknown sampler: exit %d: %s", code, errs)
	}
	if code, _, errs := runCmd(t, "--json", "--sampler", "none", "--node-id", "n:1", "--hmac-key-file", "/nonexistent/key"); code != exitError || !strings.Contains(errs, "HMAC key") {
		t.Errorf("missing key file: exit %d: %s", code, errs)
	}
	if code, out, _ := runCmd(t, "--version"); code != 0 || !strings.HasPrefix(out, "gpu-reporter ") {
		t.Errorf("--version: %d %q", code, out)
	}
}

func TestDrain(t *testing.T) {
	cleanEnv(t)
	file := filepath.Join(t.TempDir(), "state", "drain")
	t.Setenv("SOLLOL_DRAIN_FILE", file)
	report := func(args ...string) *gpustats.Report {
		t.Helper()
		code, out, errs := runCmd(t, append([]string{"--json", "--sampler", "none", "--ollama-url", deadURL, "--node-id", "n:1"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		rep, err := (&gpustats.Decoder{}).Decode(bytes.TrimSpace([]byte(out)), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if report().Draining {
		t.Fatal("draining before drain")
	}
	if code, out, _ := runCmd(t, "drain"); code != 0 || !strings.Contains(out, "draining from its next report") {
		t.Fatalf("drain: %d %q", code, out)
	}
	if !report().Draining {
		t.Error("not draining after drain")
	}
	if code, _, _ := runCmd(t, "drain", "--off"); code != 0 {
		t.Fatal("drain --off failed")
	}
	if report().Draining {
		t.Error("still draining after drain --off")
	}
	if !report("--drain").Draining {
		t.Error("--drain did not drain")
	}
}

// buildBinary builds gpu-reporter into a temporary directory, for tests that need a real process.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gpu-reporter")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestHelp(t *testing.T) {
	cleanEnv(t)
	code, _, errs := runCmd(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	code, out, _ := runCmd(t, "help")
	if code != 0 || out != errs {
		t.Errorf("help: exit %d, and its text differs from --help's:\n%s\n---\n%s", code, out, errs)
	}
	for _, want := range []string{"gpu-reporter install", "gpu-reporter drain", "-drain-file file", "-num-parallel"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %q:\n%s", want, out)
		}
	}
	if code, out, _ := runCmd(t, "help", "drain"); code != 0 || !strings.Contains(out, "Usage: gpu-reporter drain") {
		t.Errorf("help drain: exit %d\n%s", code, out)
	}
	if code, out, _ := runCmd(t, "help", "install"); code != 0 || !strings.Contains(out, "-print") {
		t.Errorf("help install: exit %d\n%s", code, out)
	}
	if code, _, errs := runCmd(t, "help", "nap"); code != exitUsage || !strings.Contains(errs, "install, drain") {
		t.Errorf("help nap: exit %d: %s", code, errs)
	}
	if _, _, errs := runCmd(t, "stray"); !strings.Contains(errs, "commands: install, drain, help") {
		t.Errorf("a stray argument does not name the commands: %s", errs)
	}
}

// Two reporters on one machine (two Ollama servers) have a drain file each by default: draining one leaves the
// other serving, and the undo hint repeats the flags that chose the file.
func TestDrainPerNode(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	draining := func(node string) bool {
		t.Helper()
		code, out, errs := runCmd(t, "--json", "--sampler", "none", "--ollama-url", deadURL, "--node-id", node)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		rep, err := (&gpustats.Decoder{}).Decode(bytes.TrimSpace([]byte(out)), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return rep.Draining
	}
	code, out, errs := runCmd(t, "drain", "--node-id", "10.0.0.5:11435")
	if code != 0 || !strings.Contains(out, "gpu-reporter-10.0.0.5_11435.drain") ||
		!strings.HasSuffix(out, "Undo with: gpu-reporter drain --off --node-id 10.0.0.5:11435\n") {
		t.Fatalf("drain: exit %d: %q %s", code, out, errs)
	}
	if !draining("10.0.0.5:11435") || draining("10.0.0.5:11434") {
		t.Error("draining one node did not drain it alone")
	}
	if code, _, _ := runCmd(t, "drain", "--off", "--node-id", "10.0.0.5:11435"); code != 0 || draining("10.0.0.5:11435") {
		t.Error("drain --off did not undo it")
	}

	file := filepath.Join(t.TempDir(), "my drain")
	code, out, _ = runCmd(t, "drain", "--drain-file", file)
	if code != 0 || !strings.HasSuffix(out, "Undo with: gpu-reporter drain --off --drain-file '"+file+"'\n") {
		t.Errorf("drain --drain-file: exit %d: %q", code, out)
	}
	if code, _, _ := runCmd(t, "drain", "--off", "--drain-file", file); code != 0 {
		t.Fatal("drain --off --drain-file failed")
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("drain file still there: %v", err)
	}
}

// --num-parallel is reported as ollama.num_parallel; OLLAMA_NUM_PARALLEL sets it as Ollama reads it, and the flag
// or SOLLOL_NUM_PARALLEL wins.
func TestNumParallel(t *testing.T) {
	cleanEnv(t)
	reported := func(args ...string) int {
		t.Helper()
		code, out, errs := runCmd(t, append([]string{"--json", "--sampler", "none", "--ollama-url", deadURL, "--node-id", "n:1"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		rep, err := (&gpustats.Decoder{}).Decode(bytes.TrimSpace([]byte(out)), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return rep.Ollama.NumParallel
	}
	t.Setenv("OLLAMA_NUM_PARALLEL", "")
	os.Unsetenv("OLLAMA_NUM_PARALLEL")
	if n := reported(); n != 1 {
		t.Errorf("default: %d, want 1", n)
	}
	for env, want := range map[string]int{"4": 4, "0": 1, "lots": 1, "99999": gpustats.MaxNumParallel} {
		t.Setenv("OLLAMA_NUM_PARALLEL", env)
		if n := reported(); n != want {
			t.Errorf("OLLAMA_NUM_PARALLEL=%s: %d, want %d", env, n, want)
		}
	}
	t.Setenv("OLLAMA_NUM_PARALLEL", "4")
	if n := reported("--num-parallel", "2"); n != 2 {
		t.Errorf("flag: %d, want 2", n)
	}
	t.Setenv("SOLLOL_NUM_PARALLEL", "3")
	if n := reported(); n != 3 {
		t.Errorf("SOLLOL_NUM_PARALLEL: %d, want 3", n)
	}
	for _, bad := range []string{"0", "-1", "2000"} {
		if code, _, errs := runCmd(t, "--json", "--num-parallel", bad); code != exitUsage || !strings.Contains(errs, "--num-parallel") {
			t.Errorf("--num-parallel %s: exit %d: %s", bad, code, errs)
		}
	}
}
