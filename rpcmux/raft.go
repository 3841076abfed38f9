package rpcmux

import (
	"context"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// RaftLayer is raft's StreamLayer over the mux: it accepts the connections
// that announced ProtoRaft and dials peers announcing it.
type RaftLayer struct {
	net.Listener
	advertise net.Addr
	dialer    *Dialer
}

var _ raft.StreamLayer = (*RaftLayer)(nil)

// NewRaftLayer returns the stream layer for m. advertise is the address
// peers reach this server at (the RPC address).
func NewRaftLayer(m *Mux, advertise net.Addr, d *Dialer) *RaftLayer {
	return &RaftLayer{Listener: m.Listener(ProtoRaft), advertise: advertise, dialer: d}
}

// Addr is the advertised address, which raft stores in its configuration.
func (l *RaftLayer) Addr() net.Addr { return l.advertise }

// Dial connects to a peer's RPC port for raft.
func (l *RaftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.dialer.Dial(ctx, string(address), ProtoRaft)
}
