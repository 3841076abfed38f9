package rpcmux

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

func listen(t *testing.T, cfg Config) *Mux {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln, cfg)
	t.Cleanup(func() { m.Close() })
	return m
}

// echo serves one protocol: each connection gets its first line back
// prefixed with the protocol's name.
func echo(t *testing.T, m *Mux, p Proto) {
	l := m.Listener(p)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 5)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				_, _ = c.Write(append([]byte(p.String()+":"), buf...))
			}()
		}
	}()
}

func roundTrip(t *testing.T, d *Dialer, addr string, p Proto) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr, p)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestMuxDispatchesByProtocolByte(t *testing.T) {
	m := listen(t, Config{})
	echo(t, m, ProtoRaft)
	echo(t, m, ProtoControl)
	go m.Serve()
	d := &Dialer{}
	for _, p := range []Proto{ProtoRaft, ProtoControl} {
		got, err := roundTrip(t, d, m.Addr().String(), p)
		if err != nil || got != p.String()+":hello" {
			t.Fatalf("%s: %q %v", p, got, err)
		}
	}
	// Nobody serves 0x7f: the connection is closed without an answer.
	if got, _ := roundTrip(t, d, m.Addr().String(), Proto(0x7f)); got != "" {
		t.Fatalf("unknown protocol answered %q", got)
	}
	// TLS is not configured: refused.
	td := &Dialer{TLS: func(ctx context.Context, c net.Conn, addr string) (net.Conn, error) {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		return tc, tc.HandshakeContext(ctx)
	}}
	if _, err := roundTrip(t, td, m.Addr().String(), ProtoRaft); err == nil {
		t.Fatal("TLS accepted without a TLS configuration")
	}
}

func TestMuxSilentPeerIsDropped(t *testing.T) {
	m := listen(t, Config{HandshakeTimeout: 200 * time.Millisecond})
	echo(t, m, ProtoRaft)
	go m.Serve()
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("silent connection kept: %v after %s", err, time.Since(start))
	}
}

// selfSigned returns a server and a client certificate signed by one CA.
func selfSigned(t *testing.T) (server, client tls.Certificate, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			DNSNames: []string{name}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	return leaf(2, "server.global.nomad", x509.ExtKeyUsageServerAuth), leaf(3, "client.global.nomad", x509.ExtKeyUsageClientAuth), pool
}

// TestMuxRequiresTLSWithClientCertificates is the place mTLS plugs in: with
// RequireTLS, plaintext protocols are refused; the TLS wrapper may demand a
// client certificate, and the protocol's server sees it.
func TestMuxRequiresTLSWithClientCertificates(t *testing.T) {
	srvCert, cliCert, pool := selfSigned(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	m := listen(t, Config{RequireTLS: true, TLS: func(c net.Conn) (net.Conn, error) {
		tc := tls.Server(c, srvTLS)
		return tc, tc.Handshake()
	}})
	peers := make(chan string, 4)
	l := m.Listener(ProtoControl)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			st, ok := PeerTLS(c)
			if ok && len(st.PeerCertificates) > 0 {
				peers <- st.PeerCertificates[0].Subject.CommonName
			} else {
				peers <- ""
			}
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	}()
	go m.Serve()
	addr := m.Addr().String()

	if got, _ := roundTrip(t, &Dialer{}, addr, ProtoControl); got != "" {
		t.Fatalf("plaintext answered %q with TLS required", got)
	}
	withCert := func(certs []tls.Certificate) *Dialer {
		return &Dialer{TLS: func(ctx context.Context, c net.Conn, a string) (net.Conn, error) {
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "server.global.nomad", Certificates: certs})
			return tc, tc.HandshakeContext(ctx)
		}}
	}
	if got, err := roundTrip(t, withCert(nil), addr, ProtoControl); err == nil && got != "" {
		t.Fatalf("a peer without a client certificate was served: %q", got)
	}
	got, err := roundTrip(t, withCert([]tls.Certificate{cliCert}), addr, ProtoControl)
	if err != nil || got != "ok" {
		t.Fatalf("mTLS round trip: %q %v", got, err)
	}
	if cn := <-peers; cn != "client.global.nomad" {
		t.Fatalf("peer certificate %q", cn)
	}
}
