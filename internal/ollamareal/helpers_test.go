//go:build ollama

package ollamareal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/sollol-go/sollol/caddymodule"
	"github.com/sollol-go/sollol/internal/gguf"
	"github.com/sollol-go/sollol/internal/ollamareal"
)

// The models the tests import: two sizes of the same shape, so that load time per MiB can be read off them.
var (
	tiny  = ollamareal.Model{Name: "sollol-tiny:latest", Llama: gguf.Small(1), NumPredict: 4}
	large = ollamareal.Model{Name: "sollol-large:latest", Llama: gguf.Small(2).WithBlocks(8), NumPredict: 4}
	other = ollamareal.Model{Name: "sollol-other:latest", Llama: gguf.Small(3), NumPredict: 4}
)

// modelDir is one folder of GGUF files for the whole test binary, so each model is written once.
var modelDir = func() string {
	dir, err := os.MkdirTemp("", "sollol-gguf-")
	if err != nil {
		panic(err)
	}
	return dir
}()

func TestMain(m *testing.M) {
	code := m.Run()
	os.RemoveAll(modelDir)
	os.Exit(code)
}

// start runs a server with the options and the models imported.
func start(t *testing.T, o ollamareal.Options, models ...ollamareal.Model) *ollamareal.Server {
	t.Helper()
	s := ollamareal.Start(t, o)
	for _, m := range models {
		s.Create(modelDir, m)
	}
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// warm loads m on s (keep_alive 10m) and returns the answer.
func warm(t *testing.T, s *ollamareal.Server, m ollamareal.Model) ollamareal.ChatResponse {
	t.Helper()
	r, err := ollamareal.Chat(ctx(t), s.URL, m.Name, []ollamareal.Message{{Role: "user", Content: "hi"}}, nil)
	if err != nil {
		t.Fatalf("warming %s on %s: %v\n%s", m.Name, s.Addr, err, s.LogTail())
	}
	return r
}

var ginLine = regexp.MustCompile(`\[GIN\] .*\|\s+(\d{3})\s+\|.*\|\s+(\S+)\s+\|\s+(\w+)\s+"([^"]+)"`)

// served counts the requests s logged for path, by status: what the server itself says it answered, whatever
// the gateway reports.
func served(t *testing.T, s *ollamareal.Server, path string) map[int]int {
	t.Helper()
	b, err := os.ReadFile(s.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := ginLine.FindStringSubmatch(line); m != nil && m[4] == path {
			var status int
			fmt.Sscan(m[1], &status)
			out[status]++
		}
	}
	return out
}

// eventually retries f until it returns "" (no complaint) or the timeout passes, then fails with the complaint.
func eventually(t *testing.T, timeout time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gateway is Caddy in-process with vram_aware in front of real Ollama servers.
type gateway struct {
	t                   *testing.T
	adminPort, httpPort int
	URL                 string
}

// startGateway loads a Caddyfile with policy inside lb_policy vram_aware and extra in reverse_proxy.
func startGateway(t *testing.T, policy, extra string, ups ...*ollamareal.Server) *gateway {
	t.Helper()
	g := &gateway{t: t, adminPort: freePort(t), httpPort: freePort(t)}
	g.URL = fmt.Sprintf("http://127.0.0.1:%d", g.httpPort)
	addrs := make([]string, len(ups))
	for i, u := range ups {
		addrs[i] = u.Addr
	}
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: g.adminPort})
	tester.InitServer(fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	skip_install_trust
}
http://127.0.0.1:%d {
	reverse_proxy %s {
		lb_policy vram_aware {
%s
		}
		%s
	}
}`, g.adminPort, g.httpPort, g.httpPort, strings.Join(addrs, " "), policy, extra), "caddyfile")
	return g
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (g *gateway) admin(path string, v any) {
	g.t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d%s", g.adminPort, path))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		g.t.Fatal(err)
	}
}

// policySees returns "" once the policy holds a fresh report (from Redis or a poll) of every server, with what
// holds says of it; else what it lacks.
func policySees(servers []*ollamareal.Server, holds func(s *ollamareal.Server, loaded []string) bool) string {
	seen := map[string][]string{}
	for _, target := range caddymodule.Targets() {
		for _, n := range target.Nodes {
			if n.Report == nil || n.Report.Ollama == nil || !n.Report.Ollama.Reachable || n.Stale {
				continue
			}
			names := []string{}
			for _, m := range n.Report.Ollama.Loaded {
				names = append(names, m.Name)
			}
			seen[n.ID] = names
		}
	}
	for _, p := range caddymodule.PolledUpstreams() {
		if p.State == "ok" && p.Report != nil && p.Report.Ollama != nil {
			names := []string{}
			for _, m := range p.Report.Ollama.Loaded {
				names = append(names, m.Name)
			}
			seen[p.Upstream] = names
		}
	}
	for _, s := range servers {
		loaded, ok := seen[s.Addr]
		if !ok || !holds(s, loaded) {
			return fmt.Sprintf("the policy's view %v does not show %s as expected yet", seen, s.Addr)
		}
	}
	return ""
}

func anyLoaded(*ollamareal.Server, []string) bool { return true }
