package reporter

import (
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
)

// Defaults of Config.
const (
	DefaultInterval       = 5 * time.Second
	DefaultPublishTimeout = 5 * time.Second
	DefaultMaxBackoff     = 30 * time.Second
)

// Config is what a Reporter needs. NodeID and Sampler are required; Publisher is required by Run.
type Config struct {
	// NodeID names this node in Redis, by convention the "host:port" under which the gateway reaches its Ollama
	// (see DefaultNodeID).
	NodeID string
	// Hostname is reported as the node's host name; empty means os.Hostname. An unusable name is left out.
	Hostname string
	// Addresses are other names of this node a gateway may know it by (see LocalAddresses). Unusable entries are
	// dropped.
	Addresses []string
	// Interval is the time between two reports; zero means DefaultInterval. Sub-second intervals are allowed.
	Interval time.Duration
	// Sampler reads the GPUs. Run closes it when it ends.
	Sampler Sampler
	// Ollama asks the node's Ollama; nil leaves the ollama member out of the report.
	Ollama *OllamaProbe
	// Publisher writes the reports to Redis.
	Publisher *gpustats.Publisher
	// Draining, when set, is asked every cycle whether the node is draining.
	Draining func() bool
	// PublishTimeout bounds one publication; zero means DefaultPublishTimeout.
	PublishTimeout time.Duration
	// MaxBackoff caps the wait between two publications while Redis fails; zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Logger receives the per-GPU lines and Redis trouble; nil logs nothing.
	Logger *zap.Logger
	// Metrics, when set, is kept up to date with every report and publication (see Metrics).
	Metrics *Metrics
}

func (c *Config) setDefaults() error {
	if c.Sampler == nil {
		return errors.New("reporter: no sampler")
	}
	if err := checkReportName(c.NodeID); err != nil {
		return fmt.Errorf("reporter: node id %q: %w", c.NodeID, err)
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Interval > time.Hour {
		return fmt.Errorf("reporter: interval %s is longer than an hour", c.Interval)
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if checkReportName(c.Hostname) != nil {
		c.Hostname = ""
	}
	var addrs []string
	for _, a := range c.Addresses {
		if checkReportName(a) == nil && len(addrs) < gpustats.MaxAddresses {
			addrs = append(addrs, a)
		}
	}
	c.Addresses = addrs
	return nil
}

// checkReportName applies the report's rules for names (node id, host name, addresses) by validating a minimal
// report that carries name, so that the rules live in gpustats alone.
func checkReportName(name string) error {
	r := gpustats.Report{Vendor: gpustats.VendorNone, NodeID: name, Timestamp: 1}
	if err := r.Validate(time.Now(), gpustats.DefaultMaxSkew); err != nil {
		var re *gpustats.RejectError
		if errors.As(err, &re) {
			return re.Err
		}
		return err
	}
	return nil
}
