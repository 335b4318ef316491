package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSServer is a redis-server that accepts only TLS connections, with a certificate for 127.0.0.1 signed by a CA
// generated for the test.
type TLSServer struct {
	*Server
	// CAFile, CertFile and KeyFile are the PEM files of the test CA and of the server's certificate and key.
	CAFile, CertFile, KeyFile string
	// CAPool holds the test CA, for client configurations.
	CAPool *x509.CertPool
}

// StartTLS generates a CA and a server certificate for 127.0.0.1 in t.TempDir() and launches redis-server with
// TLS only (no plain port) on a free loopback port, without client certificates (--tls-auth-clients no), with
// extra configuration args. Client, Running and Restart speak TLS and trust the test CA.
func StartTLS(t testing.TB, args ...string) *TLSServer {
	t.Helper()
	dir := t.TempDir()
	ts := &TLSServer{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "server.pem"),
		KeyFile: filepath.Join(dir, "server-key.pem")}
	ts.CAPool = writeCerts(t, ts.CAFile, ts.CertFile, ts.KeyFile)
	s := newServer(t, append([]string{"--tls-cert-file", ts.CertFile, "--tls-key-file", ts.KeyFile,
		"--tls-ca-cert-file", ts.CAFile, "--tls-auth-clients", "no"}, args...)...)
	s.tls = &tls.Config{RootCAs: ts.CAPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	ts.Server = s
	s.start()
	return ts
}

// URLWithCA is the server's rediss:// URL with a tls_ca_file query parameter naming the test CA.
func (ts *TLSServer) URLWithCA() string {
	return ts.URL() + "?tls_ca_file=" + url.QueryEscape(ts.CAFile)
}

// writeCerts creates a self-signed CA and a server certificate it signs for 127.0.0.1 and localhost, writes them
// as PEM, and returns a pool holding the CA.
func writeCerts(t testing.TB, caFile, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	fail := func(err error) {
		if err != nil {
			t.Fatalf("redistest: generating certificates: %v", err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	fail(err)
	ca, err := x509.ParseCertificate(caDER)
	fail(err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	fail(err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	fail(err)

	write := func(name, typ string, der []byte) {
		fail(os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	}
	write(caFile, "CERTIFICATE", caDER)
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}
