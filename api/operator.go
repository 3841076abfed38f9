package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/orch-project/orch/structs"
)

// Operator is the Raft and autopilot API (/v1/operator/raft/*,
// /v1/operator/autopilot/*).
type Operator struct{ c *Client }

// Operator returns the operator endpoints.
func (c *Client) Operator() *Operator { return &Operator{c: c} }

// RaftConfiguration returns the Raft configuration; with stale any server
// answers (for an outage without a leader).
func (o *Operator) RaftConfiguration(ctx context.Context, stale bool) (*structs.RaftConfigurationResponse, error) {
	var out structs.RaftConfigurationResponse
	_, err := o.c.Query(ctx, "/v1/operator/raft/configuration", &QueryOptions{AllowStale: stale}, &out)
	return &out, err
}

// RaftRemovePeer removes a server from the Raft configuration by ID, or by
// address when id is empty.
func (o *Operator) RaftRemovePeer(ctx context.Context, id, address string) error {
	q := url.Values{}
	if id != "" {
		q.Set("id", id)
	} else {
		q.Set("address", address)
	}
	return o.c.Write(ctx, http.MethodDelete, "/v1/operator/raft/peer?"+q.Encode(), nil, nil, nil)
}

// AutopilotConfiguration returns the cluster's autopilot configuration.
func (o *Operator) AutopilotConfiguration(ctx context.Context) (*structs.AutopilotConfig, error) {
	var out structs.AutopilotConfig
	_, err := o.c.Query(ctx, "/v1/operator/autopilot/configuration", nil, &out)
	return &out, err
}

// SetAutopilotConfiguration stores c; with cas only if the stored
// configuration's ModifyIndex is still c.ModifyIndex. It reports whether c
// was stored.
func (o *Operator) SetAutopilotConfiguration(ctx context.Context, c *structs.AutopilotConfig, cas bool) (bool, error) {
	path := "/v1/operator/autopilot/configuration"
	if cas {
		path += "?cas=" + strconv.FormatUint(c.ModifyIndex, 10)
	}
	var ok bool
	err := o.c.Write(ctx, http.MethodPut, path, nil, c, &ok)
	return ok, err
}

// AutopilotHealth returns the leader's view of the servers' health.
func (o *Operator) AutopilotHealth(ctx context.Context) (*structs.OperatorHealthReply, error) {
	var out structs.OperatorHealthReply
	_, err := o.c.Query(ctx, "/v1/operator/autopilot/health", nil, &out)
	return &out, err
}

// StateHash returns the asked server's replica state hash.
func (o *Operator) StateHash(ctx context.Context) (*structs.StateHash, error) {
	var out structs.StateHash
	_, err := o.c.Query(ctx, "/v1/operator/state/hash", nil, &out)
	return &out, err
}
