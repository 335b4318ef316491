package reporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// maxToolOutput bounds what is read from a vendor tool; their JSON for a full server is well below.
const maxToolOutput = 4 << 20

// runTool runs a vendor tool found on PATH with the options' timeout and returns its standard output. A failure
// names the tool and carries the first line of its error output, which is where nvidia-smi and friends say why.
func runTool(ctx context.Context, opts Options, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s not found on PATH", name)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxToolOutput, 4096
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A tool that leaves children holding its output open must not hold the reporter too.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("%s did not answer within %s", name, opts.timeout())
	}
	if err != nil {
		msg := firstLine(stderr.String())
		if msg == "" {
			msg = firstLine(stdout.String())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return nil, fmt.Errorf("%s failed (%v): %s", name, err, msg)
		}
		return nil, fmt.Errorf("%s failed: %v", name, err)
	}
	if stdout.overflow {
		return nil, fmt.Errorf("%s wrote more than %d bytes", name, maxToolOutput)
	}
	return stdout.Bytes(), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}

// limitedBuffer keeps at most max bytes and remembers whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
