package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/jobdiff"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// RolloutBackend is what a server offers for deployments, plans, job
// history and forced evaluations. The server implements it; a backend
// without it answers these writes with 501.
type RolloutBackend interface {
	PlanJob(ctx context.Context, req *structs.JobPlanRequest) (*structs.JobPlanResponse, error)
	RevertJob(ctx context.Context, ns string, req *structs.JobRevertRequest) (*structs.JobRegisterResponse, error)
	SetJobStability(ctx context.Context, ns string, req *structs.JobStabilityRequest) (*structs.JobStabilityResponse, error)
	EvaluateJob(ctx context.Context, ns, id string, opts structs.EvalOptions) (*structs.JobRegisterResponse, error)
	PromoteDeployment(ctx context.Context, req *structs.DeploymentPromoteRequest) (*structs.DeploymentUpdateResponse, error)
	PauseDeployment(ctx context.Context, req *structs.DeploymentPauseRequest) (*structs.DeploymentUpdateResponse, error)
	FailDeployment(ctx context.Context, req *structs.DeploymentFailRequest) (*structs.DeploymentUpdateResponse, error)
	SetAllocHealth(ctx context.Context, req *structs.DeploymentAllocHealthRequest) (*structs.DeploymentUpdateResponse, error)
}

// rolloutRoutes are deployments, plans, job history and forced
// evaluations. Deployment routes check the deployment's own namespace.
func (s *Server) rolloutRoutes(rt *router) {
	read, submit := acl.NamespaceCapabilityReadJob, acl.NamespaceCapabilitySubmitJob
	rt.handle("GET /v1/deployments", nsQuery(read), s.read(s.deploymentList))
	rt.handle("GET /v1/deployment/{id}", nsObject(read), s.read(s.deploymentInfo))
	rt.handle("GET /v1/deployment/allocations/{id}", nsObject(read), s.read(s.deploymentAllocations))
	rt.handle("GET /v1/job/{id}/submission", nsQuery(read), s.read(s.jobSubmission))
	for _, method := range []string{"PUT", "POST"} {
		rt.handle(method+" /v1/deployment/promote/{id}", nsObject(submit), s.write(s.deploymentPromote))
		rt.handle(method+" /v1/deployment/pause/{id}", nsObject(submit), s.write(s.deploymentPause))
		rt.handle(method+" /v1/deployment/fail/{id}", nsObject(submit), s.write(s.deploymentFail))
		rt.handle(method+" /v1/deployment/allocation-health/{id}", nsObject(submit), s.write(s.deploymentAllocHealth))
		// A planned job's namespace comes from its body.
		rt.handle(method+" /v1/job/{id}/plan", nsObject(submit), s.write(s.jobPlan))
		rt.handle(method+" /v1/job/{id}/revert", nsQuery(submit), s.write(s.jobRevert))
		rt.handle(method+" /v1/job/{id}/stable", nsQuery(submit), s.write(s.jobStable))
		rt.handle(method+" /v1/job/{id}/evaluate", nsQuery(submit), s.write(s.jobEvaluate))
	}
}

func (s *Server) rollouts() (RolloutBackend, error) {
	rb, ok := s.srv.(RolloutBackend)
	if !ok {
		return nil, codedErr(http.StatusNotImplemented, "not supported by this agent")
	}
	return rb, nil
}

func (s *Server) deploymentList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	deps, err := st.DeploymentsByIDPrefix(ws, ns, r.URL.Query().Get("prefix"))
	if err != nil {
		return 0, nil, err
	}
	allowed := listFilter(r, acl.NamespaceCapabilityReadJob)
	out := make([]*structs.Deployment, 0, len(deps))
	for _, d := range deps {
		if allowed(d.Namespace) {
			out = append(out, d)
		}
	}
	idx, err := maxIndex(st, state.TableDeployments)
	return idx, out, err
}

// lookupDeployment returns the deployment named by the path, or a 404,
// once the caller holds cap in its namespace.
func lookupDeployment(r *http.Request, ws memdb.WatchSet, st *state.Snapshot, cap string) (*structs.Deployment, error) {
	d, err := st.DeploymentByID(ws, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if d == nil {
		// Whether an ID exists is only for those who could read it.
		if err := authzOf(r).AllowNamespace(namespaceOf(r), cap); err != nil {
			return nil, err
		}
		return nil, codedErr(http.StatusNotFound, "deployment not found")
	}
	if err := authzOf(r).AllowNamespace(d.Namespace, cap); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) deploymentInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	d, err := lookupDeployment(r, ws, st, acl.NamespaceCapabilityReadJob)
	if err != nil {
		return 0, nil, err
	}
	idx, err := maxIndex(st, state.TableDeployments)
	return idx, d, err
}

func (s *Server) deploymentAllocations(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	d, err := lookupDeployment(r, ws, st, acl.NamespaceCapabilityReadJob)
	if err != nil {
		return 0, nil, err
	}
	allocs, err := st.AllocsByDeployment(ws, d)
	if err != nil {
		return 0, nil, err
	}
	out := make([]*structs.AllocListStub, 0, len(allocs))
	for _, a := range allocs {
		out = append(out, a.Stub())
	}
	idx, err := maxIndex(st, state.TableDeployments, state.TableAllocs)
	return idx, out, err
}

// jobDeployments lists a job's deployments, newest first; without
// all=true only those of the job as currently created (not of an earlier
// job purged and registered again under the same ID).
func (s *Server) jobDeployments(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	all, err := queryBool(r, "all", false)
	if err != nil {
		return 0, nil, err
	}
	job, err := lookupJob(r, ws, st)
	if err != nil {
		return 0, nil, err
	}
	deps, err := st.DeploymentsByJob(ws, job.Namespace, job.ID)
	if err != nil {
		return 0, nil, err
	}
	out := make([]*structs.Deployment, 0, len(deps))
	for _, d := range deps {
		if all || d.JobCreateIndex == job.CreateIndex {
			out = append(out, d)
		}
	}
	idx, err := maxIndex(st, state.TableDeployments, state.TableJobs)
	return idx, out, err
}

// jobDeployment answers the job's latest deployment, null when it has none.
func (s *Server) jobDeployment(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	job, err := lookupJob(r, ws, st)
	if err != nil {
		return 0, nil, err
	}
	d, err := st.LatestDeploymentByJobID(ws, job.Namespace, job.ID)
	if err != nil {
		return 0, nil, err
	}
	idx, err := maxIndex(st, state.TableDeployments, state.TableJobs)
	if d == nil || d.JobCreateIndex != job.CreateIndex {
		return idx, nil, err
	}
	return idx, d, err
}

// jobVersions lists a job's retained versions, newest first; with
// diffs=true, Diffs[i] is the change from Versions[i+1] to Versions[i].
func (s *Server) jobVersions(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	diffs, err := queryBool(r, "diffs", false)
	if err != nil {
		return 0, nil, err
	}
	versions, err := st.JobVersionsByID(ws, namespaceOf(r), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if len(versions) == 0 {
		return 0, nil, codedErr(http.StatusNotFound, "job versions not found")
	}
	idx, err := maxIndex(st, state.TableJobVersion, state.TableJobs)
	resp := &structs.JobVersionsResponse{Versions: versions, Index: idx}
	if diffs {
		resp.Diffs = make([]*structs.JobDiff, 0, len(versions)-1)
		for i := 0; i+1 < len(versions); i++ {
			resp.Diffs = append(resp.Diffs, jobdiff.Jobs(versions[i+1], versions[i], false))
		}
	}
	return idx, resp, err
}

// jobSubmission answers the source a version of the job was submitted
// with (the current version without ?version=).
func (s *Server) jobSubmission(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	ns, id := namespaceOf(r), r.PathValue("id")
	var version uint64
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, nil, codedErr(http.StatusBadRequest, "Invalid value for \"version\": %q", v)
		}
		version = n
	} else {
		job, err := lookupJob(r, ws, st)
		if err != nil {
			return 0, nil, err
		}
		version = job.Version
	}
	sub, err := st.JobSubmission(ws, ns, id, version)
	if err != nil {
		return 0, nil, err
	}
	if sub == nil {
		return 0, nil, codedErr(http.StatusNotFound, "job source not found")
	}
	idx, err := maxIndex(st, state.TableJobSubmissions, state.TableJobs)
	return idx, sub, err
}

// decodeOptional reads an optional JSON body: an empty one leaves v as is.
func decodeOptional(r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return codedErr(http.StatusBadRequest, "Failed to read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return codedErr(http.StatusBadRequest, "Failed to parse request body: %v", err)
	}
	return nil
}

// checkPathID refuses a body naming another object than the path.
func checkPathID(r *http.Request, bodyID *string, what string) error {
	id := r.PathValue("id")
	if *bodyID == "" {
		*bodyID = id
	}
	if *bodyID != id {
		return codedErr(http.StatusBadRequest, "%s ID does not match", what)
	}
	return nil
}

// deploymentWrite is the shape of every deployment write: decode the body
// (optional for fail), match its deployment ID to the path, check the
// caller holds submit-job in the deployment's namespace, then call.
func deploymentWrite[T any](s *Server, r *http.Request, req *T, id *string, optional bool,
	call func(RolloutBackend) (*structs.DeploymentUpdateResponse, error)) (any, uint64, error) {
	decode := decodeBody
	if optional {
		decode = decodeOptional
	}
	if err := decode(r, req); err != nil {
		return nil, 0, err
	}
	if err := checkPathID(r, id, "Deployment"); err != nil {
		return nil, 0, err
	}
	if _, err := lookupDeployment(r, nil, s.srv.State().Snapshot(), acl.NamespaceCapabilitySubmitJob); err != nil {
		return nil, 0, err
	}
	rb, err := s.rollouts()
	if err != nil {
		return nil, 0, err
	}
	resp, err := call(rb)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) deploymentPromote(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.DeploymentPromoteRequest
	return deploymentWrite(s, r, &req, &req.DeploymentID, false, func(rb RolloutBackend) (*structs.DeploymentUpdateResponse, error) {
		return rb.PromoteDeployment(r.Context(), &req)
	})
}

func (s *Server) deploymentPause(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.DeploymentPauseRequest
	return deploymentWrite(s, r, &req, &req.DeploymentID, false, func(rb RolloutBackend) (*structs.DeploymentUpdateResponse, error) {
		return rb.PauseDeployment(r.Context(), &req)
	})
}

func (s *Server) deploymentFail(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.DeploymentFailRequest
	return deploymentWrite(s, r, &req, &req.DeploymentID, true, func(rb RolloutBackend) (*structs.DeploymentUpdateResponse, error) {
		return rb.FailDeployment(r.Context(), &req)
	})
}

func (s *Server) deploymentAllocHealth(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.DeploymentAllocHealthRequest
	return deploymentWrite(s, r, &req, &req.DeploymentID, false, func(rb RolloutBackend) (*structs.DeploymentUpdateResponse, error) {
		return rb.SetAllocHealth(r.Context(), &req)
	})
}

func (s *Server) jobPlan(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.JobPlanRequest
	body, err := decodeBodyRaw(r, &req)
	if err != nil {
		return nil, 0, err
	}
	if req.Job == nil {
		return nil, 0, codedErr(http.StatusBadRequest, "Job must be specified")
	}
	warnings, err := intakeJob(r, req.Job, nil, req.Namespace, req.Region, body, "Job ID does not match")
	if err != nil {
		return nil, 0, err
	}
	rb, err := s.rollouts()
	if err != nil {
		return nil, 0, err
	}
	resp, err := rb.PlanJob(r.Context(), &req)
	if err != nil {
		return nil, 0, err
	}
	resp.Warnings = joinWarnings(resp.Warnings, warnings)
	return resp, resp.Index, nil
}

func (s *Server) jobRevert(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.JobRevertRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, 0, err
	}
	if err := checkPathID(r, &req.JobID, "Job"); err != nil {
		return nil, 0, err
	}
	rb, err := s.rollouts()
	if err != nil {
		return nil, 0, err
	}
	resp, err := rb.RevertJob(r.Context(), writeNamespace(r, req.Namespace), &req)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) jobStable(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.JobStabilityRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, 0, err
	}
	if err := checkPathID(r, &req.JobID, "Job"); err != nil {
		return nil, 0, err
	}
	rb, err := s.rollouts()
	if err != nil {
		return nil, 0, err
	}
	resp, err := rb.SetJobStability(r.Context(), namespaceOf(r), &req)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) jobEvaluate(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.JobEvaluateRequest
	if err := decodeOptional(r, &req); err != nil {
		return nil, 0, err
	}
	if err := checkPathID(r, &req.JobID, "Job"); err != nil {
		return nil, 0, err
	}
	rb, err := s.rollouts()
	if err != nil {
		return nil, 0, err
	}
	resp, err := rb.EvaluateJob(r.Context(), namespaceOf(r), req.JobID, req.EvalOptions)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

// writeNamespace is a write's namespace: the body's, else the query's.
func writeNamespace(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	return namespaceOf(r)
}
