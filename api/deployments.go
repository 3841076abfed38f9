package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/orch-project/orch/structs"
)

// Deployments is the deployment endpoints.
type Deployments struct{ c *Client }

// Deployments returns the deployment endpoints.
func (c *Client) Deployments() *Deployments { return &Deployments{c: c} }

func deploymentPath(verb, id string) string {
	if verb == "" {
		return "/v1/deployment/" + url.PathEscape(id)
	}
	return "/v1/deployment/" + verb + "/" + url.PathEscape(id)
}

// List returns the deployments whose ID starts with prefix.
func (d *Deployments) List(ctx context.Context, prefix string, q *QueryOptions) ([]*structs.Deployment, *QueryMeta, error) {
	var out []*structs.Deployment
	qm, err := d.c.Query(ctx, "/v1/deployments", withPrefix(q, prefix), &out)
	return out, qm, err
}

// Info returns a deployment.
func (d *Deployments) Info(ctx context.Context, id string, q *QueryOptions) (*structs.Deployment, *QueryMeta, error) {
	var out structs.Deployment
	qm, err := d.c.Query(ctx, deploymentPath("", id), q, &out)
	if err != nil {
		return nil, nil, err
	}
	return &out, qm, nil
}

// Allocations lists the allocations placed or updated by a deployment.
func (d *Deployments) Allocations(ctx context.Context, id string, q *QueryOptions) ([]*structs.AllocListStub, *QueryMeta, error) {
	var out []*structs.AllocListStub
	qm, err := d.c.Query(ctx, deploymentPath("allocations", id), q, &out)
	return out, qm, err
}

func (d *Deployments) write(ctx context.Context, verb, id string, q *QueryOptions, body any) (*structs.DeploymentUpdateResponse, error) {
	var out structs.DeploymentUpdateResponse
	if err := d.c.Write(ctx, http.MethodPut, deploymentPath(verb, id), q, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Promote promotes the canaries of the named groups, or of all groups.
func (d *Deployments) Promote(ctx context.Context, id string, groups []string, q *QueryOptions) (*structs.DeploymentUpdateResponse, error) {
	return d.write(ctx, "promote", id, q, &structs.DeploymentPromoteRequest{DeploymentID: id, All: len(groups) == 0, Groups: groups})
}

// Pause pauses (pause true) or resumes a deployment.
func (d *Deployments) Pause(ctx context.Context, id string, pause bool, q *QueryOptions) (*structs.DeploymentUpdateResponse, error) {
	return d.write(ctx, "pause", id, q, &structs.DeploymentPauseRequest{DeploymentID: id, Pause: pause})
}

// Fail fails a deployment (reverting the job when it asks for auto_revert).
func (d *Deployments) Fail(ctx context.Context, id string, q *QueryOptions) (*structs.DeploymentUpdateResponse, error) {
	return d.write(ctx, "fail", id, q, &structs.DeploymentFailRequest{DeploymentID: id})
}

// SetAllocHealth sets the health of allocations of a deployment.
func (d *Deployments) SetAllocHealth(ctx context.Context, id string, healthy, unhealthy []string, q *QueryOptions) (*structs.DeploymentUpdateResponse, error) {
	return d.write(ctx, "allocation-health", id, q, &structs.DeploymentAllocHealthRequest{
		DeploymentID: id, HealthyAllocationIDs: healthy, UnhealthyAllocationIDs: unhealthy,
	})
}
