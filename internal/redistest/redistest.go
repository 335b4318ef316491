// Package redistest runs real Redis deployments for a test on free loopback ports and stops them when the test
// ends: one redis-server (Start), one over TLS with certificates generated for the test (StartTLS), a Sentinel
// group that can be failed over (StartSentinel), and a three-master Cluster (StartCluster).
//
// When redis-server (or, for a Cluster, redis-cli) is not installed the test is skipped with a message saying what
// to install, except under CI=true, where it fails: a CI run must never count a skipped integration test as a pass.
package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process owned by a test.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	args []string
	// conf, when set, is a configuration file passed before the other arguments (Sentinel needs one it can rewrite).
	conf string
	// sentinel starts the process in Sentinel mode.
	sentinel bool
	// tls, when set, means the server listens with TLS only, and Client and Running use this configuration.
	tls *tls.Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of redis-server, or fails or skips t as the package documentation says.
func Binary(t testing.TB) string {
	t.Helper()
	return lookup(t, "redis-server", "redis-server")
}

// lookup finds a program on PATH or fails (CI=true) or skips t, naming the Debian package that provides it.
func lookup(t testing.TB, name, debianPackage string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not found on PATH: install it (Debian/Ubuntu: apt-get install " + debianPackage +
			"; macOS: brew install redis) or run `make test`, which installs it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// Start launches redis-server on a free 127.0.0.1 port with extra configuration args (such as "--requirepass",
// "secret") and registers its shutdown with t.Cleanup.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s := newServer(t, args...)
	s.start()
	return s
}

// newServer prepares a Server on a free port without starting it; its shutdown is registered with t.Cleanup.
func newServer(t testing.TB, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), port: FreePort(t), dir: t.TempDir(), args: args}
	t.Cleanup(s.Stop)
	return s
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) argv() []string {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	if s.sentinel {
		// Sentinel takes its port, directory and monitors from the configuration file.
		return append(args, "--sentinel")
	}
	port := []string{"--port", strconv.Itoa(s.port)}
	if s.tls != nil {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}
	}
	args = append(args, port...)
	args = append(args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--protected-mode", "no")
	return append(args, s.args...)
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, s.argv()...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: starting redis-server: %v", err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	ready := make(chan struct{})
	readyLine := "Ready to accept connections"
	if s.sentinel {
		// Sentinel logs no such line; it is serving once it monitors its master.
		readyLine = "+monitor master"
	}
	var (
		logMu sync.Mutex
		logs  strings.Builder
	)
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if !signalled && strings.Contains(sc.Text(), readyLine) {
				close(ready)
				signalled = true
			}
		}
		cmd.Wait()
		close(done)
	}()
	logged := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.String()
	}
	select {
	case <-ready:
	case <-done:
		s.t.Fatalf("redistest: redis-server %s exited at start:\n%s", strings.Join(s.argv(), " "), logged())
	case <-time.After(10 * time.Second):
		s.Stop()
		s.t.Fatalf("redistest: redis-server not ready after 10s:\n%s", logged())
	}
}

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port (its TLS port for a server from StartTLS).
func (s *Server) Port() int { return s.port }

// URL is the server's redis:// URL (rediss:// for a server from StartTLS, without any CA: see TLSServer.URL).
func (s *Server) URL() string {
	if s.tls != nil {
		return "rediss://" + s.Addr() + "/0"
	}
	return "redis://" + s.Addr() + "/0"
}

// Client returns a go-redis client for the server that is closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(s.options())
	s.t.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) options() *redis.Options {
	o := &redis.Options{Addr: s.Addr()}
	if s.tls != nil {
		o.TLSConfig = s.tls.Clone()
	}
	return o
}

// Stop kills the server, as a crash would, and waits for it to exit. Stopping twice is harmless.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart kills the server if it runs and starts it again on the same port, with an empty data set.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Running reports whether the server answers PING.
func (s *Server) Running() bool {
	o := s.options()
	o.MaxRetries = -1
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err() == nil
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server on %s", s.Addr()) }

// waitFor polls cond every 50 ms until it holds, or fails t after timeout, naming what it waited for.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s not reached after %s: %s", what, timeout, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// info runs INFO section on c and returns its field.
func info(c *redis.Client, section, field string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no %s in INFO %s", field, section)
}
