package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/structs"
)

// setupTLS checks the tls block and returns the configuration of this
// agent's HTTPS calls to other agents (nil without tls { http }).
func (a *Agent) setupTLS() (*tls.Config, error) {
	c := a.cfg
	c.TLS.Region = c.Region
	if err := c.TLS.Check(); err != nil {
		return nil, err
	}
	if c.TLS.RPC {
		// Refused rather than accepted and ignored until the RPC port
		// (Raft and the control channel) terminates TLS.
		return nil, errors.New("tls: rpc = true is not supported yet; use http = true")
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
