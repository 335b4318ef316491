package reporter

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sollol-go/sollol/gpustats"
)

var errNoPublisher = errors.New("reporter: no publisher")

// Reporter samples, probes and publishes for one node.
type Reporter struct {
	cfg       Config
	lastShape string
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Reporter, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Reporter{cfg: cfg}, nil
}

// Run is New followed by Reporter.Run.
func Run(ctx context.Context, cfg Config) error {
	r, err := New(cfg)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// PublishOnce collects one report and publishes it.
func (r *Reporter) PublishOnce(ctx context.Context) (*gpustats.Report, error) {
	if r.cfg.Publisher == nil {
		return nil, errNoPublisher
	}
	rep := r.Collect(ctx)
	r.log(rep)
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	err := r.cfg.Publisher.Publish(pctx, rep)
	r.cfg.Metrics.publishResult(err, time.Now())
	return rep, err
}

// Run reports every Interval until ctx ends, then publishes a tombstone so that gateways drop the node at once,
// closes the sampler and returns nil.
//
// Sampling never waits for Redis: reports go to a publisher goroutine through a slot that holds only the latest
// one, so a Redis outage costs no memory. While Redis fails the publisher retries with a backoff that doubles from
// Interval up to MaxBackoff (with a little jitter, so that a fleet does not reconnect in step), and always sends
// the newest report when it does.
func (r *Reporter) Run(ctx context.Context) error {
	if r.cfg.Publisher == nil {
		return errNoPublisher
	}
	defer closeSampler(r.cfg.Sampler)
	log := r.cfg.Logger
	latest := make(chan *gpustats.Report, 1)
	var wg sync.WaitGroup
	wg.Go(func() { r.publishLoop(ctx, latest) })

	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for {
		rep := r.Collect(ctx)
		if ctx.Err() != nil {
			break
		}
		r.log(rep)
		// This loop is the slot's only writer, so after emptying it the send cannot block.
		select {
		case <-latest:
		default:
		}
		latest <- rep
		select {
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	wg.Wait()

	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.PublishTimeout)
	defer cancel()
	if err := r.cfg.Publisher.Tombstone(tctx, r.cfg.NodeID); err != nil {
		log.Warn("could not publish the tombstone; gateways will drop this node when its report goes stale",
			zap.String("node_id", r.cfg.NodeID), zap.Error(err))
	} else {
		log.Info("published tombstone", zap.String("node_id", r.cfg.NodeID))
	}
	return nil
}

func (r *Reporter) publishLoop(ctx context.Context, latest <-chan *gpustats.Report) {
	log := r.cfg.Logger
	failures := 0
	for {
		var rep *gpustats.Report
		select {
		case <-ctx.Done():
			return
		case rep = <-latest:
		}
		pctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
		err := r.cfg.Publisher.Publish(pctx, rep)
		cancel()
		if ctx.Err() != nil {
			return
		}
		r.cfg.Metrics.publishResult(err, time.Now())
		if err == nil {
			if failures > 0 {
				log.Info("publishing to Redis again", zap.Int("failed_attempts", failures))
			}
			failures = 0
			continue
		}
		failures++
		wait := r.backoff(failures)
		log.Warn("could not publish report; sampling goes on and the newest report is sent on the next attempt",
			zap.Error(err), zap.Int("failed_attempts", failures), zap.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is how long to wait after the n-th failure in a row: Interval doubled n-1 times, capped at MaxBackoff,
// plus up to 10% jitter.
func (r *Reporter) backoff(n int) time.Duration {
	d := r.cfg.Interval
	for i := 1; i < n && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	return d + rand.N(d/10+1)
}

// log writes one line per GPU in SOLLOL's form: at info level for the first report and whenever what the node is
// changes (GPUs, vendor, note, draining, Ollama reachability), at debug level otherwise.
func (r *Reporter) log(rep *gpustats.Report) {
	level := zapcore.DebugLevel
	if s := shape(rep); s != r.lastShape {
		level, r.lastShape = zapcore.InfoLevel, s
	}
	log := r.cfg.Logger
	if !log.Core().Enabled(level) {
		return
	}
	fields := []zap.Field{zap.String("node_id", rep.NodeID), zap.String("vendor", rep.Vendor)}
	if rep.Draining {
		fields = append(fields, zap.Bool("draining", true))
	}
	if rep.Ollama != nil {
		fields = append(fields, zap.Bool("ollama_reachable", rep.Ollama.Reachable), zap.Int("ollama_loaded", len(rep.Ollama.Loaded)))
	}
	if len(rep.GPUs) == 0 {
		log.Log(level, "No GPU: "+rep.Note, fields...)
		return
	}
	if rep.Note != "" {
		fields = append(fields, zap.String("note", rep.Note))
	}
	for _, g := range rep.GPUs {
		log.Log(level, GPULine(g), fields...)
	}
}
