package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/reporter"
)

func runDaemon(args []string, stdout, stderr io.Writer) int {
	c := newFlagSet("gpu-reporter", stderr)
	if err := c.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "gpu-reporter: %v\n", err)
		return exitUsage
	}
	if c.showVersion {
		printVersion(stdout)
		return exitOK
	}
	log, err := newLogger(c.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gpu-reporter: %v\n", err)
		return exitUsage
	}
	defer log.Sync()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := daemon(ctx, c, stdout, log); err != nil {
		log.Error(err.Error())
		return exitError
	}
	return exitOK
}

func daemon(ctx context.Context, c *config, stdout io.Writer, log *zap.Logger) error {
	var key []byte
	if c.hmacKeyFile != "" {
		k, err := readSecretFile(c.hmacKeyFile)
		if err != nil {
			return fmt.Errorf("reading the HMAC key: %w", err)
		}
		key = k
	}
	nodeID := c.nodeID
	if nodeID == "" {
		id, err := reporter.DefaultNodeID(c.ollamaURL)
		if err != nil {
			return fmt.Errorf("cannot find this host's address for the node id (%v): set --node-id", err)
		}
		nodeID = id
	}
	sampler, err := reporter.Open(ctx, c.sampler, reporter.Options{SimState: c.simState, Logger: log})
	if err != nil {
		return err
	}
	var (
		client    redis.UniversalClient
		redisDesc string
	)
	if !c.json {
		client, redisDesc, err = redisClient(c)
		if err != nil {
			return err
		}
		defer client.Close()
	}
	cfg := reporter.Config{
		NodeID:    nodeID,
		Addresses: reporter.LocalAddresses(),
		Interval:  c.interval,
		Sampler:   sampler,
		Ollama:    &reporter.OllamaProbe{URL: c.ollamaURL},
		Draining:  drainingFunc(c),
		Logger:    log,
	}
	if client != nil {
		cfg.Publisher = gpustats.NewPublisher(client, gpustats.PublisherOptions{Key: key})
	}
	if c.metricsAddr != "" && !c.json && !c.once {
		cfg.Metrics = reporter.NewMetrics()
	}
	rep, err := reporter.New(cfg)
	if err != nil {
		return err
	}
	if c.json || c.once {
		// Run closes the sampler itself; these one-shot paths must not leave NVML initialised.
		if cl, ok := sampler.(io.Closer); ok {
			defer cl.Close()
		}
	}
	switch {
	case c.json:
		b, err := gpustats.Encode(rep.Collect(ctx), key)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	case c.once:
		r, err := rep.PublishOnce(ctx)
		if err != nil {
			return err
		}
		log.Info("published one report", zap.String("node_id", r.NodeID), zap.String("redis", redisDesc))
		return nil
	}
	log.Info("gpu-reporter started", zap.String("version", versionString()), zap.String("node_id", nodeID),
		zap.String("sampler", sampler.Name()), zap.String("redis", redisDesc),
		zap.Duration("interval", c.interval), zap.Bool("signed", key != nil))
	if cfg.Metrics != nil {
		stop, err := serveMetrics(c.metricsAddr, cfg.Metrics, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return rep.Run(ctx)
}

// redisClient connects, lazily, to the Redis deployment named by --redis-url, or by --redis-host and --redis-port,
// with the password flags, and returns it with a description for logs. The client fails fast and does not retry:
// the reporter's own loop retries with a backoff. A redis:// or rediss:// URL keeps go-redis's own parsing; every
// other form gpustats.NewClient reads (redis-sentinel://, redis-cluster://, tls_ca_file and the other tls_*
// parameters) goes through it, with the same timeouts as query parameters unless the URL sets them.
func redisClient(c *config) (redis.UniversalClient, string, error) {
	password := c.redisPassword
	if password == "" && c.redisPassFile != "" {
		p, err := readSecretFile(c.redisPassFile)
		if err != nil {
			return nil, "", fmt.Errorf("reading the Redis password: %w", err)
		}
		password = string(p)
	}
	if c.redisURL != "" && !plainRedisURL(c.redisURL) {
		u, err := url.Parse(c.redisURL)
		if err != nil {
			return nil, "", errors.New("--redis-url is not a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL")
		}
		if password != "" {
			user := ""
			if u.User != nil {
				user = u.User.Username()
			}
			u.User = url.UserPassword(user, password)
		}
		q := u.Query()
		defaults := map[string]string{"dial_timeout": "2s", "read_timeout": "2s", "write_timeout": "2s",
			"max_retries": "-1", "pool_size": "2"}
		if strings.Contains(u.Scheme, "-") { // Sentinel and Cluster URLs also take dialer_retries
			defaults["dialer_retries"] = "1"
		}
		for k, v := range defaults {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		client, err := gpustats.NewClient(u.String())
		if err != nil {
			return nil, "", fmt.Errorf("--redis-url: %w", err)
		}
		return client, gpustats.Redact(u.String()), nil
	}
	var opts *redis.Options
	if c.redisURL != "" {
		o, err := redis.ParseURL(c.redisURL)
		if err != nil {
			// ParseURL's errors may quote the URL, password included.
			return nil, "", errors.New("--redis-url is not a redis:// or rediss:// URL")
		}
		opts = o
	} else {
		opts = &redis.Options{Addr: net.JoinHostPort(c.redisHost, strconv.Itoa(c.redisPort))}
	}
	if password != "" {
		opts.Password = password
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.PoolSize = 2
	return redis.NewClient(opts), opts.Addr, nil
}

// plainRedisURL reports whether go-redis's ParseURL reads rawURL as it is: one server, no tls_* parameters.
func plainRedisURL(rawURL string) bool {
	scheme, _, _ := strings.Cut(rawURL, "://")
	return (scheme == "redis" || scheme == "rediss" || scheme == "unix") && !strings.Contains(rawURL, "tls_")
}

// drainingFunc reports draining while --drain is set or the drain file exists.
func drainingFunc(c *config) func() bool {
	return func() bool {
		if c.drain {
			return true
		}
		_, err := os.Stat(c.drainFile)
		return err == nil
	}
}
