package httpapi

import (
	"net/http"

	"github.com/orch-project/orch/acl"
)

// A job action (Nomad's GET /v1/job/<id>/action) is an exec whose command
// is not the caller's but the one the job declares in the task's
// `action "name"` block: the same websocket and frames as alloc exec, the
// same capabilities (alloc-exec, and alloc-node-exec for a task without
// isolation: alloc-exec already lets its holder run any command, so an
// action grants nothing more; the read-job and list-jobs Nomad's docs
// list are for the CLI's own lookups of the job and its allocations).
// The caller names the
// allocation (allocID), group, task and action; the node running the
// allocation looks the action up in its own copy of the allocation's job,
// so the command run is the one the job was placed with.

func (s *Server) jobAction(w http.ResponseWriter, r *http.Request) {
	// An action is a write: a page of another origin may not run one.
	if err := s.cfg.Guard.checkOrigin(r); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	allocID := q.Get("allocID")
	if allocID == "" {
		writeError(w, codedErr(http.StatusBadRequest, "allocID is not present"))
		return
	}
	s.routeToAlloc(w, r, allocID, q.Get("task"), acl.NamespaceCapabilityAllocExec, func(string) { s.serveAction(w, r, allocID) })
}

// serveAction resolves the action on this node and runs it.
func (s *Server) serveAction(w http.ResponseWriter, r *http.Request, allocID string) {
	p, err := s.actionParams(r, allocID)
	if err != nil {
		writeError(w, err)
		return
	}
	s.runExec(w, r, p)
}

// actionParams turns an action request into the exec it stands for.
func (s *Server) actionParams(r *http.Request, allocID string) (*execParams, error) {
	q := r.URL.Query()
	name, task, group := q.Get("action"), q.Get("task"), q.Get("group")
	if name == "" {
		return nil, codedErr(http.StatusBadRequest, "action is not present")
	}
	if task == "" {
		return nil, codedErr(http.StatusBadRequest, "task is not present")
	}
	if err := validTaskName(task); err != nil {
		return nil, err
	}
	a, ok := s.client.Allocation(allocID)
	if !ok || a == nil || a.Job == nil {
		return nil, codedErr(http.StatusNotFound, "Unknown allocation %q", allocID)
	}
	if a.JobID != r.PathValue("id") {
		return nil, codedErr(http.StatusBadRequest, "allocation %q does not belong to job %q", allocID, r.PathValue("id"))
	}
	if group != "" && group != a.TaskGroup {
		return nil, codedErr(http.StatusBadRequest, "allocation %q is not of group %q", allocID, group)
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if tg == nil || tg.LookupTask(task) == nil {
		return nil, codedErr(http.StatusNotFound, "Unknown task name %q in allocation %q", task, allocID)
	}
	act := tg.LookupTask(task).LookupAction(name)
	if act == nil {
		return nil, codedErr(http.StatusNotFound, "action %q not found in task %q", name, task)
	}
	tty, err := queryBool(r, "tty", false)
	if err != nil {
		return nil, err
	}
	return &execParams{allocID: allocID, task: task, command: act.CommandLine(), tty: tty}, nil
}
