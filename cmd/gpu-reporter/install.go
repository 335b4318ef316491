package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// unitName is the systemd user unit install writes.
const unitName = "sollol-gpu-reporter.service"

// notInUnit are flags that make no sense in a long-running unit.
var notInUnit = map[string]bool{"once": true, "json": true, "version": true, "redis-password": true}

// runInstall writes a systemd user unit that runs this binary with the flags given to install, then enables and
// starts it. With --print it only prints the unit. A password given on the command line or in --redis-url is
// moved into a file readable only by the user, so that it appears neither in the unit nor in `ps`.
func runInstall(args []string, stdout, stderr io.Writer) int {
	c := newFlagSet("gpu-reporter install", stderr)
	printOnly := c.fs.Bool("print", false, "print the unit and change nothing")
	binary := c.fs.String("binary", "", "path of the gpu-reporter binary the unit runs (default: this binary)")
	if err := c.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "gpu-reporter install: %v\n", err)
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "gpu-reporter install: %v\n", err)
		return exitError
	}
	bin := *binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fail(fmt.Errorf("finding this binary (set --binary): %w", err))
		}
		bin = exe
	}
	if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	configDir, err := userConfigDir()
	if err != nil {
		return fail(err)
	}
	unitPath := filepath.Join(configDir, "systemd", "user", unitName)
	passFile := filepath.Join(configDir, "sollol", "redis-password")

	password, err := moveSecrets(c)
	if err != nil {
		return fail(err)
	}
	if password != "" {
		c.redisPassFile = passFile
		c.set = appendOnce(c.set, "redis-password-file")
	}
	unit := renderUnit(bin, c)

	if *printOnly {
		if password != "" {
			fmt.Fprintf(stdout, "# The Redis password would be written to %s (mode 0600).\n", passFile)
		}
		fmt.Fprintf(stdout, "# %s\n%s", unitPath, unit)
		return exitOK
	}
	if err := checkSystemd(); err != nil {
		return fail(err)
	}
	if password != "" {
		if err := writeFile(passFile, []byte(password+"\n"), 0o600); err != nil {
			return fail(err)
		}
	}
	if err := writeFile(unitPath, []byte(unit), 0o644); err != nil {
		return fail(err)
	}
	for _, cmd := range [][]string{{"--user", "daemon-reload"}, {"--user", "enable", "--now", unitName}} {
		if out, err := exec.Command("systemctl", cmd...).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("systemctl %s: %v: %s", strings.Join(cmd, " "), err, strings.TrimSpace(string(out))))
		}
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "$USER"
	}
	fmt.Fprintf(stdout, `Installed and started %s (%s).
  Status:  systemctl --user status %s
  Logs:    journalctl --user -u %s -f
A user unit stops when your last session ends. To keep it running without a login, enable lingering once:
  sudo loginctl enable-linger %s
`, unitName, unitPath, unitName, unitName, user)
	return exitOK
}

// moveSecrets takes the password out of --redis-password and out of --redis-url and returns it, so that the unit
// reads it from a file instead.
func moveSecrets(c *config) (string, error) {
	password := c.redisPassword
	if c.redisURL != "" {
		u, err := url.Parse(c.redisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return "", errors.New("--redis-url is not a redis:// or rediss:// URL")
		}
		if p, ok := u.User.Password(); ok {
			if password == "" {
				password = p
			}
			if name := u.User.Username(); name != "" {
				u.User = url.User(name)
			} else {
				u.User = nil
			}
			c.redisURL = u.String()
		}
	}
	return password, nil
}

// renderUnit writes the unit text. Flags appear in the order the flag set defines them, so the output is stable.
func renderUnit(bin string, c *config) string {
	exec := []string{systemdQuote(bin)}
	for _, name := range c.set {
		if notInUnit[name] {
			continue
		}
		f := c.fs.Lookup(name)
		if f == nil || name == "print" || name == "binary" {
			continue
		}
		exec = append(exec, "--"+name+"="+f.Value.String())
	}
	for i := 1; i < len(exec); i++ {
		exec[i] = systemdQuote(exec[i])
	}
	return fmt.Sprintf(`# Written by "gpu-reporter install". After editing, run:
#   systemctl --user daemon-reload && systemctl --user restart %[1]s
[Unit]
Description=SOLLOL GPU reporter: publishes this node's GPU memory and Ollama models to Redis
Documentation=https://github.com/sollol-go/sollol/blob/main/docs/gpu-reporter.md
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=%[2]s
Restart=always
RestartSec=5
# SIGTERM makes gpu-reporter delete its key and publish a tombstone before it exits.
KillSignal=SIGTERM
TimeoutStopSec=15

[Install]
WantedBy=default.target
`, unitName, strings.Join(exec, " "))
}

// systemdQuote quotes one ExecStart word: specifiers (%) and variables ($) are escaped, and a word with spaces,
// quotes or backslashes is double-quoted.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

// checkSystemd fails with advice when there is no systemd user manager to talk to.
func checkSystemd() error {
	if _, err := exec.LookPath("systemctl"); err != nil {
		return errors.New("systemctl not found: this system does not run systemd. Run gpu-reporter under your own " +
			"supervisor instead; `gpu-reporter install --print` shows the flags the unit would use")
	}
	if out, err := exec.Command("systemctl", "--user", "show-environment").CombinedOutput(); err != nil {
		return fmt.Errorf("no systemd user manager reachable (%s). Log in through a normal session (not plain su/sudo), "+
			"or run `sudo loginctl enable-linger $USER` and try again", strings.TrimSpace(string(out)))
	}
	return nil
}

func userConfigDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory to install into: %w", err)
	}
	return filepath.Join(home, ".config"), nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
