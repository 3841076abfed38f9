package tlsutil

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// The RPC port's TLS as rpcmux takes it: a function terminating TLS on an
// accepted connection, and one starting TLS on a dialled one.

const rpcHandshakeTimeout = 10 * time.Second

// RPCAccept returns the function that performs the server side of the
// handshake: the peer must present a certificate from the CA.
func (c *Config) RPCAccept() (func(net.Conn) (net.Conn, error), error) {
	tc, err := c.RPCServer()
	if err != nil {
		return nil, err
	}
	return func(conn net.Conn) (net.Conn, error) {
		t := tls.Server(conn, tc)
		ctx, cancel := context.WithTimeout(context.Background(), rpcHandshakeTimeout)
		defer cancel()
		if err := t.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		return t, nil
	}, nil
}

// RPCDial returns the function that performs the client side of the
// handshake with a server, presenting this agent's certificate.
func (c *Config) RPCDial() (func(ctx context.Context, conn net.Conn, addr string) (net.Conn, error), error) {
	tc, err := c.RPCDialServer()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, conn net.Conn, _ string) (net.Conn, error) {
		t := tls.Client(conn, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		return t, nil
	}, nil
}

// ErrNotAServer is returned when a peer's certificate does not name
// server.<region>.nomad.
var ErrNotAServer = errors.New("peer is not a server of this region")

// VerifyServer proves that the agent at addr (its RPC port) holds a server
// certificate of this region: it completes a TLS handshake whose peer must
// chain to the CA and name server.<region>.nomad, whatever
// verify_server_hostname says. announce is written first (rpcmux's TLS
// byte) so the peer's mux hands the connection to TLS.
func (c *Config) VerifyServer(ctx context.Context, addr string, announce []byte) error {
	tc, m, err := c.base()
	if err != nil {
		return err
	}
	tc.RootCAs = m.pool
	tc.ServerName = ServerName(c.Region)
	d := net.Dialer{Timeout: rpcHandshakeTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("verifying server %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(rpcHandshakeTimeout))
	}
	if _, err := conn.Write(announce); err != nil {
		return fmt.Errorf("verifying server %s: %w", addr, err)
	}
	t := tls.Client(conn, tc)
	if err := t.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotAServer, addr, err)
	}
	return nil
}

// RPCPeerCheck returns the role check of the control channel's callers,
// as Nomad checks RPC callers: with verify_server_hostname a node call
// needs a certificate naming client.<region>.nomad or
// server.<region>.nomad, and a call another server forwarded (serverOnly)
// a server certificate; a certificate for the CLI or for another region
// is refused although the CA signed it. Without verify_server_hostname
// certificates need not carry these names, so any certificate from the CA
// is a caller (nil: no check); Raft requires a server certificate either
// way (server.guardRaftListener).
func (c *Config) RPCPeerCheck() func(st *tls.ConnectionState, serverOnly bool) error {
	if !c.RPC || !c.VerifyServerHostname {
		return nil
	}
	server, client := ServerName(c.Region), ClientName(c.Region)
	return func(st *tls.ConnectionState, serverOnly bool) error {
		switch {
		case st == nil:
			return errors.New("the RPC port requires TLS")
		case PeerHasName(*st, server):
			return nil
		case serverOnly:
			return fmt.Errorf("%w: a call relayed between servers needs a certificate for %s", ErrNotAServer, server)
		case PeerHasName(*st, client):
			return nil
		}
		return fmt.Errorf("the peer certificate names neither %s nor %s", client, server)
	}
}
