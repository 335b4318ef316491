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
	fs.StringVar(&c.drainFile, "drain-file", defaultDrainFile(), "while this file exists the node reports itself draining (see `gpu-reporter drain`)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve this node's Prometheus metrics (GPUs, Ollama, publishing) at http://ADDR/metrics, such as :9111; empty serves none")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error; debug shows every GPU line of every report")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	c.fs = fs
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nEvery flag can be set through the environment variable named after it (--redis-host: %s); the flag wins.\n\n", name, envName("redis-host"))
		fs.PrintDefaults()
	}
	return c
}

// parse applies the environment, then the command line.
func (c *config) parse(args []string) error {
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
		return fmt.Errorf("unexpected argument %q", c.fs.Arg(0))
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

// defaultDrainFile is $XDG_STATE_HOME/sollol/gpu-reporter.drain, or ~/.local/state/sollol/gpu-reporter.drain.
func defaultDrainFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "sollol-gpu-reporter.drain")
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "sollol", "gpu-reporter.drain")
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
