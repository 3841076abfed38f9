package api

import (
	"context"

	"github.com/orch-project/orch/structs"
)

// Agent is the agent endpoints.
type Agent struct{ c *Client }

// Agent returns the agent endpoints.
func (c *Client) Agent() *Agent { return &Agent{c: c} }

// AgentSelf describes the agent answering.
type AgentSelf struct {
	Config map[string]any               `json:"config"`
	Member *structs.AgentMember         `json:"member"`
	Stats  map[string]map[string]string `json:"stats"`
}

// HealthStatus is one role's health.
type HealthStatus struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// AgentHealth is the health of the agent's server and client roles; a role
// the agent does not play is nil.
type AgentHealth struct {
	Server *HealthStatus `json:"server,omitempty"`
	Client *HealthStatus `json:"client,omitempty"`
}

// Self describes the agent.
func (a *Agent) Self(ctx context.Context) (*AgentSelf, error) {
	var out AgentSelf
	if _, err := a.c.Query(ctx, "/v1/agent/self", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Members lists the gossip members the servers know.
func (a *Agent) Members(ctx context.Context) (*structs.ServerMembers, error) {
	var out structs.ServerMembers
	if _, err := a.c.Query(ctx, "/v1/agent/members", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Health reports the agent's health. An unhealthy agent answers 500: the
// *StatusError's Body then holds the per-role messages.
func (a *Agent) Health(ctx context.Context) (*AgentHealth, error) {
	var out AgentHealth
	if _, err := a.c.Query(ctx, "/v1/agent/health", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
