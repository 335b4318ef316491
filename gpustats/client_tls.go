package gpustats

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// tlsParams are the TLS settings NewClient reads from the URL's query itself, as go-redis's URL parser has no
// names for them:
//
//	tls_ca_file=<path>       PEM file of the CAs that sign the server's certificate (instead of the system pool)
//	tls_cert_file=<path>     client certificate, PEM, for servers started with tls-auth-clients yes
//	tls_key_file=<path>      its private key, PEM
//	tls_server_name=<name>   the name the server's certificate must hold, when not the host of the URL
//
// go-redis's own skip_verify=true still turns verification off; prefer tls_ca_file.
type tlsParams struct {
	caFile, certFile, keyFile, serverName string
}

var tlsParamNames = []string{"tls_ca_file", "tls_cert_file", "tls_key_file", "tls_server_name"}

// cutTLSParams removes the tlsParams from rawURL's query and returns the URL without them.
func cutTLSParams(rawURL string) (string, tlsParams, error) {
	var p tlsParams
	head, query, ok := strings.Cut(rawURL, "?")
	if !ok {
		return rawURL, p, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", p, fmt.Errorf("query: %w", err)
	}
	found := false
	for _, name := range tlsParamNames {
		found = found || q.Has(name)
	}
	if !found {
		return rawURL, p, nil
	}
	p.caFile, p.certFile, p.keyFile, p.serverName = q.Get("tls_ca_file"), q.Get("tls_cert_file"),
		q.Get("tls_key_file"), q.Get("tls_server_name")
	for _, name := range tlsParamNames {
		q.Del(name)
	}
	if len(q) == 0 {
		return head, p, nil
	}
	return head + "?" + q.Encode(), p, nil
}

// apply adds the parameters to a client's TLS configuration, which is nil unless the scheme asked for TLS.
func (p tlsParams) apply(cfg **tls.Config) error {
	if p == (tlsParams{}) {
		return nil
	}
	if *cfg == nil {
		return fmt.Errorf("tls_* parameters need a TLS scheme (rediss://, rediss-sentinel://, rediss-cluster://)")
	}
	c := *cfg
	if p.caFile != "" {
		pem, err := os.ReadFile(p.caFile)
		if err != nil {
			return fmt.Errorf("tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls_ca_file %s: no PEM certificate in it", p.caFile)
		}
		c.RootCAs = pool
	}
	if (p.certFile == "") != (p.keyFile == "") {
		return fmt.Errorf("tls_cert_file and tls_key_file go together")
	}
	if p.certFile != "" {
		cert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
		if err != nil {
			return fmt.Errorf("tls_cert_file, tls_key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if p.serverName != "" {
		c.ServerName = p.serverName
	}
	return nil
}
