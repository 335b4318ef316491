package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// runDrain marks the node draining by creating the drain file, or no longer draining (--off) by removing it. A
// running gpu-reporter looks for the file every cycle, so the change shows in its next report; the file outlives
// restarts of the daemon, which is what an operator taking a node out of rotation wants.
func runDrain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gpu-reporter drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	off := fs.Bool("off", false, "stop draining")
	file := fs.String("drain-file", defaultDrainFile(), "the drain file the daemon watches (env "+envName("drain-file")+")")
	if v, ok := os.LookupEnv(envName("drain-file")); ok {
		*file = v
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gpu-reporter drain [--off] [--drain-file FILE]\n\nMarks this node draining from its next report on: gateways send it no new requests while\nother nodes can take them. --off undoes it.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *off {
		if err := os.Remove(*file); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "gpu-reporter drain: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stdout, "Node no longer draining from its next report (%s removed).\n", *file)
		return exitOK
	}
	if err := os.MkdirAll(filepath.Dir(*file), 0o755); err != nil {
		fmt.Fprintf(stderr, "gpu-reporter drain: %v\n", err)
		return exitError
	}
	if err := os.WriteFile(*file, []byte("draining\n"), 0o644); err != nil {
		fmt.Fprintf(stderr, "gpu-reporter drain: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "Node draining from its next report (%s created). Undo with: gpu-reporter drain --off\n", *file)
	return exitOK
}
