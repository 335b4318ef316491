package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallPrintGolden(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", "/home/gpu/.config")
	t.Setenv("SOLLOL_OLLAMA_URL", "http://localhost:11434")
	code, out, errs := runCmd(t, "install", "--print", "--binary", "/usr/local/bin/gpu-reporter",
		"--redis-url", "rediss://:s3cret@redis.example:6380/1", "--node-id", "10.0.0.5:11434", "--interval", "2",
		"--hmac-key-file", "/etc/sollol/key with space", "--once", "--log-level", "debug")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("the password is in the unit:\n%s", out)
	}
	golden := filepath.Join("testdata", "install-print.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if out != string(want) {
		t.Errorf("install --print differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", golden, out, want)
	}
}

func TestInstallWithSystemd(t *testing.T) {
	cleanEnv(t)
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	log := filepath.Join(bin, "calls")
	writeScript(t, filepath.Join(bin, "systemctl"), `#!/bin/sh
printf '%s\n' "$*" >> `+log+`
`)
	code, out, errs := runCmd(t, "install", "--binary", "/opt/gpu-reporter", "--redis-host", "10.0.0.1", "--redis-password", "hunter2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	calls, _ := os.ReadFile(log)
	if got := string(calls); got != "--user show-environment\n--user daemon-reload\n--user enable --now sollol-gpu-reporter.service\n" {
		t.Errorf("systemctl calls:\n%s", got)
	}
	unit, err := os.ReadFile(filepath.Join(config, "systemd", "user", "sollol-gpu-reporter.service"))
	if err != nil {
		t.Fatal(err)
	}
	passFile := filepath.Join(config, "sollol", "redis-password")
	if !strings.Contains(string(unit), "ExecStart=/opt/gpu-reporter --redis-host=10.0.0.1 --redis-password-file="+passFile+"\n") ||
		!strings.Contains(string(unit), "Restart=always") || strings.Contains(string(unit), "hunter2") {
		t.Errorf("unit:\n%s", unit)
	}
	st, err := os.Stat(passFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", st, err)
	}
	if p, _ := readSecretFile(passFile); string(p) != "hunter2" {
		t.Errorf("password file holds %q", p)
	}
	if !strings.Contains(out, "loginctl enable-linger") || strings.Contains(out+errs, "hunter2") {
		t.Errorf("output:\n%s%s", out, errs)
	}
}

func TestInstallWithoutSystemd(t *testing.T) {
	cleanEnv(t)
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	t.Setenv("PATH", t.TempDir())
	code, _, errs := runCmd(t, "install", "--binary", "/opt/gpu-reporter")
	if code != exitError || !strings.Contains(errs, "systemctl not found") || !strings.Contains(errs, "--print") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(config, "systemd")); !os.IsNotExist(err) {
		t.Errorf("install without systemd wrote files: %v", err)
	}

	// systemctl present, but no user manager to talk to (a root shell without a session).
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	writeScript(t, filepath.Join(bin, "systemctl"), "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n")
	code, _, errs = runCmd(t, "install", "--binary", "/opt/gpu-reporter")
	if code != exitError || !strings.Contains(errs, "No medium found") || !strings.Contains(errs, "enable-linger") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestSystemdQuote(t *testing.T) {
	for in, want := range map[string]string{
		"--a=b":          "--a=b",
		"--f=/x y":       `"--f=/x y"`,
		`--p=a"b\c`:      `"--p=a\"b\\c"`,
		"--u=100%$HOME":  "--u=100%%$$HOME",
		"--s=semi;colon": `"--s=semi;colon"`,
	} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func writeScript(t *testing.T, path, script string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// OLLAMA_NUM_PARALLEL in the installing shell reaches the unit as --num-parallel: a systemd user unit does not
// inherit the shell's environment.
func TestInstallCarriesOllamaNumParallel(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("OLLAMA_NUM_PARALLEL", "4")
	code, out, errs := runCmd(t, "install", "--print", "--binary", "/usr/local/bin/gpu-reporter")
	if code != 0 || !strings.Contains(out, "ExecStart=/usr/local/bin/gpu-reporter --num-parallel=4\n") {
		t.Errorf("exit %d: %s\n%s", code, errs, out)
	}
}
