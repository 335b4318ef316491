package ollamasim

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Node is one simulated Ollama server.
type Node struct {
	cfg    Config
	models map[string]*Model
	vramMB float64 // all GPUs together

	sched chan struct{} // loads, one request at a time (see acquire)

	mu        sync.Mutex
	runners   map[string]*runner
	usedMB    []float64
	idle      chan struct{} // closed and replaced whenever a runner becomes idle
	loadQueue int           // requests waiting for acquire, which MaxQueue bounds
	stats     Stats
	// running and waiting count the requests in each phase; busySince is when running last became non-zero
	// (zero while it is zero); activity is their history (see Activity).
	running, waiting int
	busySince        time.Time
	activity         []Activity
	version          uint64 // bumped on every change of the GPU state
	written          uint64 // version+1 of the state last written to StateFile, 0 before the first

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	srv    *http.Server
	ln     net.Listener
}

// Stats counts what a node did.
type Stats struct {
	// Requests counts the generation requests received (generate, chat, OpenAI chat).
	Requests int
	// ColdLoads counts the models loaded; Evictions the models unloaded (keep-alive expiry or to make room).
	ColdLoads, Evictions int
	// OutOfMemory, NotFound and QueueFull count the 500, 404 and 503 answers.
	OutOfMemory, NotFound, QueueFull int
	// Busy is the simulated time during which at least one request was loading its model or generating.
	Busy time.Duration
}

// New makes a node from cfg. It serves nothing until Start, or through Handler.
func New(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, models: map[string]*Model{}, sched: make(chan struct{}, 1), runners: map[string]*runner{},
		usedMB: make([]float64, len(cfg.GPUs)), idle: make(chan struct{})}
	for i := range n.cfg.Models {
		m := &n.cfg.Models[i]
		n.models[m.Name] = m
	}
	for _, g := range cfg.GPUs {
		n.vramMB += g.VRAMMB
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.writeState(); err != nil {
		n.cancel()
		return nil, err
	}
	n.wg.Go(n.housekeep)
	return n, nil
}

// Start serves the Ollama API on addr, such as "127.0.0.1:0" for a free loopback port.
func (n *Node) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	n.ln = ln
	n.srv = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second}
	// Serve returns when Close closes the server (ErrServerClosed) or the listener fails; either ends the node's
	// service, which its clients see as refused connections.
	n.wg.Go(func() { n.srv.Serve(ln) })
	return nil
}

// Addr is the "host:port" the node serves on, after Start.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// URL is the node's base URL, after Start.
func (n *Node) URL() string { return "http://" + n.Addr() }

// Config returns the node's configuration, defaults filled in.
func (n *Node) Config() Config { return n.cfg }

// Stats returns the counts so far.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	if !n.busySince.IsZero() {
		s.Busy += n.cfg.Clock.Now().Sub(n.busySince)
	}
	return s
}

// Close stops serving, ends requests in progress and the node's goroutines, and returns once they are gone.
func (n *Node) Close() error {
	n.cancel()
	var err error
	if n.srv != nil {
		err = n.srv.Close()
	}
	n.wg.Wait()
	return err
}

// changed marks the GPU state as changed; callers hold mu.
func (n *Node) changed() { n.version++ }

func (n *Node) freePerGPU() []float64 {
	free := make([]float64, len(n.cfg.GPUs))
	for i, g := range n.cfg.GPUs {
		free[i] = max(0, g.VRAMMB-n.usedMB[i])
	}
	return free
}

// housekeep unloads expired models and keeps StateFile current, every StateEvery, until Close.
func (n *Node) housekeep() {
	t := time.NewTicker(n.cfg.StateEvery)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		n.expireLocked()
		n.mu.Unlock()
		n.writeState()
	}
}
