package api

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSFiles are the CLI's TLS settings (Nomad's -ca-cert, -client-cert,
// -client-key, -tls-server-name, -tls-skip-verify and their NOMAD_*
// variables).
type TLSFiles struct {
	CACert     string
	ClientCert string
	ClientKey  string
	ServerName string
	SkipVerify bool
}

// Empty reports whether nothing is set.
func (f TLSFiles) Empty() bool {
	return f == TLSFiles{}
}

// TLSFilesFromEnv reads NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY,
// NOMAD_TLS_SERVER_NAME and NOMAD_SKIP_VERIFY (ORCH_* first).
func TLSFilesFromEnv() TLSFiles {
	get := func(name string) string {
		if v := os.Getenv("ORCH_" + name); v != "" {
			return v
		}
		return os.Getenv("NOMAD_" + name)
	}
	skip := get("SKIP_VERIFY")
	return TLSFiles{CACert: get("CACERT"), ClientCert: get("CLIENT_CERT"), ClientKey: get("CLIENT_KEY"),
		ServerName: get("TLS_SERVER_NAME"), SkipVerify: skip == "1" || skip == "true"}
}

// Config builds the tls.Config, nil when nothing is set.
func (f TLSFiles) Config() (*tls.Config, error) {
	if f.Empty() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName, InsecureSkipVerify: f.SkipVerify}
	if f.CACert != "" {
		pem, err := os.ReadFile(f.CACert)
		if err != nil {
			return nil, fmt.Errorf("reading CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", f.CACert)
		}
		tc.RootCAs = pool
	}
	if f.ClientCert != "" || f.ClientKey != "" {
		cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
