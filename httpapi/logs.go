package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/internal/safefs"
	"github.com/orch-project/orch/structs"
)

// authorizeLocalAlloc checks cap in the namespace of an allocation whose
// directory this agent holds. The namespace comes from the server's state
// when this agent is a server, else from the client's own record; a
// directory whose allocation is known to neither is served to management
// tokens only.
func (s *Server) authorizeLocalAlloc(r *http.Request, allocID, cap string) error {
	z := authzOf(r)
	if s.srv != nil {
		if a, err := s.srv.State().AllocByID(nil, allocID); err == nil && a != nil {
			return z.AllowNamespace(a.Namespace, cap)
		}
	}
	if a, ok := s.client.Allocation(allocID); ok && a != nil {
		return z.AllowNamespace(a.Namespace, cap)
	}
	return z.Decide(z.ACL().IsManagement())
}

// logRequest is a parsed GET /v1/client/fs/logs/{alloc}.
type logRequest struct {
	allocID string
	task    string
	typ     string
	fromEnd bool
	offset  int64
	follow  bool
	plain   bool
}

func parseLogRequest(r *http.Request) (*logRequest, error) {
	q := r.URL.Query()
	lr := &logRequest{allocID: r.PathValue("alloc"), task: q.Get("task"), typ: q.Get("type")}
	if lr.task == "" {
		return nil, codedErr(http.StatusBadRequest, "must provide task name")
	}
	if lr.typ != "stdout" && lr.typ != "stderr" {
		return nil, codedErr(http.StatusBadRequest, `must provide log type "stdout" or "stderr"`)
	}
	switch q.Get("origin") {
	case "", "start":
	case "end":
		lr.fromEnd = true
	default:
		return nil, codedErr(http.StatusBadRequest, `origin must be "start" or "end"`)
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, codedErr(http.StatusBadRequest, "invalid offset %q", v)
		}
		lr.offset = n
	}
	var err error
	if lr.follow, err = queryBool(r, "follow", false); err != nil {
		return nil, err
	}
	if lr.plain, err = queryBool(r, "plain", false); err != nil {
		return nil, err
	}
	return lr, nil
}

// allocLogs streams a task's logs. The node running the allocation serves
// them from its alloc dir; any other agent finds that node and proxies.
func (s *Server) allocLogs(w http.ResponseWriter, r *http.Request) {
	lr, err := parseLogRequest(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.routeToAlloc(w, r, lr.allocID, lr.task, acl.NamespaceCapabilityReadLogs, func(dir string) { s.serveLocalLogs(w, r, lr, dir) })
}

// routeToAlloc serves a /v1/client/fs request for allocID with local when
// this agent hosts the allocation's directory, and otherwise proxies it to
// the node that does (through a server, from a client-only agent). The
// caller must hold cap in the allocation's namespace; a non-empty task must
// belong to the allocation.
func (s *Server) routeToAlloc(w http.ResponseWriter, r *http.Request, allocID, task, cap string, local func(dir string)) {
	if s.client != nil {
		if dir, ok := s.client.AllocDir(allocID); ok {
			if err := s.authorizeLocalAlloc(r, allocID, cap); err != nil {
				writeError(w, err)
				return
			}
			local(dir)
			return
		}
	}
	if s.srv == nil {
		// A client-only agent without the alloc asks a server to route it,
		// unless the request already came through one.
		if hops(r) > 0 {
			writeError(w, codedErr(http.StatusNotFound, "Unknown allocation %q on this node", allocID))
			return
		}
		s.forwardToServer(w, r)
		return
	}
	st := s.srv.State()
	alloc, err := st.AllocByID(nil, allocID)
	if err != nil {
		writeError(w, err)
		return
	}
	if alloc == nil {
		writeError(w, codedErr(http.StatusNotFound, "Unknown allocation %q", allocID))
		return
	}
	if err := authzOf(r).AllowNamespace(alloc.Namespace, cap); err != nil {
		writeError(w, err)
		return
	}
	if task != "" && !taskInAlloc(alloc.Job, alloc.TaskGroup, task) {
		writeError(w, codedErr(http.StatusNotFound, "Unknown task name %q in allocation %q", task, allocID))
		return
	}
	if s.client != nil && s.client.NodeID() == alloc.NodeID {
		writeError(w, codedErr(http.StatusNotFound, "Allocation %q has no directory on this node (not started yet or garbage collected)", allocID))
		return
	}
	node, err := st.NodeByID(nil, alloc.NodeID)
	if err != nil {
		writeError(w, err)
		return
	}
	if node == nil || node.HTTPAddr == "" {
		writeError(w, codedErr(http.StatusNotFound, "Node %q of allocation %q has no known HTTP address", alloc.NodeID, allocID))
		return
	}
	if hops(r) > 1 {
		writeError(w, codedErr(http.StatusNotFound, "Allocation %q not found on its node", allocID))
		return
	}
	s.fwd.forward(w, r, []string{node.HTTPAddr})
}

func (s *Server) serveLocalLogs(w http.ResponseWriter, r *http.Request, lr *logRequest, dir string) {
	if validTaskName(lr.task) != nil || !s.localTaskKnown(lr, dir) {
		writeError(w, codedErr(http.StatusNotFound, "Unknown task name %q in allocation %q", lr.task, lr.allocID))
		return
	}
	root, err := safefs.OpenRoot(dir)
	if err != nil {
		writeError(w, codedErr(http.StatusNotFound, "Allocation %q has no directory on this node", lr.allocID))
		return
	}
	defer root.Close()
	ls := &logStreamer{
		root:   root,
		dir:    "alloc/logs",
		prefix: lr.task + "." + lr.typ + ".",
		follow: lr.follow,
		fw:     newFrameWriter(w, func() { _ = http.NewResponseController(w).Flush() }, lr.plain),
		poll:   logPollInterval,
	}
	if lr.plain {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	if err := ls.stream(r.Context(), lr.fromEnd, lr.offset); err != nil && r.Context().Err() == nil {
		// The status is already sent; all that is left is to log it.
		s.log.Warn("streaming logs failed", "alloc", lr.allocID, "task", lr.task, "error", err)
	}
}

// localTaskKnown decides whether the task exists: from the server's state
// when this agent has one, otherwise from the task's directory or logs.
func (s *Server) localTaskKnown(lr *logRequest, dir string) bool {
	if s.srv != nil {
		if a, err := s.srv.State().AllocByID(nil, lr.allocID); err == nil && a != nil && a.Job != nil {
			return taskInAlloc(a.Job, a.TaskGroup, lr.task)
		}
	}
	root, err := safefs.OpenRoot(dir)
	if err != nil {
		return false
	}
	defer root.Close()
	if fi, err := root.Lstat(lr.task); err == nil && fi.IsDir() {
		return true
	}
	files, _ := listLogFiles(root, "alloc/logs", lr.task+"."+lr.typ+".")
	return len(files) > 0
}

// validTaskName reports whether name can name a task's directory and log
// files: one path element (the client refuses others at setup).
func validTaskName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return codedErr(http.StatusBadRequest, "invalid task name %q", name)
	}
	return nil
}

// taskInAlloc reports whether the allocation's group has the task; with no
// job to tell, it gives the benefit of the doubt.
func taskInAlloc(job *structs.Job, group, task string) bool {
	if job == nil {
		return true
	}
	tg := job.LookupTaskGroup(group)
	return tg == nil || tg.LookupTask(task) != nil
}
