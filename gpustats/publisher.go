package gpustats

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of PublisherOptions, SOLLOL's own.
const (
	DefaultTTL          = 120 * time.Second
	DefaultStreamMaxLen = 1000
)

// PublisherOptions configures a Publisher. The zero value publishes unsigned reports under DefaultPrefix.
type PublisherOptions struct {
	// Names sets the key prefix.
	Names Names
	// TTL is how long a report key lives without a refresh; zero means DefaultTTL.
	TTL time.Duration
	// StreamMaxLen caps the history stream, approximately; zero means DefaultStreamMaxLen, negative disables it.
	StreamMaxLen int64
	// Key signs every report with HMAC-SHA256 when set.
	Key []byte
}

// Publisher writes reports the way SOLLOL's reader and this project's Watcher expect them.
type Publisher struct {
	client redis.UniversalClient
	opts   PublisherOptions
}

// NewPublisher returns a Publisher writing through client.
func NewPublisher(client redis.UniversalClient, opts PublisherOptions) *Publisher {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.StreamMaxLen == 0 {
		opts.StreamMaxLen = DefaultStreamMaxLen
	}
	return &Publisher{client: client, opts: opts}
}

// Publish validates r, then in one round trip sets the node's key with the TTL, publishes the report on the update
// channel and appends it to the history stream.
func (p *Publisher) Publish(ctx context.Context, r *Report) error {
	if err := r.Validate(time.Now(), DefaultMaxSkew); err != nil {
		return fmt.Errorf("gpustats: refusing to publish an invalid report: %w", err)
	}
	payload, err := Encode(r, p.opts.Key)
	if err != nil {
		return err
	}
	fields, err := streamFields(payload)
	if err != nil {
		return err
	}
	names := p.opts.Names
	_, err = p.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, names.Node(r.NodeID), payload, p.opts.TTL)
		pipe.Publish(ctx, names.Channel(), payload)
		if p.opts.StreamMaxLen > 0 {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: names.Stream(), MaxLen: p.opts.StreamMaxLen, Approx: true, Values: fields})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gpustats: publishing report of %q: %w", r.NodeID, err)
	}
	return nil
}

// Tombstone deletes the node's key and publishes a tombstone so that readers drop the node at once. A reporter
// calls it when it shuts down cleanly.
func (p *Publisher) Tombstone(ctx context.Context, nodeID string) error {
	payload, err := Encode(&Report{Vendor: VendorUnknown, NodeID: nodeID, Timestamp: Timestamp(time.Now()), Tombstone: true}, p.opts.Key)
	if err != nil {
		return err
	}
	_, err = p.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, p.opts.Names.Node(nodeID))
		pipe.Publish(ctx, p.opts.Names.Channel(), payload)
		return nil
	})
	if err != nil {
		return fmt.Errorf("gpustats: publishing tombstone of %q: %w", nodeID, err)
	}
	return nil
}

// streamFields flattens a report for XADD as SOLLOL does: strings as they are, lists and objects as JSON, numbers
// as written, booleans as Python prints them.
func streamFields(payload []byte) ([]string, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(payload, &members); err != nil {
		return nil, fmt.Errorf("gpustats: flattening report: %w", err)
	}
	fields := make([]string, 0, 2*len(members))
	for k, raw := range members {
		v := string(raw)
		switch {
		case bytes.HasPrefix(raw, []byte(`"`)):
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, err
			}
		case v == "true":
			v = "True"
		case v == "false":
			v = "False"
		case v == "null":
			v = "None"
		}
		fields = append(fields, k, v)
	}
	return fields, nil
}
