package main

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
)

// store is the Redis the reporters publish to and the gateway watches, for one policy's run.
type store struct {
	url    string
	prefix string // key prefix; the default one on the embedded Redis, a private one on a real Redis
	client redis.UniversalClient
	mini   *miniredis.Miniredis
}

// openStore starts an embedded Redis on a free loopback port, or, when url is set, connects to that one and uses
// a key prefix of its own (run), so that the demo never touches a real fleet's reports.
func openStore(ctx context.Context, url, run string) (*store, error) {
	s := &store{url: url}
	if url == "" {
		s.mini = miniredis.NewMiniRedis()
		if err := s.mini.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		s.url = "redis://" + s.mini.Addr() + "/0"
	} else {
		s.prefix = "sollol:demo:" + run + ":"
	}
	c, err := gpustats.NewClient(s.url)
	if err != nil {
		s.close()
		return nil, err
	}
	s.client = c
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		s.close()
		return nil, fmt.Errorf("redis %s: %w", gpustats.Redact(s.url), err)
	}
	return s, nil
}

func (s *store) names() gpustats.Names { return gpustats.Names{Prefix: s.prefix} }

// close removes what the run wrote to a real Redis, and stops an embedded one.
func (s *store) close() {
	if s.client != nil {
		if s.mini == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if keys, err := s.client.Keys(ctx, s.names().Pattern()).Result(); err == nil && len(keys) > 0 {
				s.client.Del(ctx, keys...)
			}
			cancel()
		}
		s.client.Close()
	}
	if s.mini != nil {
		s.mini.Close()
	}
}
