package gpustats_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sollol-go/sollol/gpustats"
	"github.com/sollol-go/sollol/internal/redistest"
)

// newClient is gpustats.NewClient that fails t on error and closes the client when t ends.
func newClient(t *testing.T, rawURL string) redis.UniversalClient {
	t.Helper()
	c, err := gpustats.NewClient(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// flows publishes a report through pub and waits until w holds it.
func flows(t *testing.T, pub redis.UniversalClient, w *gpustats.Watcher, id string, free float64) {
	t.Helper()
	p := gpustats.NewPublisher(pub, gpustats.PublisherOptions{})
	if err := p.Publish(context.Background(), report(id, free, time.Now())); err != nil {
		t.Fatal(err)
	}
	eventually(t, id+" with its report", func() bool { return freeOf(w, id) == free })
}

func TestTLSWithCA(t *testing.T) {
	srv := redistest.StartTLS(t)
	u := srv.URLWithCA()
	w := startWatcher(t, newClient(t, u), gpustats.WatcherOptions{Resync: time.Hour})
	eventually(t, "connection over TLS", func() bool { return w.Stats().Connected })
	flows(t, newClient(t, u), w, "10.0.0.5:11434", 1000)
	// A second watcher reading the key (resync, no PUBLISH) sees it too.
	w2 := startWatcher(t, newClient(t, u), gpustats.WatcherOptions{})
	eventually(t, "resync over TLS", func() bool { return freeOf(w2, "10.0.0.5:11434") == 1000 })
}

func TestTLSSkipVerify(t *testing.T) {
	srv := redistest.StartTLS(t)
	c := newClient(t, srv.URL()+"?skip_verify=true")
	w := startWatcher(t, c, gpustats.WatcherOptions{Resync: time.Hour})
	eventually(t, "connection", func() bool { return w.Stats().Connected })
	flows(t, c, w, "10.0.0.6:11434", 2000)
}

func TestTLSUnknownCARefused(t *testing.T) {
	srv := redistest.StartTLS(t)
	// rediss:// without tls_ca_file trusts the system's CAs, which did not sign the test certificate.
	c := newClient(t, srv.URL()+"?max_retries=-1")
	err := c.Ping(context.Background()).Err()
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("PING with an unknown CA: %v, want a certificate error", err)
	}
	w := startWatcher(t, c, gpustats.WatcherOptions{})
	eventually(t, "the error in Stats", func() bool { return strings.Contains(w.Stats().LastError, "certificate") })
	if w.Stats().Connected {
		t.Fatal("connected without trusting the server")
	}
}

func TestTLSClientCertificate(t *testing.T) {
	srv := redistest.StartTLS(t, "--tls-auth-clients", "yes")
	without := newClient(t, srv.URLWithCA()+"&max_retries=-1")
	if err := without.Ping(context.Background()).Err(); err == nil {
		t.Fatal("server requiring client certificates answered a client without one")
	}
	// The test's server certificate is also valid for client authentication.
	with := newClient(t, srv.URLWithCA()+"&tls_cert_file="+url.QueryEscape(srv.CertFile)+"&tls_key_file="+url.QueryEscape(srv.KeyFile))
	w := startWatcher(t, with, gpustats.WatcherOptions{Resync: time.Hour})
	eventually(t, "connection with a client certificate", func() bool { return w.Stats().Connected })
	flows(t, with, w, "10.0.0.7:11434", 3000)
}

func TestTLSParamErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for _, tc := range []struct{ url, want string }{
		{"redis://:secret@127.0.0.1:1/0?tls_ca_file=/x", "need a TLS scheme"},
		{"rediss://:secret@127.0.0.1:1/0?tls_ca_file=" + filepath.Join(dir, "missing.pem"), "missing.pem"},
		{"rediss://:secret@127.0.0.1:1/0?tls_ca_file=" + notPEM, "no PEM certificate"},
		{"rediss://:secret@127.0.0.1:1/0?tls_cert_file=" + notPEM, "go together"},
		{"rediss-cluster://:secret@127.0.0.1:1?addr=127.0.0.1:2&tls_ca_file=" + notPEM, "no PEM certificate"},
		{"rediss-sentinel://:secret@127.0.0.1:1?master_name=m&tls_key_file=" + notPEM, "go together"},
		{"rediss://:secret@127.0.0.1:1/0?tls_ca_file=/x&bogus=1", "bogus"},
	} {
		_, err := gpustats.NewClient(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v, want an error naming %q without the password", tc.url, err, tc.want)
		}
	}
	// The parameters are removed before go-redis sees the query, and the rest is kept.
	c, err := gpustats.NewClient("rediss://127.0.0.1:1/0?tls_server_name=redis.example&dial_timeout=3s&tls_ca_file=" + notPEM[:0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.(*redis.Client).Options()
	if o.TLSConfig.ServerName != "redis.example" || o.DialTimeout != 3*time.Second {
		t.Fatalf("server name %q, dial timeout %s", o.TLSConfig.ServerName, o.DialTimeout)
	}
}
