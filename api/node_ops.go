package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/structs"
)

// UpdateDrain starts, changes (spec non-nil) or ends (nil) a node's drain;
// markEligible makes the node eligible again when the drain ends.
func (n *Nodes) UpdateDrain(ctx context.Context, id string, spec *structs.DrainSpec, markEligible bool, meta map[string]string) (*structs.NodeDrainUpdateResponse, error) {
	var out structs.NodeDrainUpdateResponse
	req := &structs.NodeUpdateDrainRequest{NodeID: id, DrainSpec: spec, MarkEligible: markEligible, Meta: meta}
	if err := n.c.Write(ctx, http.MethodPut, "/v1/node/"+url.PathEscape(id)+"/drain", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ToggleEligibility makes a node eligible or ineligible for new work.
func (n *Nodes) ToggleEligibility(ctx context.Context, id string, eligible bool) (*structs.NodeDrainUpdateResponse, error) {
	e := structs.NodeSchedulingIneligible
	if eligible {
		e = structs.NodeSchedulingEligible
	}
	var out structs.NodeDrainUpdateResponse
	req := &structs.NodeUpdateEligibilityRequest{NodeID: id, Eligibility: e}
	if err := n.c.Write(ctx, http.MethodPut, "/v1/node/"+url.PathEscape(id)+"/eligibility", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Purge removes a node from the servers' state.
func (n *Nodes) Purge(ctx context.Context, id string) (*structs.NodePurgeResponse, error) {
	var out structs.NodePurgeResponse
	if err := n.c.Write(ctx, http.MethodPut, "/v1/node/"+url.PathEscape(id)+"/purge", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ForceEvaluate evaluates every job with work on the node and every system job.
func (n *Nodes) ForceEvaluate(ctx context.Context, id string) (*structs.NodeEvaluateResponse, error) {
	var out structs.NodeEvaluateResponse
	if err := n.c.Write(ctx, http.MethodPut, "/v1/node/"+url.PathEscape(id)+"/evaluate", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Stop stops an allocation; the scheduler replaces it.
func (a *Allocations) Stop(ctx context.Context, id string, noShutdownDelay bool, q *QueryOptions) (*structs.AllocStopResponse, error) {
	if noShutdownDelay {
		q = withParam(q, "no_shutdown_delay", "true")
	}
	var out structs.AllocStopResponse
	if err := a.c.Write(ctx, http.MethodPost, "/v1/allocation/"+url.PathEscape(id)+"/stop", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Restart restarts one task of an allocation (task non-empty), its running
// tasks, or with allTasks every task including finished ones.
func (a *Allocations) Restart(ctx context.Context, id, task string, allTasks bool, q *QueryOptions) error {
	req := &structs.AllocRestartRequest{TaskName: task, AllTasks: allTasks}
	return a.c.Write(ctx, http.MethodPut, "/v1/client/allocation/"+url.PathEscape(id)+"/restart", q, req, nil)
}

// Signal sends a signal to one task of an allocation, or to all of them.
func (a *Allocations) Signal(ctx context.Context, id, task, signal string, q *QueryOptions) error {
	req := &structs.AllocSignalRequest{Task: task, Signal: signal}
	return a.c.Write(ctx, http.MethodPut, "/v1/client/allocation/"+url.PathEscape(id)+"/signal", q, req, nil)
}
