package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
)

// gatewayEnv, when set in the environment, makes this program a gateway instead of the demo: it loads the Caddy
// config in the file it names and serves until its standard input closes (when the demo that started it ends,
// however it ends).
const gatewayEnv = "SOLLOL_DEMO_GATEWAY_CONFIG"

// serveGatewayProcess is the gateway mode; it returns only with an error, or when stdin closes.
func serveGatewayProcess(path string) error {
	cfg, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := caddy.Load(cfg, true); err != nil {
		return fmt.Errorf("caddy: %w", err)
	}
	io.Copy(io.Discard, os.Stdin)
	return caddy.Stop()
}

// startProcesses starts n gateways, each this same program in gateway mode in a process of its own, so that
// each has its own Caddy instance, its own in-flight counts and its own vram_aware state, as n replicas on n
// machines would.
func startProcesses(ctx context.Context, n int, policy string, upstreams []string, st *store, o gatewayOpts) (*gateways, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sollol-demo-gw-")
	if err != nil {
		return nil, err
	}
	g := &gateways{}
	var procs []*exec.Cmd
	var stdins []io.Closer
	g.stop = func() {
		for _, c := range stdins {
			c.Close()
		}
		for _, p := range procs {
			p.Wait()
		}
		os.RemoveAll(dir)
	}
	for i := range n {
		addr, err := freeAddr()
		if err != nil {
			g.stop()
			return nil, err
		}
		cfg, err := gatewayConfig(addr, policy, upstreams, st.url, st.prefix, o)
		if err != nil {
			g.stop()
			return nil, err
		}
		path := filepath.Join(dir, fmt.Sprintf("gateway-%d.json", i+1))
		if err := os.WriteFile(path, cfg, 0o600); err != nil {
			g.stop()
			return nil, err
		}
		cmd := exec.CommandContext(ctx, self)
		cmd.Env = append(os.Environ(), gatewayEnv+"="+path)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		in, err := cmd.StdinPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			g.stop()
			return nil, fmt.Errorf("gateway %d: %w", i+1, err)
		}
		procs, stdins = append(procs, cmd), append(stdins, in)
		g.bases = append(g.bases, "http://"+addr)
	}
	return g, nil
}
