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
	nodeID, err := resolveNodeID(c.nodeID, c.ollamaURL)
	if err != nil {
		return err
	}
	if c.drainFile == "" {
		c.drainFile = defaultDrainFile(nodeID)
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
		Ollama: &reporter.OllamaProbe{URL: c.ollamaURL, NumParallel: c.numParallel,
			RAMMB: reporter.SystemRAMMB(reporter.DefaultMemInfo)},
		Draining: drainingFunc(c),
		Logger:   log,
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

// redisClient connects as the flags say: --redis-url in any form gpustats.NewClient reads, else --redis-host and
// --redis-port, with the password from its flag or file. Commands fail fast: the report loop retries on its own
// schedule. It returns the client and the URL with the password hidden, for logs.
func redisClient(c *config) (redis.UniversalClient, string, error) {
	password := c.redisPassword
	if password == "" && c.redisPassFile != "" {
		p, err := readSecretFile(c.redisPassFile)
		if err != nil {
			return nil, "", fmt.Errorf("reading the Redis password: %w", err)
		}
		password = string(p)
	}
	raw, flag := c.redisURL, "--redis-url"
	if raw == "" {
		raw, flag = "redis://"+net.JoinHostPort(c.redisHost, strconv.Itoa(c.redisPort)), "--redis-host"
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's errors quote the URL, password included.
		return nil, "", errors.New("--redis-url is not a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL")
	}
	if password != "" {
		user := ""
		if u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, password)
	}
	client, err := gpustats.NewClientDefaults(u.String(), gpustats.ClientDefaults{DialTimeout: 2 * time.Second,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxRetries: -1, DialerRetries: 1, PoolSize: 2})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", flag, err)
	}
	return client, gpustats.Redact(u.String()), nil
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
