package gpustats

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClient connects to the Redis deployment a URL names, without dialling yet:
//
//	redis://[user:password@]host:port[/db]           one server (rediss:// for TLS, unix:///path.sock for a socket)
//	redis-sentinel://[user:pass@]host:port?master_name=mymaster&addr=host2:port   Sentinel (rediss-sentinel:// for TLS)
//	redis-cluster://[user:pass@]host:port?addr=host2:port&addr=host3:port         Cluster (rediss-cluster:// for TLS)
//
// Query parameters set go-redis options by their snake_case names (dial_timeout=3s, …); tls_ca_file,
// tls_cert_file, tls_key_file and tls_server_name configure TLS (see tlsParams). The password is never part of an
// error message.
func NewClient(rawURL string) (redis.UniversalClient, error) {
	return NewClientDefaults(rawURL, ClientDefaults{})
}

// ClientDefaults are go-redis settings a program wants where its URL names none: a setting in the URL's query wins.
// Zero fields leave go-redis's own defaults.
type ClientDefaults struct {
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// MaxRetries -1 makes a command fail at once, for a caller that retries on its own schedule.
	MaxRetries, DialerRetries, PoolSize int
}

// NewClientDefaults is NewClient with d filling in what the URL leaves unset.
func NewClientDefaults(rawURL string, d ClientDefaults) (redis.UniversalClient, error) {
	return newClient(rawURL, d, true)
}

// CheckURL says whether NewClient accepts rawURL, without building a client; the TLS files the URL names are read
// only when a client is built.
func CheckURL(rawURL string) error {
	_, err := newClient(rawURL, ClientDefaults{}, false)
	return err
}

// newClient parses rawURL and, when build is set, builds its client.
func newClient(rawURL string, d ClientDefaults, build bool) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("redis URL %q: want redis://host:port, rediss://, redis-sentinel:// or redis-cluster://", Redact(rawURL))
	}
	base, mode, _ := strings.Cut(scheme, "-")
	plain, tlsp, err := cutTLSParams(base + "://" + rest)
	var c redis.UniversalClient
	switch {
	case err != nil:
	case base != "redis" && base != "rediss" && !(base == "unix" && mode == ""):
		err = fmt.Errorf("unknown scheme %q", scheme)
	case mode == "":
		var o *redis.Options
		if o, err = redis.ParseURL(plain); err == nil {
			d.fill(plain, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries, &o.PoolSize)
			if build {
				if err = tlsp.apply(&o.TLSConfig); err == nil {
					c = redis.NewClient(o)
				}
			}
		}
	case mode == "sentinel":
		var o *redis.FailoverOptions
		if o, err = redis.ParseFailoverURL(plain); err == nil {
			d.fill(plain, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries, &o.PoolSize)
			if o.MasterName == "" {
				err = fmt.Errorf("master_name query parameter is required")
			} else if build {
				if err = tlsp.apply(&o.TLSConfig); err == nil {
					// The sentinel's password is the data node's unless told otherwise, as for redis-cli users.
					if o.Password == "" {
						o.Password = o.SentinelPassword
						o.Username = o.SentinelUsername
					}
					c = redis.NewFailoverClient(o)
				}
			}
		}
	case mode == "cluster":
		var o *redis.ClusterOptions
		if o, err = redis.ParseClusterURL(plain); err == nil {
			d.fill(plain, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries, &o.PoolSize)
			if build {
				if err = tlsp.apply(&o.TLSConfig); err == nil {
					c = redis.NewClusterClient(o)
				}
			}
		}
	default:
		err = fmt.Errorf("unknown scheme %q", scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("redis URL %q: %s", Redact(rawURL), strings.ReplaceAll(strings.ReplaceAll(err.Error(), rawURL, Redact(rawURL)), plain, Redact(plain)))
	}
	return c, nil
}

// fill sets each option that d gives and the URL's query does not, in the order of ClientDefaults' fields. The
// three go-redis option structs share these fields but no type, hence the pointers.
func (d ClientDefaults) fill(rawURL string, dial, read, write *time.Duration, retries, dialer, pool *int) {
	var q url.Values
	if u, err := url.Parse(rawURL); err == nil {
		q = u.Query()
	}
	for _, f := range []struct {
		key string
		dst *time.Duration
		v   time.Duration
	}{{"dial_timeout", dial, d.DialTimeout}, {"read_timeout", read, d.ReadTimeout}, {"write_timeout", write, d.WriteTimeout}} {
		if f.v != 0 && !q.Has(f.key) {
			*f.dst = f.v
		}
	}
	for _, f := range []struct {
		key string
		dst *int
		v   int
	}{{"max_retries", retries, d.MaxRetries}, {"dialer_retries", dialer, d.DialerRetries}, {"pool_size", pool, d.PoolSize}} {
		if f.v != 0 && !q.Has(f.key) {
			*f.dst = f.v
		}
	}
}

// Redact hides the password of a Redis URL, for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Do not echo something that may hold a secret but does not parse.
		if strings.Contains(rawURL, "@") {
			return "<unparsable URL>"
		}
		return rawURL
	}
	return u.Redacted()
}
