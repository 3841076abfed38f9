package httpapi

import (
	"net/http"
	"strings"

	"github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/jobspec"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

func (s *Server) jobRegister(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.JobRegisterRequest
	body, err := decodeBodyRaw(r, &req)
	if err != nil {
		return nil, 0, err
	}
	if req.Job == nil {
		return nil, 0, codedErr(http.StatusBadRequest, "Job must be specified")
	}
	warnings, err := intakeJob(r, req.Job, req.Submission, req.Namespace, req.Region, body, "Job ID does not match name")
	if err != nil {
		return nil, 0, err
	}
	resp, err := s.srv.RegisterJob(r.Context(), &req)
	if err != nil {
		return nil, 0, err
	}
	resp.Warnings = joinWarnings(resp.Warnings, warnings)
	return resp, resp.Index, nil
}

func (s *Server) jobDeregister(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var opts structs.JobDeregisterOptions
	var err error
	if opts.Purge, err = queryBool(r, "purge", false); err != nil {
		return nil, 0, err
	}
	if opts.NoShutdownDelay, err = queryBool(r, "no_shutdown_delay", false); err != nil {
		return nil, 0, err
	}
	prio, err := queryInt(r, "eval_priority", 0)
	if err != nil {
		return nil, 0, err
	}
	opts.EvalPriority = int(prio)
	// "global" stops every region of a multiregion job; orch has one
	// region, so it changes nothing.
	if _, err := queryBool(r, "global", false); err != nil {
		return nil, 0, err
	}
	resp, err := s.srv.DeregisterJob(r.Context(), namespaceOf(r), r.PathValue("id"), opts)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) jobList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	jobs, err := st.JobsByIDPrefix(ws, ns, r.URL.Query().Get("prefix"))
	if err != nil {
		return 0, nil, err
	}
	allowed := listFilter(r, acl.NamespaceCapabilityListJobs)
	out := make([]*structs.JobListStub, 0, len(jobs))
	for _, j := range jobs {
		if !allowed(j.Namespace) {
			continue
		}
		sum, err := st.JobSummaryByID(ws, j.Namespace, j.ID)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, j.Stub(sum))
	}
	idx, err := maxIndex(st, "jobs", "job_summary")
	return idx, out, err
}

// lookupJob returns the job named by the path, or a 404.
func lookupJob(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (*structs.Job, error) {
	job, err := st.JobByID(ws, namespaceOf(r), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if job == nil {
		return nil, codedErr(http.StatusNotFound, "job not found")
	}
	return job, nil
}

func (s *Server) jobInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	job, err := lookupJob(r, ws, st)
	if err != nil {
		return 0, nil, err
	}
	idx, err := maxIndex(st, "jobs")
	return idx, job, err
}

func (s *Server) jobAllocations(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	all, err := queryBool(r, "all", false)
	if err != nil {
		return 0, nil, err
	}
	ns, id := namespaceOf(r), r.PathValue("id")
	allocs, err := st.AllocsByJob(ws, ns, id)
	if err != nil {
		return 0, nil, err
	}
	// Without all=true, allocations of an earlier job registered under the
	// same ID (purged and re-created) are left out.
	var createIndex uint64
	if !all {
		job, err := st.JobByID(ws, ns, id)
		if err != nil {
			return 0, nil, err
		}
		if job != nil {
			createIndex = job.CreateIndex
		}
	}
	out := make([]*structs.AllocListStub, 0, len(allocs))
	for _, a := range allocs {
		if createIndex != 0 && a.Job != nil && a.Job.CreateIndex != createIndex {
			continue
		}
		out = append(out, a.Stub())
	}
	idx, err := maxIndex(st, "allocs", "jobs")
	return idx, out, err
}

func (s *Server) jobEvaluations(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	evals, err := st.EvalsByJob(ws, namespaceOf(r), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if evals == nil {
		evals = []*structs.Evaluation{}
	}
	idx, err := maxIndex(st, "evals")
	return idx, evals, err
}

func (s *Server) jobSummary(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	sum, err := st.JobSummaryByID(ws, namespaceOf(r), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if sum == nil {
		return 0, nil, codedErr(http.StatusNotFound, "job not found")
	}
	idx, err := maxIndex(st, "job_summary")
	return idx, sum, err
}

// intakeJob readies a job a write carries (register, plan): its ID must be
// the path's, it lands in the request's namespace and region, the caller
// must be allowed to submit there, and it is defaulted and validated.
// sub is the submitted source, if any: it tells a service provider the
// nomad client library defaulted to "consul" from one the user wrote
// (jobspec.UndoClientConsulDefault). It returns warnings for the caller.
func intakeJob(r *http.Request, job *structs.Job, sub *structs.JobSubmission, ns, region string, body []byte, mismatch string) ([]string, error) {
	if id := r.PathValue("id"); id != "" && job.ID != id {
		return nil, codedErr(http.StatusBadRequest, "%s", mismatch)
	}
	if job.Namespace == "" {
		job.Namespace = ns
	}
	if job.Namespace == "" {
		job.Namespace = namespaceOf(r)
	}
	if job.Region == "" {
		job.Region = region
	}
	if err := authzOf(r).AllowNamespace(job.Namespace, acl.NamespaceCapabilitySubmitJob); err != nil {
		return nil, err
	}
	warnings := jobspec.UndoClientConsulDefault(job, sub)
	if err := prepareJob(job, body); err != nil {
		return nil, codedErr(http.StatusBadRequest, "%s", strings.TrimSpace(err.Error()))
	}
	return warnings, nil
}

// joinWarnings adds warnings to a response's newline-separated list.
func joinWarnings(have string, more []string) string {
	all := more
	if have != "" {
		all = append([]string{have}, more...)
	}
	return strings.Join(all, "\n")
}
