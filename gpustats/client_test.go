package gpustats

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestNewClient(t *testing.T) {
	for _, tc := range []struct {
		url  string
		kind string // "" means an error
	}{
		{"redis://localhost:6379/0", "*redis.Client"},
		{"rediss://:secret@localhost:6380", "*redis.Client"},
		{"redis-sentinel://:secret@s1:26379?master_name=mymaster&addr=s2:26379", "*redis.Client"},
		{"redis-cluster://n1:7000?addr=n2:7001&addr=n3:7002", "*redis.ClusterClient"},
		{"redis-sentinel://:secret@s1:26379", ""},
		{"http://:secret@localhost", ""},
		{"localhost:6379", ""},
		{"redis://:secret@localhost:6379?bogus=1", ""},
	} {
		c, err := NewClient(tc.url)
		// CheckURL answers as NewClient does, without a client.
		if check := CheckURL(tc.url); (check == nil) != (err == nil) || (err != nil && check.Error() != err.Error()) {
			t.Errorf("%s: CheckURL %v, NewClient %v", tc.url, check, err)
		}
		if tc.kind == "" {
			if err == nil {
				t.Errorf("%s: no error", tc.url)
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: error leaks the password: %v", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if got := typeName(c); got != tc.kind {
			t.Errorf("%s: %s, want %s", tc.url, got, tc.kind)
		}
		c.Close()
	}
}

func typeName(c redis.UniversalClient) string {
	switch c.(type) {
	case *redis.Client:
		return "*redis.Client"
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	}
	return "other"
}

func TestClientDefaultsFillWhatTheURLLeaves(t *testing.T) {
	d := ClientDefaults{DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1, PoolSize: 2}
	c, err := NewClientDefaults("redis://localhost:6379/0?read_timeout=7s&pool_size=9", d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// go-redis stores MaxRetries -1 as 0 (no retry); left unset it would be 3.
	o := c.(*redis.Client).Options()
	if o.DialTimeout != 2*time.Second || o.ReadTimeout != 7*time.Second || o.MaxRetries != 0 || o.PoolSize != 9 {
		t.Fatalf("dial %v read %v retries %d pool %d: want 2s, 7s (URL), 0, 9 (URL)", o.DialTimeout, o.ReadTimeout, o.MaxRetries, o.PoolSize)
	}
	cc, err := NewClientDefaults("redis-cluster://n1:7000?addr=n2:7001", d)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if co := cc.(*redis.ClusterClient).Options(); co.DialTimeout != 2*time.Second || co.PoolSize != 2 || co.MaxRetries > 0 {
		t.Fatalf("cluster: dial %v pool %d retries %d", co.DialTimeout, co.PoolSize, co.MaxRetries)
	}
}
