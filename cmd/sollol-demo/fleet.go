package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/ollamasim"
	"github.com/sollol-go/sollol/reporter"
)

// fleet is the simulated nodes of one run, each with a real gpu-reporter publishing its state.
type fleet struct {
	nodes  []*ollamasim.Node
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

// startFleet starts every node of sc on a free loopback port with its own state file in dir, and one reporter per
// node that reads it through the "sim" sampler and probes the node's Ollama API, publishing to st.
func startFleet(ctx context.Context, sc *Scenario, clock *ollamasim.Clock, st *store, dir string) (*fleet, error) {
	f := &fleet{errs: make(chan error, len(sc.Nodes))}
	ctx, f.cancel = context.WithCancel(ctx)
	interval := clock.Real(time.Duration(sc.ReportInterval))
	pub := gpustats.NewPublisher(st.client, gpustats.PublisherOptions{Names: st.names()})
	for i, ns := range sc.Nodes {
		state := filepath.Join(dir, ns.Name+".json")
		n, err := ollamasim.New(sc.nodeConfig(i, clock, state))
		if err == nil {
			f.nodes = append(f.nodes, n)
			err = n.Start("127.0.0.1:0")
		}
		if err != nil {
			f.stop()
			return nil, fmt.Errorf("node %s: %w", ns.Name, err)
		}
		sampler, err := reporter.Open(ctx, "sim", reporter.Options{SimState: state})
		if err != nil {
			f.stop()
			return nil, err
		}
		cfg := reporter.Config{NodeID: n.Addr(), Hostname: ns.Name, Interval: interval, Sampler: sampler,
			// As gpu-reporter's --num-parallel, which its operator sets to the node's OLLAMA_NUM_PARALLEL.
			Ollama:    &reporter.OllamaProbe{URL: n.URL(), TagsEvery: max(interval, time.Second), NumParallel: max(ns.NumParallel, 1)},
			Publisher: pub}
		f.wg.Go(func() {
			if err := reporter.Run(ctx, cfg); err != nil {
				f.errs <- fmt.Errorf("reporter of %s: %w", ns.Name, err)
			}
		})
	}
	return f, nil
}

// waitReported waits until every node's report is in Redis.
func (f *fleet) waitReported(ctx context.Context, st *store, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		missing := ""
		for _, n := range f.nodes {
			if st.client.Exists(ctx, st.names().Node(n.Addr())).Val() == 0 {
				missing = n.Config().Name
				break
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case err := <-f.errs:
			return err
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no report from node %s after %s", missing, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the reporters (each publishes its tombstone) and then the nodes.
func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
	for _, n := range f.nodes {
		n.Close()
	}
}
