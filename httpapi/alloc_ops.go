package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// AllocOpsBackend is what a client offers for operators' actions on the
// allocations it runs. The client implements it; an agent without it
// answers these requests with 501.
type AllocOpsBackend interface {
	RestartAlloc(ctx context.Context, allocID, task string) error
	SignalAlloc(allocID, task, signal string) error
	ExecAlloc(ctx context.Context, allocID, task string, req *drivers.ExecRequest) (int, error)
	ExecRunsOnHost(allocID, task string) (bool, error)
}

// allocOpRoutes are Nomad's client allocation actions: restart and signal
// (alloc-lifecycle) and exec (alloc-exec; alloc-node-exec as well for a
// task without isolation from the node). Like the file endpoints they are
// served by the node running the allocation; other agents route them
// there.
func (s *Server) allocOpRoutes(rt *router) {
	life := nsObject(acl.NamespaceCapabilityAllocLifecycle)
	for _, method := range []string{"PUT", "POST"} {
		rt.handle(method+" /v1/client/allocation/{alloc}/restart", life, s.allocRestart)
		rt.handle(method+" /v1/client/allocation/{alloc}/signal", life, s.allocSignal)
	}
	rt.handle("GET /v1/client/allocation/{alloc}/exec", nsObject(acl.NamespaceCapabilityAllocExec), s.allocExec)
	rt.handle("GET /v1/job/{id}/action", nsObject(acl.NamespaceCapabilityAllocExec), s.jobAction)
}

func (s *Server) allocOps() (AllocOpsBackend, error) {
	b, ok := s.client.(AllocOpsBackend)
	if !ok {
		return nil, codedErr(http.StatusNotImplemented, "not supported by this agent")
	}
	return b, nil
}

// allocOpError maps a client's answer to Nomad's statuses.
func allocOpError(err error) error {
	switch {
	case errors.Is(err, structs.ErrUnknownAllocation), errors.Is(err, structs.ErrUnknownTask):
		return codedErr(http.StatusNotFound, "%v", err)
	case errors.Is(err, hooks.ErrTaskNotRunning):
		return codedErr(http.StatusBadRequest, "%v", err)
	}
	return err
}

// decodeKeepBody reads an optional JSON body into v and leaves it in place
// for an agent the request is routed on to.
func decodeKeepBody(r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return codedErr(http.StatusBadRequest, "Failed to read request body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return codedErr(http.StatusBadRequest, "Failed to parse request body: %v", err)
	}
	return nil
}

func (s *Server) allocRestart(w http.ResponseWriter, r *http.Request) {
	var req structs.AllocRestartRequest
	if err := decodeKeepBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	switch {
	case req.AllTasks && req.TaskName != "":
		writeError(w, codedErr(http.StatusBadRequest, "Cannot specify both a task name and all tasks"))
		return
	case req.AllTasks:
		// Re-running tasks that already finished (prestart, poststart) in
		// lifecycle order is not built; refused rather than ignored.
		writeError(w, codedErr(http.StatusBadRequest, "restarting all tasks, including those that already ran, is not supported yet: restart the running tasks (no task name) or one task"))
		return
	}
	if req.TaskName != "" {
		if err := validTaskName(req.TaskName); err != nil {
			writeError(w, err)
			return
		}
	}
	allocID := r.PathValue("alloc")
	s.routeToAlloc(w, r, allocID, req.TaskName, acl.NamespaceCapabilityAllocLifecycle, func(string) {
		ops, err := s.allocOps()
		if err == nil {
			err = ops.RestartAlloc(r.Context(), allocID, req.TaskName)
		}
		if err != nil {
			writeError(w, allocOpError(err))
			return
		}
		writeJSON(w, r, http.StatusOK, &structs.GenericResponse{})
	})
}

func (s *Server) allocSignal(w http.ResponseWriter, r *http.Request) {
	var req structs.AllocSignalRequest
	if err := decodeKeepBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Task != "" {
		if err := validTaskName(req.Task); err != nil {
			writeError(w, err)
			return
		}
	}
	if req.Signal == "" {
		req.Signal = "SIGKILL" // Nomad's default
	}
	if !validSignal(req.Signal) {
		writeError(w, codedErr(http.StatusBadRequest, "invalid signal %q", req.Signal))
		return
	}
	allocID := r.PathValue("alloc")
	s.routeToAlloc(w, r, allocID, req.Task, acl.NamespaceCapabilityAllocLifecycle, func(string) {
		ops, err := s.allocOps()
		if err == nil {
			err = ops.SignalAlloc(allocID, req.Task, req.Signal)
		}
		if err != nil {
			writeError(w, allocOpError(err))
			return
		}
		writeJSON(w, r, http.StatusOK, &structs.GenericResponse{})
	})
}

// validSignal reports whether name names a signal ("SIGHUP", "hup", a
// number), as the drivers parse it.
func validSignal(name string) bool {
	if n, err := strconv.Atoi(name); err == nil {
		return n > 0 && n <= 64
	}
	up := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	return unix.SignalNum(up) != 0
}
