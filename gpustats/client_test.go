package gpustats

import (
	"strings"
	"testing"

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
