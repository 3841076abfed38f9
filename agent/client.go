package agent

import (
	"fmt"

	"github.com/orch-project/orch/client"
)

// newClient builds the node agent from the agent configuration.
func (a *Agent) newClient() (*client.Client, error) {
	c := a.cfg
	opts := map[string]string{}
	for k, v := range c.Options {
		opts[k] = v
	}
	if c.RawExecEnabled() {
		opts["driver.raw_exec.enable"] = "1"
	}
	servers := a.serverHTTPAddrs()
	cl, err := client.New(client.Config{
		DataDir: c.DataDir, NodeName: c.NodeName, Datacenter: c.Datacenter, Region: c.Region,
		NodeClass: c.NodeClass, NodePool: c.NodePool, Meta: c.Meta, Servers: servers,
		HTTPAddr: a.httpAddr, Options: opts, Logger: a.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("starting client: %w", err)
	}
	return cl, nil
}
