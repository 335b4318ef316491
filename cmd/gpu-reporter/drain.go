package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sollol-go/sollol/reporter"
)

// runDrain marks the node draining by creating the drain file, or no longer draining (--off) by removing it. A
// running gpu-reporter looks for the file every cycle, so the change shows in its next report; the file outlives
// restarts of the daemon, which is what an operator taking a node out of rotation wants. The default file is the
// node's (see defaultDrainFile), found from --node-id or --ollama-url as the daemon finds it.
func runDrain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpu-reporter drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	off := fs.Bool("off", false, "stop draining")
	file := fs.String("drain-file", "", "the drain `file` the daemon watches (default: "+drainFileHelp+")")
	nodeID := fs.String("node-id", "", "the node whose default drain file to use, as the daemon's --node-id")
	ollamaURL := fs.String("ollama-url", reporter.DefaultOllamaURL, "finds the default node id, as the daemon's --ollama-url")
	for _, name := range []string{"drain-file", "node-id", "ollama-url"} {
		if v, ok := os.LookupEnv(envName(name)); ok {
			fs.Set(name, v)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gpu-reporter drain [--off] [--node-id ID | --drain-file FILE]\n\n"+
			"Marks this node draining from its next report on: gateways send it no new requests while other nodes\n"+
			"can take them. --off undoes it. Give the flags the daemon runs with (or set the same SOLLOL_* variables).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gpu-reporter drain: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "gpu-reporter drain: %v\n", err)
		return exitError
	}
	path := *file
	if path == "" {
		id, err := resolveNodeID(*nodeID, *ollamaURL)
		if err != nil {
			return fail(err)
		}
		path = defaultDrainFile(id)
	}
	if *off {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
		fmt.Fprintf(stdout, "Node no longer draining from its next report (%s removed).\n", path)
		return exitOK
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(path, []byte("draining\n"), 0o644); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "Node draining from its next report (%s created). Undo with: %s\n", path, undoCommand(fs))
	return exitOK
}

// undoCommand is the drain --off command for the flags given on the command line.
func undoCommand(fs *flag.FlagSet) string {
	cmd := []string{"gpu-reporter", "drain", "--off"}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "off" {
			cmd = append(cmd, "--"+f.Name, shellQuote(f.Value.String()))
		}
	})
	return strings.Join(cmd, " ")
}

// shellQuote quotes s for a POSIX shell where it holds anything but plain characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:/@%+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
