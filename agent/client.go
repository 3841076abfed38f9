package agent

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/orch-project/orch/client"
)

// newClient builds the node agent from the agent configuration.
// peerTLS (nil without TLS) reaches other agents' HTTPS APIs.
func (a *Agent) newClient(peerTLS *tls.Config) (*client.Client, error) {
	c := a.cfg
	opts := map[string]string{}
	for k, v := range c.Options {
		opts[k] = v
	}
	if c.RawExecEnabled() {
		opts["driver.raw_exec.enable"] = "1"
	}
	var servers []string
	for _, s := range c.Servers {
		if strings.Contains(s, "://") {
			return nil, fmt.Errorf("client servers are RPC addresses (host or host:port, port %d by default), not URLs: %q", DefaultRPCPort, s)
		}
		servers = append(servers, s)
	}
	if a.server != nil {
		servers = append([]string{a.server.RaftAddr()}, servers...)
	}
	dialer, err := a.rpcDialer()
	if err != nil {
		return nil, err
	}
	var localLeader func() (bool, <-chan struct{})
	if a.server != nil {
		localLeader = a.server.LeaderReady
	}
	cl, err := client.New(client.Config{
		DataDir: c.DataDir, NodeName: c.NodeName, Datacenter: c.Datacenter, Region: c.Region,
		NodeClass: c.NodeClass, NodePool: c.NodePool, Meta: c.Meta, Servers: servers,
		HTTPAddr: a.httpAddr, Options: opts, Logger: a.logger, Dialer: dialer,
		HostVolumes: c.HostVolumes, HostNetworks: c.HostNetworks, Artifacts: c.Artifacts, Network: c.Network, PeerTLS: peerTLS,
		LocalLeader: localLeader,
	})
	if err != nil {
		return nil, fmt.Errorf("starting client: %w", err)
	}
	return cl, nil
}
