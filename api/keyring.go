package api

import (
	"context"
	"net/http"
)

// KeyringResponse is the answer of the gossip keyring endpoints.
type KeyringResponse struct {
	Messages map[string]string `json:"Messages"`
	Keys     map[string]int    `json:"Keys"`
	NumNodes int               `json:"NumNodes"`
}

// GossipKeys lists the gossip keys installed across the pool.
func (a *Agent) GossipKeys(ctx context.Context) (*KeyringResponse, error) {
	var out KeyringResponse
	_, err := a.c.Query(ctx, "/v1/agent/keyring/list", nil, &out)
	return &out, err
}

// ChangeGossipKey runs op ("install", "use", "remove") with key on every agent.
func (a *Agent) ChangeGossipKey(ctx context.Context, op, key string) (*KeyringResponse, error) {
	var out KeyringResponse
	err := a.c.Write(ctx, http.MethodPut, "/v1/agent/keyring/"+op, nil, map[string]string{"Key": key}, &out)
	return &out, err
}
