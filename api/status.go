package api

import "context"

// Status is the cluster status endpoints.
type Status struct{ c *Client }

// Status returns the status endpoints.
func (c *Client) Status() *Status { return &Status{c: c} }

// Leader returns the leader's Raft address, "" when there is none.
func (s *Status) Leader(ctx context.Context) (string, error) {
	var out string
	_, err := s.c.Query(ctx, "/v1/status/leader", nil, &out)
	return out, err
}

// Peers returns the Raft peers' addresses.
func (s *Status) Peers(ctx context.Context) ([]string, error) {
	var out []string
	_, err := s.c.Query(ctx, "/v1/status/peers", nil, &out)
	return out, err
}
