package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/reporter"
)

// config is everything the flags set.
type config struct {
	redisHost, redisURL            string
	redisPort                      int
	redisPassword, redisPassFile   string
	nodeID                         string
	interval                       time.Duration
	ollamaURL                      string
	sampler, simState              string
	hmacKeyFile                    string
	once, json, drain, showVersion bool
	drainFile                      string
	numParallel                    int
	logLevel                       string
	metricsAddr                    string

	// set lists the flags given on the command line or through the environment, in definition order; install
	// writes them into the unit.
	set []string
	fs  *flag.FlagSet
}

// envPrefix starts the environment variable of every flag: --redis-host is SOLLOL_REDIS_HOST.
const envPrefix = "SOLLOL_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// durationOrSeconds accepts a Go duration ("5s", "500ms") or, as SOLLOL's reporter, a number of seconds ("5").
type durationOrSeconds struct{ d *time.Duration }

func (v durationOrSeconds) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationOrSeconds) Set(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*v.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration (5s, 500ms) or a number of seconds")
	}
	*v.d = d
	return nil
}

// newFlagSet defines the daemon's flags on a new set called name.
func newFlagSet(name string, stderr io.Writer) *config {
	c := &config{interval: reporter.DefaultInterval}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.redisHost, "redis-host", "localhost", "Redis host")
	fs.IntVar(&c.redisPort, "redis-port", 6379, "Redis port")
	fs.StringVar(&c.redisURL, "redis-url", "", "Redis URL, redis://[:password@]host:port/db or rediss:// for TLS; overrides --redis-host and --redis-port")
	fs.StringVar(&c.redisPassword, "redis-password", "", "Redis password (prefer --redis-password-file or the environment: command lines are visible to other users)")
	fs.StringVar(&c.redisPassFile, "redis-password-file", "", "file holding the Redis password")
	fs.StringVar(&c.nodeID, "node-id", "", "this node's id, the host:port under which the gateway reaches its Ollama (default: this host's outbound IP and the port of --ollama-url, or 11434)")
	fs.Var(durationOrSeconds{&c.interval}, "interval", "time between reports, such as 5s or 500ms; a plain number is seconds")
	fs.StringVar(&c.ollamaURL, "ollama-url", reporter.DefaultOllamaURL, "URL of this node's Ollama server")
	fs.StringVar(&c.sampler, "sampler", reporter.Auto, "GPU sampler: "+strings.Join(reporter.Names(), ", "))
	fs.StringVar(&c.simState, "sim-state", "", "state file of a simulated node, read by --sampler sim")
	fs.StringVar(&c.hmacKeyFile, "hmac-key-file", "", "file holding the key that signs every report (HMAC-SHA256); the gateway needs the same key")
	fs.BoolVar(&c.once, "once", false, "publish one report and exit")
	fs.BoolVar(&c.json, "json", false, "print one report as JSON to standard output and exit, without Redis")
	fs.BoolVar(&c.drain, "drain", false, "report this node as draining: gateways send it no new requests while others can take them")
	fs.StringVar(&c.drainFile, "drain-file", "", "while this `file` exists the node reports itself draining; gpu-reporter drain creates it (default: "+drainFileHelp+")")
	fs.IntVar(&c.numParallel, "num-parallel", 1, "requests one loaded model serves at once: the OLLAMA_NUM_PARALLEL this node's Ollama runs with, which its API does not tell; OLLAMA_NUM_PARALLEL in gpu-reporter's environment sets it too. 1 is Ollama's default")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve this node's Prometheus metrics (GPUs, Ollama, publishing) at http://ADDR/metrics, such as :9111; empty serves none")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error; debug shows every GPU line of every report")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	c.fs = fs
	fs.Usage = func() {
		out := fs.Output()
		if name == "gpu-reporter" {
			fmt.Fprint(out, commandsUsage)
		} else {
			fmt.Fprintf(out, "Usage: %s [flags]\n", name)
		}
		fmt.Fprintf(out, "\nEvery flag can be set through the environment variable named after it (--redis-host: %s); the flag wins.\n\nFlags:\n", envName("redis-host"))
		fs.PrintDefaults()
	}
	return c
}

// commandsUsage starts the daemon's --help and `gpu-reporter help`.
const commandsUsage = `Usage:
  gpu-reporter [flags]                run: publish this node's report every --interval until SIGINT or SIGTERM
  gpu-reporter --once --json          print one report as JSON and exit, touching nothing
  gpu-reporter install [flags]        write and start a systemd user unit that runs gpu-reporter with these flags
  gpu-reporter drain [--off]          mark this node draining (or, with --off, no longer) from its next report on
  gpu-reporter help [install|drain]   this help, or a command's

The whole guide: https://github.com/sollol-go/sollol/blob/main/docs/gpu-reporter.md
`

// parse applies the environment, then the command line. OLLAMA_NUM_PARALLEL, read as Ollama reads it (an unusable
// value is Ollama's default, 1), sets --num-parallel where neither SOLLOL_NUM_PARALLEL nor the flag does.
func (c *config) parse(args []string) error {
	if v := os.Getenv("OLLAMA_NUM_PARALLEL"); v != "" && c.fs.Lookup("num-parallel") != nil {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			n = 1
		}
		c.fs.Set("num-parallel", strconv.FormatUint(min(max(n, 1), gpustats.MaxNumParallel), 10))
	}
	var envErr error
	c.fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && envErr == nil {
			if err := c.fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", envName(f.Name), redactIf(f.Name, v), err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (commands: install, drain, help)", c.fs.Arg(0))
	}
	if c.numParallel < 1 || c.numParallel > gpustats.MaxNumParallel {
		return fmt.Errorf("--num-parallel %d: want 1 to %d", c.numParallel, gpustats.MaxNumParallel)
	}
	c.set = nil
	c.fs.VisitAll(func(f *flag.Flag) {
		if isSet(c.fs, f.Name) {
			c.set = append(c.set, f.Name)
		}
	})
	return nil
}

// isSet reports whether a flag was given on the command line or set from the environment.
func isSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func redactIf(flagName, v string) string {
	if flagName == "redis-password" || flagName == "redis-url" {
		return "…"
	}
	return v
}

// drainFileHelp says what defaultDrainFile does, for --help.
const drainFileHelp = "$XDG_STATE_HOME/sollol/gpu-reporter-NODE_ID.drain, or under ~/.local/state, one per --node-id"

// defaultDrainFile is the drain file of the node nodeID: $XDG_STATE_HOME/sollol/gpu-reporter-<node id>.drain, or
// under ~/.local/state. One file per node id, so that two reporters on one machine (two Ollama servers) drain
// apart. Characters a file name should not hold become "_": 10.0.0.5:11434 is gpu-reporter-10.0.0.5_11434.drain.
func defaultDrainFile(nodeID string) string {
	name := "gpu-reporter-" + strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, nodeID) + ".drain"
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "sollol-"+name)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "sollol", name)
}

// resolveNodeID is --node-id, or the default node id for --ollama-url (see reporter.DefaultNodeID).
func resolveNodeID(nodeID, ollamaURL string) (string, error) {
	if nodeID != "" {
		return nodeID, nil
	}
	id, err := reporter.DefaultNodeID(ollamaURL)
	if err != nil {
		return "", fmt.Errorf("cannot find this host's address for the node id (%v): set --node-id", err)
	}
	return id, nil
}

// readSecretFile reads a password or key file, without the line break an editor or echo leaves at its end.
func readSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}
