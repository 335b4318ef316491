// Command gguf-llama writes a random-weight llama GGUF file (see package gguf), for scripts that need a model
// without Go's test tooling, such as scripts/device-check.sh:
//
//	go run ./internal/gguf/cmd/gguf-llama -blocks 2 -seed 1 -o small.gguf
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sollol-go/sollol/internal/gguf"
)

func main() {
	blocks := flag.Int("blocks", 2, "transformer blocks (about 3.3 MiB each)")
	seed := flag.Uint64("seed", 1, "seed of the weights")
	out := flag.String("o", "", "output file (required)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: gguf-llama [-blocks N] [-seed S] -o FILE")
		os.Exit(2)
	}
	size, err := gguf.Small(*seed).WithBlocks(*blocks).WriteFile(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gguf-llama:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d bytes\n", *out, size)
}
