package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/rpcmux"
	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/structs"
)

// rpcTLS fills in the RPC port's TLS (tls { rpc }): mutual TLS for Raft
// and the control channel, plaintext refused, and server identity proven
// before a gossip member joins Raft.
func (a *Agent) rpcTLS(sc *server.Config) error {
	t := &a.cfg.TLS
	if !t.RPC {
		return nil
	}
	accept, err := t.RPCAccept()
	if err != nil {
		return err
	}
	dial, err := t.RPCDial()
	if err != nil {
		return err
	}
	sc.RPCTLS, sc.RPCRequireTLS, sc.RPCDialTLS = accept, true, dial
	sc.RPCPeerCheck = t.RPCPeerCheck()
	sc.VerifyServer = func(ctx context.Context, addr string) error {
		return t.VerifyServer(ctx, addr, []byte{byte(rpcmux.ProtoTLS)})
	}
	return nil
}

// rpcDialer is how this agent's client reaches the servers' RPC ports.
func (a *Agent) rpcDialer() (*rpcmux.Dialer, error) {
	if !a.cfg.TLS.RPC {
		return nil, nil
	}
	dial, err := a.cfg.TLS.RPCDial()
	if err != nil {
		return nil, err
	}
	return &rpcmux.Dialer{TLS: dial}, nil
}

// setupTLS checks the tls block and returns the configuration of this
// agent's HTTPS calls to other agents (nil without tls { http }).
func (a *Agent) setupTLS() (*tls.Config, error) {
	c := a.cfg
	c.TLS.Region = c.Region
	if err := c.TLS.Check(); err != nil {
		return nil, err
	}
	if !c.TLS.HTTP {
		return nil, nil
	}
	peer, err := c.TLS.HTTPClient()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return peer, nil
}

// keyringFile is where the gossip keyring persists: Nomad's
// <data_dir>/server/serf.keyring, or the client dir on client-only agents.
func (a *Agent) keyringFile() string {
	role := "client"
	if a.cfg.Server {
		role = "server"
	}
	return filepath.Join(a.cfg.DataDir, role, "serf.keyring")
}

// peerHTTPAddrs lists the HTTP addresses of the other live agents, for a
// gossip keyring change to reach them all.
func (a *Agent) peerHTTPAddrs() []string {
	var out []string
	for _, m := range a.pool.Members() {
		if m.Status != gossip.StatusAlive || m.Name == a.cfg.NodeName {
			continue
		}
		if h := m.Tags[structs.TagHTTPAddr]; h != "" && h != a.httpAddr {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}
