// Package rpcmux serves several protocols on one TCP port, the agent's RPC
// port (4647), as Nomad does: the first byte a peer sends names the protocol
// of the connection. Raft and the client↔server control channel share the
// port this way.
//
// TLS has its place in the framing: a connection that starts with ProtoTLS
// is handed to Config.TLS (which performs the handshake and may require a
// client certificate), and the protocol byte is then read from inside the
// encrypted stream. With Config.RequireTLS, connections that do not start
// with ProtoTLS are refused, so plaintext Raft or control traffic cannot be
// injected once TLS is on.
package rpcmux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Proto is the first byte of a connection on the RPC port.
type Proto byte

// Protocol bytes. Values are part of the wire format: never renumber.
const (
	// ProtoControl is the client↔server control channel (HTTP/2 without
	// TLS framing of its own; see package control).
	ProtoControl Proto = 0x01
	// ProtoRaft is hashicorp/raft's network transport.
	ProtoRaft Proto = 0x02
	// ProtoTLS announces a TLS handshake; the inner protocol byte follows
	// inside the encrypted stream.
	ProtoTLS Proto = 0x04
)

func (p Proto) String() string {
	switch p {
	case ProtoControl:
		return "control"
	case ProtoRaft:
		return "raft"
	case ProtoTLS:
		return "tls"
	}
	return fmt.Sprintf("proto(0x%02x)", byte(p))
}

// Config configures a Mux.
type Config struct {
	Logger *slog.Logger
	// TLS terminates TLS on a connection that announced ProtoTLS and
	// returns the decrypted stream (normally a *tls.Conn after its
	// handshake). Nil refuses TLS connections.
	TLS func(net.Conn) (net.Conn, error)
	// RequireTLS refuses every connection that does not start with
	// ProtoTLS.
	RequireTLS bool
	// HandshakeTimeout bounds the wait for the protocol byte (and the TLS
	// handshake), so idle connections cannot pile up. Default 10s.
	HandshakeTimeout time.Duration
}

// ErrClosed is returned by Accept on a closed mux.
var ErrClosed = errors.New("rpcmux: closed")

// Mux dispatches the connections of one listener by protocol byte.
type Mux struct {
	ln     net.Listener
	cfg    Config
	logger *slog.Logger

	mu     sync.Mutex
	protos map[Proto]*protoListener
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// New wraps ln. Call Listener for each protocol served, then Serve.
func New(ln net.Listener, cfg Config) *Mux {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	return &Mux{ln: ln, cfg: cfg, logger: cfg.Logger.With("component", "rpcmux"),
		protos: map[Proto]*protoListener{}, done: make(chan struct{})}
}

// Addr is the address the mux listens on.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Listener returns the listener that accepts p's connections. Connections
// for protocols nobody listens for are closed.
func (m *Mux) Listener(p Proto) net.Listener {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.protos[p]; ok {
		return l
	}
	l := &protoListener{mux: m, proto: p, conns: make(chan net.Conn, 64), done: make(chan struct{})}
	m.protos[p] = l
	return l
}

// Serve accepts connections until Close. Each connection's protocol byte is
// read on its own goroutine, so a slow peer never holds up others.
func (m *Mux) Serve() error {
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("rpcmux: accept: %w", err)
		}
		backoff = 0
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.dispatch(c)
		}()
	}
}

// dispatch reads the protocol byte(s) of c and hands it to its listener.
func (m *Mux) dispatch(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	p, err := readProto(c)
	if err != nil {
		m.logger.Debug("reading protocol byte", "remote", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	if p == ProtoTLS {
		if m.cfg.TLS == nil {
			m.logger.Warn("refusing TLS connection: TLS is not configured", "remote", c.RemoteAddr().String())
			c.Close()
			return
		}
		tc, err := m.cfg.TLS(c)
		if err != nil {
			m.logger.Warn("TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
			c.Close()
			return
		}
		c = tc
		if p, err = readProto(c); err != nil || p == ProtoTLS {
			m.logger.Debug("reading protocol byte inside TLS", "remote", c.RemoteAddr().String(), "error", err)
			c.Close()
			return
		}
	} else if m.cfg.RequireTLS {
		m.logger.Warn("refusing plaintext connection: TLS is required", "remote", c.RemoteAddr().String(), "protocol", p.String())
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	m.mu.Lock()
	l := m.protos[p]
	m.mu.Unlock()
	if l == nil {
		m.logger.Warn("refusing connection for an unknown protocol", "remote", c.RemoteAddr().String(), "protocol", p.String())
		c.Close()
		return
	}
	l.deliver(c)
}

func readProto(c net.Conn) (Proto, error) {
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, err
	}
	return Proto(b[0]), nil
}

// Close stops accepting and closes every protocol listener. Connections
// already handed out belong to their protocol's server.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	ls := make([]*protoListener, 0, len(m.protos))
	for _, l := range m.protos {
		ls = append(ls, l)
	}
	m.mu.Unlock()
	err := m.ln.Close()
	for _, l := range ls {
		l.Close()
	}
	m.wg.Wait()
	return err
}

// protoListener is the net.Listener of one protocol.
type protoListener struct {
	mux   *Mux
	proto Proto
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *protoListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	case <-time.After(l.mux.cfg.HandshakeTimeout):
		// Nobody is accepting: shed the connection rather than pile up.
		l.mux.logger.Warn("dropping connection: its protocol's server is not accepting", "protocol", l.proto.String())
		c.Close()
	}
}

func (l *protoListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, ErrClosed
	}
}

func (l *protoListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *protoListener) Addr() net.Addr { return l.mux.Addr() }

// Dialer opens connections to other agents' RPC ports.
type Dialer struct {
	// Timeout bounds the TCP connect and TLS handshake. Default 5s.
	Timeout time.Duration
	// TLS, when set, wraps each connection after the ProtoTLS byte was
	// sent; addr is the target, for server-name verification.
	TLS func(ctx context.Context, c net.Conn, addr string) (net.Conn, error)
}

// Dial connects to addr and announces protocol p.
func (d *Dialer) Dial(ctx context.Context, addr string, p Proto) (net.Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nd := net.Dialer{KeepAlive: 30 * time.Second}
	c, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if d.TLS != nil {
		if _, err := c.Write([]byte{byte(ProtoTLS)}); err != nil {
			c.Close()
			return nil, fmt.Errorf("announcing TLS to %s: %w", addr, err)
		}
		tc, err := d.TLS(ctx, c, addr)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		c = tc
	}
	if _, err := c.Write([]byte{byte(p)}); err != nil {
		c.Close()
		return nil, fmt.Errorf("announcing %s to %s: %w", p, addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// PeerTLS returns the TLS state of a connection the mux accepted, false
// when it is not a TLS connection.
func PeerTLS(c net.Conn) (tls.ConnectionState, bool) {
	if tc, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}
