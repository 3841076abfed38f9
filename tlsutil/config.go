// Package tlsutil is orch's TLS: the agent's tls block turned into
// tls.Configs for the HTTP API, the RPC port (Raft and the control
// channel) and the agent's own outgoing calls, with Nomad's certificate
// naming (server.<region>.nomad, client.<region>.nomad), and the CA and
// certificate generation behind `orch tls`.
package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Config is the agent's `tls { ... }` block.
type Config struct {
	// HTTP serves the HTTP API over TLS; RPC encrypts and authenticates
	// Raft and the control channel (mutual TLS).
	HTTP bool
	RPC  bool

	CAFile   string
	CertFile string
	KeyFile  string

	// VerifyServerHostname makes outgoing RPC check that the peer's
	// certificate names server.<region>.nomad, so a client certificate
	// cannot pose as a server.
	VerifyServerHostname bool
	// VerifyHTTPSClient requires HTTP API callers to present a
	// certificate signed by the CA.
	VerifyHTTPSClient bool
	// MinVersion is "tls12" (default) or "tls13".
	MinVersion string

	Region string
}

// Enabled reports whether any listener uses TLS.
func (c *Config) Enabled() bool { return c != nil && (c.HTTP || c.RPC) }

// ServerName is the name a server's certificate carries in region.
func ServerName(region string) string { return "server." + region + ".nomad" }

// ClientName is the name a client's certificate carries in region.
func ClientName(region string) string { return "client." + region + ".nomad" }

// Check validates the block: the files exist and parse, the key matches the
// certificate, the certificate chains to the CA.
func (c *Config) Check() error {
	if !c.Enabled() {
		return nil
	}
	if c.CAFile == "" || c.CertFile == "" || c.KeyFile == "" {
		return errors.New("tls: ca_file, cert_file and key_file are required when http or rpc is enabled")
	}
	if _, err := c.minVersion(); err != nil {
		return err
	}
	m, err := c.load()
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(m.cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("tls: parsing %s: %w", c.CertFile, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("tls: %s is not signed by %s: %w", c.CertFile, c.CAFile, err)
	}
	return nil
}

func (c *Config) minVersion() (uint16, error) {
	switch c.MinVersion {
	case "", "tls12":
		return tls.VersionTLS12, nil
	case "tls13":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("tls: tls_min_version must be tls12 or tls13, not %q", c.MinVersion)
}

// material is the loaded CA pool and key pair.
type material struct {
	pool *x509.CertPool
	cert tls.Certificate
}

var (
	loadMu    sync.Mutex
	loadCache = map[[3]string]*material{}
)

// load reads the CA and key pair (once per set of paths).
func (c *Config) load() (*material, error) {
	key := [3]string{c.CAFile, c.CertFile, c.KeyFile}
	loadMu.Lock()
	defer loadMu.Unlock()
	if m := loadCache[key]; m != nil {
		return m, nil
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tls: reading ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("tls: no certificate in ca_file %s", c.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: loading cert_file and key_file: %w", err)
	}
	m := &material{pool: pool, cert: cert}
	loadCache[key] = m
	return m, nil
}

func (c *Config) base() (*tls.Config, *material, error) {
	m, err := c.load()
	if err != nil {
		return nil, nil, err
	}
	v, err := c.minVersion()
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{MinVersion: v, Certificates: []tls.Certificate{m.cert}}, m, nil
}

// HTTPServer is the tls.Config of the HTTP API listener.
func (c *Config) HTTPServer() (*tls.Config, error) {
	tc, m, err := c.base()
	if err != nil {
		return nil, err
	}
	tc.ClientCAs = m.pool
	if c.VerifyHTTPSClient {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	} else {
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// RPCServer is the tls.Config of the RPC port: peers must present a
// certificate signed by the CA (Raft and the control channel then check
// which role it names).
func (c *Config) RPCServer() (*tls.Config, error) {
	tc, m, err := c.base()
	if err != nil {
		return nil, err
	}
	tc.ClientCAs = m.pool
	tc.ClientAuth = tls.RequireAndVerifyClientCert
	return tc, nil
}

// RPCDialServer is the tls.Config for connecting to a server's RPC port.
// With VerifyServerHostname the server must present server.<region>.nomad;
// otherwise any certificate signed by the CA is accepted, as in Nomad.
func (c *Config) RPCDialServer() (*tls.Config, error) {
	tc, m, err := c.base()
	if err != nil {
		return nil, err
	}
	tc.RootCAs = m.pool
	if c.VerifyServerHostname {
		tc.ServerName = ServerName(c.Region)
		return tc, nil
	}
	verifyChainOnly(tc, m.pool)
	return tc, nil
}

// HTTPClient is the tls.Config of the agent's own HTTPS calls to other
// agents (forwarding, token resolution, keyring fan-out). It presents this
// agent's certificate, so peers with verify_https_client accept it.
func (c *Config) HTTPClient() (*tls.Config, error) {
	tc, m, err := c.base()
	if err != nil {
		return nil, err
	}
	tc.RootCAs = m.pool
	// Agents are addressed by IP; the chain to the cluster CA is what
	// identifies them.
	verifyChainOnly(tc, m.pool)
	return tc, nil
}

// verifyChainOnly replaces hostname verification by a check that the peer's
// chain leads to pool.
func verifyChainOnly(tc *tls.Config, pool *x509.CertPool) {
	tc.InsecureSkipVerify = true
	tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, err := verifyChain(raw, pool, "")
		return err
	}
}

// verifyChain checks a presented chain against pool and, when name is set,
// that the leaf carries it. It returns the leaf.
func verifyChain(raw [][]byte, pool *x509.CertPool, name string) (*x509.Certificate, error) {
	if len(raw) == 0 {
		return nil, errors.New("tls: peer presented no certificate")
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, r := range raw {
		cert, err := x509.ParseCertificate(r)
		if err != nil {
			return nil, fmt.Errorf("tls: bad peer certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: name,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := certs[0].Verify(opts); err != nil {
		return nil, fmt.Errorf("tls: peer certificate: %w", err)
	}
	return certs[0], nil
}

// PeerHasName reports whether a verified connection's peer certificate
// names name (server.<region>.nomad for servers).
func PeerHasName(cs tls.ConnectionState, name string) bool {
	if len(cs.PeerCertificates) == 0 {
		return false
	}
	return cs.PeerCertificates[0].VerifyHostname(name) == nil
}
