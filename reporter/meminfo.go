package reporter

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// DefaultMemInfo is where Linux tells the system's memory.
const DefaultMemInfo = "/proc/meminfo"

// SystemRAMMB is the node's system memory in MiB, the MemTotal line of the meminfo file at path (see
// DefaultMemInfo): where Ollama puts the layers of a model that does not fit the GPUs. It is 0 when the file
// cannot be read or has no usable MemTotal (another operating system), which a report leaves out.
func SystemRAMMB(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		n, err := strconv.ParseUint(kb, 10, 64)
		if err != nil || (unit != "" && unit != "kB") {
			return 0
		}
		return float64(n / 1024)
	}
	return 0
}
