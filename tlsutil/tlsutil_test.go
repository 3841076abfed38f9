package tlsutil

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake between a listener using srv and a dialer
// using cli, and returns the dialer's and the listener's errors.
func handshake(t *testing.T, srv, cli *tls.Config) (dialErr, acceptErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		err = c.(*tls.Conn).Handshake()
		if err == nil {
			_, err = c.Write([]byte("x"))
		}
		done <- err
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cli)
	if err == nil {
		// TLS 1.3 reports the server's refusal of our certificate on
		// the first read.
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(c, make([]byte, 1))
		c.Close()
	}
	return err, <-done
}

func mustPKI(t *testing.T, region string) *PKI {
	t.Helper()
	p, err := NewPKI(t.TempDir(), region)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func cfgFor(t *testing.T, p *PKI, name, role string) *Config {
	t.Helper()
	c, k, err := p.Issue(name, role)
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config(c, k)
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRPCMutualTLSAndServerNames(t *testing.T) {
	p := mustPKI(t, "global")
	server := cfgFor(t, p, "s", "server")
	client := cfgFor(t, p, "c", "client")
	srvTLS, err := server.RPCServer()
	if err != nil {
		t.Fatal(err)
	}
	dial := func(c *Config) *tls.Config {
		tc, err := c.RPCDialServer()
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	if d, a := handshake(t, srvTLS, dial(client)); d != nil || a != nil {
		t.Fatalf("client to server: %v / %v", d, a)
	}
	// A listener with a client certificate cannot pose as a server to a
	// dialer that verifies server hostnames.
	impostor, _ := client.RPCServer()
	if d, _ := handshake(t, impostor, dial(server)); d == nil || !strings.Contains(d.Error(), "server.global.nomad") {
		t.Fatalf("client cert accepted as a server: %v", d)
	}
	// Without a certificate, or with one from another CA, the RPC port
	// refuses the peer.
	bare := &tls.Config{InsecureSkipVerify: true}
	if _, a := handshake(t, srvTLS, bare); a == nil {
		t.Fatal("RPC accepted a peer without a certificate")
	}
	other := cfgFor(t, mustPKI(t, "global"), "x", "server")
	if _, a := handshake(t, srvTLS, dial(other)); a == nil {
		t.Fatal("RPC accepted a certificate of another CA")
	}
	// Another region's server certificate is not this region's server.
	eu := cfgFor(t, mustPKIWithCA(t, p, "eu"), "eu", "server")
	euSrv, _ := eu.RPCServer()
	if d, _ := handshake(t, euSrv, dial(client)); d == nil {
		t.Fatal("server.eu.nomad accepted as server.global.nomad")
	}
}

// mustPKIWithCA issues certificates for another region from p's CA.
func mustPKIWithCA(t *testing.T, p *PKI, region string) *PKI {
	t.Helper()
	q := &PKI{Dir: t.TempDir(), CA: p.CA, Region: region}
	if err := WriteNew(q.CAFile(), p.CA.Cert, 0o644); err != nil {
		t.Fatal(err)
	}
	return q
}

func TestHTTPSClientVerification(t *testing.T) {
	p := mustPKI(t, "global")
	server := cfgFor(t, p, "s", "server")
	cli := cfgFor(t, p, "cli", "cli")
	server.VerifyHTTPSClient = true
	srvTLS, err := server.HTTPServer()
	if err != nil {
		t.Fatal(err)
	}
	withCert, _ := cli.HTTPClient()
	if d, a := handshake(t, srvTLS, withCert); d != nil || a != nil {
		t.Fatalf("cli cert refused: %v / %v", d, a)
	}
	noCert := &tls.Config{RootCAs: withCert.RootCAs, InsecureSkipVerify: true}
	if _, a := handshake(t, srvTLS, noCert); a == nil {
		t.Fatal("verify_https_client accepted a caller without a certificate")
	}
	server.VerifyHTTPSClient = false
	open, _ := server.HTTPServer()
	if d, a := handshake(t, open, noCert); d != nil || a != nil {
		t.Fatalf("without verify_https_client a caller needs no certificate: %v / %v", d, a)
	}
}

func TestCheckRejectsBadMaterial(t *testing.T) {
	p := mustPKI(t, "global")
	good := cfgFor(t, p, "s", "server")
	other := cfgFor(t, mustPKI(t, "global"), "o", "server")
	mixed := *good
	mixed.CertFile, mixed.KeyFile = other.CertFile, other.KeyFile
	if err := mixed.Check(); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("certificate of another CA: %v", err)
	}
	nokey := *good
	nokey.KeyFile = other.KeyFile
	if err := nokey.Check(); err == nil {
		t.Fatal("mismatched key accepted")
	}
	missing := *good
	missing.CAFile = ""
	if err := missing.Check(); err == nil {
		t.Fatal("missing ca_file accepted")
	}
	v := *good
	v.MinVersion = "ssl3"
	if err := v.Check(); err == nil {
		t.Fatal("bad tls_min_version accepted")
	}
}

func TestFileNames(t *testing.T) {
	c, k := CertFileNames("global", "server", "nomad")
	if c != "global-server-nomad.pem" || k != "global-server-nomad-key.pem" {
		t.Fatalf("%s %s", c, k)
	}
}
