package gpustats

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Defaults of WatcherOptions.
const (
	DefaultResync = 10 * time.Second
	DefaultForget = 10 * time.Minute
)

// WatcherOptions configures a Watcher. The zero value reads unsigned reports under DefaultPrefix.
type WatcherOptions struct {
	// Names sets the key prefix.
	Names Names
	// Decoder checks every report; set its Keys to require signed reports.
	Decoder Decoder
	// Resync is how often every key is read again, to catch reports written without PUBLISH (SOLLOL's reporter)
	// and messages missed while disconnected; zero means DefaultResync.
	Resync time.Duration
	// Forget drops a node whose key is gone from Redis and whose last report is older than this; zero means
	// DefaultForget. Until then the last known report stays in the snapshot, and the policy judges it stale.
	Forget time.Duration
	// VerifyChannel treats each published report as a notice that its node's key changed: the watcher reads the
	// key and applies what it holds, not the message. Use it with per-reporter ACL users, which protect each
	// node's key but cannot tie a message on the shared channel to a node: without it, a reporter allowed to
	// publish could announce reports for other nodes. It costs one GET per report.
	VerifyChannel bool
	// Logger receives connection changes and rejected reports (each reason at most once per Resync); nil: no logs.
	Logger *zap.Logger
	// Clock is the watcher's time; nil means the real clock.
	Clock Clock
}

// Watcher keeps a Snapshot of every node's latest report: it subscribes to the update channel first, notes where
// the history stream ends, then reads every key, then applies each report as it arrives (published on the channel
// by this project's reporter, appended to the stream by SOLLOL's, see watcher_stream.go) and reads all keys again
// every Resync. When Redis goes away it keeps the last snapshot, reconnects with backoff, reads everything again
// and goes on in the stream where it left off.
type Watcher struct {
	client redis.UniversalClient
	opts   WatcherOptions
	log    *zap.Logger
	clock  Clock
	// streamID is the id of the last stream entry read, "" before the first session; run goroutine only.
	streamID string
	// rechecks are the nodes whose keys verifyEntry reads again; run goroutine only.
	rechecks map[string]bool
	// streamWarned is set once Redis refused the stream (streamRefused); run goroutine only.
	streamWarned bool

	snap  atomic.Pointer[Snapshot]
	nodes map[string]*Node // owned by the run goroutine
	// indexStale is when w.nodes stopped matching the snapshot's index (zero: it matches); run goroutine only.
	indexStale time.Time

	connected atomic.Bool
	accepted  atomic.Uint64
	rejected  [len(rejectReasons)]atomic.Uint64
	resyncs   atomic.Uint64
	lastErr   atomic.Pointer[string]
	loggedAt  map[string]time.Time

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// rejectReasons are the counters of WatcherStats.Rejected, in order.
var rejectReasons = [...]string{RejectTooLarge, RejectMalformed, RejectInvalid, RejectFuture, RejectUnsigned,
	RejectBadSignature, RejectWrongKey, RejectOutOfOrder}

// WatcherStats are a Watcher's counters since it started.
type WatcherStats struct {
	Connected bool
	Accepted  uint64
	// Rejected counts reports by reject reason (the Reject constants).
	Rejected map[string]uint64
	Resyncs  uint64
	// LastError is the last Redis error, empty when none occurred.
	LastError string
}

// NewWatcher returns a Watcher reading through client, which may be a plain, Sentinel or Cluster client.
// Call Start to begin and Stop to end.
func NewWatcher(client redis.UniversalClient, opts WatcherOptions) *Watcher {
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Forget <= 0 {
		opts.Forget = DefaultForget
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	clock := opts.Clock
	if clock == nil {
		clock = RealClock{}
	}
	w := &Watcher{client: client, opts: opts, log: log, clock: clock, nodes: map[string]*Node{},
		rechecks: map[string]bool{}, loggedAt: map[string]time.Time{}, done: make(chan struct{})}
	w.snap.Store(NewSnapshot())
	return w
}

// Start runs the watcher in the background until Stop or until ctx ends.
func (w *Watcher) Start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx)
}

// Stop ends the watcher and waits for it. It does not close the client. A blocked read of the stream returns on
// its own within streamBlock and applies nothing after Stop.
func (w *Watcher) Stop() {
	w.once.Do(func() {
		if w.cancel != nil {
			w.cancel()
			<-w.done
		}
	})
}

// Snapshot returns the current snapshot; it never returns nil and never blocks.
func (w *Watcher) Snapshot() *Snapshot { return w.snap.Load() }

// Stats returns the watcher's counters.
func (w *Watcher) Stats() WatcherStats {
	s := WatcherStats{Connected: w.connected.Load(), Accepted: w.accepted.Load(), Resyncs: w.resyncs.Load(),
		Rejected: make(map[string]uint64, len(rejectReasons))}
	for i, r := range rejectReasons {
		s.Rejected[r] = w.rejected[i].Load()
	}
	if e := w.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	backoff, warned := 100*time.Millisecond, false
	for ctx.Err() == nil {
		err := w.session(ctx, func() { backoff, warned = 100*time.Millisecond, false })
		if ctx.Err() != nil {
			return
		}
		msg := err.Error()
		w.lastErr.Store(&msg)
		if w.connected.Swap(false) {
			warned = true
			w.log.Warn("lost connection to Redis; routing on last known GPU stats until they go stale", zap.Error(err))
		} else if !warned {
			warned = true
			w.log.Warn("cannot reach Redis; retrying in the background", zap.Error(err))
		} else {
			w.log.Debug("Redis still unreachable", zap.Error(err), zap.Duration("retry_in", backoff))
		}
		select {
		case <-ctx.Done():
			return
		case <-w.clock.After(backoff):
		}
		// Capped at Resync too, so that stats flow again within one resync interval of Redis coming back.
		backoff = min(2*backoff, 5*time.Second, max(w.opts.Resync, 100*time.Millisecond))
	}
}

// session subscribes, reads every key, then applies messages and stream entries and resyncs until Redis fails or
// ctx ends. It owns w.nodes; two goroutines only receive, from the channel and from the stream.
func (w *Watcher) session(ctx context.Context, connected func()) error {
	ctx, cancel := context.WithCancel(ctx)
	ps := w.client.Subscribe(ctx, w.opts.Names.Channel())
	// A blocked receive does not watch ctx; closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	var receiving sync.WaitGroup
	defer func() {
		cancel()
		stop()
		ps.Close()
		receiving.Wait()
	}()
	if _, err := ps.Receive(ctx); err != nil {
		return err
	}
	from, err := w.streamStart(ctx)
	if err != nil {
		return err
	}
	if err := w.resync(ctx); err != nil {
		return err
	}
	if !w.connected.Swap(true) {
		w.log.Info("connected to Redis", zap.String("channel", w.opts.Names.Channel()), zap.Int("nodes", w.Snapshot().Len()))
	}
	connected()

	msgs, lost := make(chan *redis.Message, 64), make(chan error, 1)
	receiving.Go(func() { receive(ctx, ps, msgs, lost) })
	entries, streamErr := make(chan []redis.XMessage, 4), make(chan error, 1)
	if from != "" {
		go w.readStream(ctx, from, entries, streamErr) // not waited for: see Stop
	}
	resync := w.clock.After(w.opts.Resync)
	var index, recheck <-chan time.Time // the pending snapshot rebuild and key recheck, if any
	for {
		if index == nil && !w.indexStale.IsZero() {
			index = w.clock.After(indexDelay)
		}
		if recheck == nil && len(w.rechecks) > 0 {
			recheck = w.clock.After(recheckDelay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-lost:
			return err
		case m := <-msgs:
			if !w.opts.VerifyChannel {
				w.apply("", []byte(m.Payload), w.clock.Now())
			} else if err := w.applyVerified(ctx, []byte(m.Payload), w.clock.Now()); err != nil {
				return err
			}
		case batch := <-entries:
			if err := w.applyEntries(ctx, batch); err != nil {
				return err
			}
		case err := <-streamErr:
			if !refused(err) {
				return err
			}
			w.streamRefused(err)
		case <-resync:
			if err := w.resync(ctx); err != nil {
				return err
			}
			resync = w.clock.After(w.opts.Resync)
		case <-index:
			index = nil
			w.publishIndex()
		case <-recheck:
			recheck = nil
			if err := w.recheck(ctx); err != nil {
				return err
			}
		}
	}
}

// receive passes the messages published on the channel to msgs until the subscription fails, then its error to
// lost.
func receive(ctx context.Context, ps *redis.PubSub, msgs chan<- *redis.Message, lost chan<- error) {
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			lost <- err // buffered, read at most once
			return
		}
		if m, ok := msg.(*redis.Message); ok {
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}
}

// refused reports whether Redis refused a command for good (an ACL without the command, a key of another type),
// as opposed to a lost connection or a failover in progress.
func refused(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "NOPERM") || strings.HasPrefix(msg, "WRONGTYPE")
}
