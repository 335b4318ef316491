// Command gpu-reporter publishes this node's GPU memory, utilisation and Ollama models to Redis every few seconds,
// for the vram_aware load-balancing policy of SOLLOL for Caddy (and for SOLLOL's own Python gateway, which reads
// the same keys).
//
// Usage:
//
//	gpu-reporter [flags]            run until SIGINT/SIGTERM, then delete this node's key (tombstone)
//	gpu-reporter --once --json      print one report as JSON and exit, touching nothing
//	gpu-reporter install [flags]    write and start a systemd user unit running gpu-reporter with these flags
//	gpu-reporter drain [--off]      mark this node draining (or not) from its next report on
//	gpu-reporter help [command]     the flags and commands
//
// Every flag can also be set through an environment variable (see --help); a flag on the command line wins.
// docs/gpu-reporter.md has the whole guide.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	_ "github.com/sollol-go/sollol/reporter/nvml" // the "nvml" sampler: only this program links go-nvml
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; otherwise the module version is used.
var version = ""

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The daemon's live heap is small and a report a second makes garbage slowly: collecting at 50% growth
		// instead of 100% keeps its resident memory under 20 MB for a cost no one notices (BENCHMARKS.md).
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "install":
			return runInstall(args[1:], stdout, stderr)
		case "drain":
			return runDrain(args[1:], stdout, stderr)
		case "help":
			return runHelp(args[1:], stdout, stderr)
		}
	}
	return runDaemon(args, stdout, stderr)
}

// runHelp prints the daemon's help, or a command's, to stdout.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		newFlagSet("gpu-reporter", stdout).fs.Usage()
		return exitOK
	}
	switch args[0] {
	case "install":
		return runInstall([]string{"--help"}, stdout, stdout)
	case "drain":
		return runDrain([]string{"--help"}, stdout, stdout)
	}
	fmt.Fprintf(stderr, "gpu-reporter help: no command %q (commands: install, drain)\n", args[0])
	return exitUsage
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "gpu-reporter %s\n", versionString())
}
