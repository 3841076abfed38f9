package httpapi

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

// TestJobActionEndpoint drives GET /v1/job/<id>/action with nomad/api's
// own ActionExec: the command run is the one the job's action declares
// (never the caller's), over the exec frames, with its exit code; the
// caller needs alloc-exec (alloc-node-exec too for a task without
// isolation); an unknown action is a 404 and an allocation of
// another job a 400.
func TestJobActionEndpoint(t *testing.T) {
	job := testJob("web", 1)
	job.TaskGroups[0].Tasks = []*structs.Task{
		{Name: "isolated", Driver: "exec", Config: map[string]any{"command": "/bin/sleep"},
			Actions: []*structs.Action{{Name: "say-hi", Command: "/bin/echo", Args: []string{"hi", "there"}}}},
		{Name: "host", Driver: "raw_exec", Config: map[string]any{"command": "/bin/sleep"},
			Actions: []*structs.Action{{Name: "hostly", Command: "/bin/true"}}},
	}
	oa := newOpsAgent(t, job)
	execRead := oa.token(`"alloc-exec", "read-job", "list-jobs"`)
	execOnly := oa.token(`"alloc-exec"`)
	readOnly := oa.token(`"read-job", "list-jobs"`)
	nodeExec := oa.token(`"alloc-exec", "alloc-node-exec", "read-job"`)
	run := func(secret, jobID, task, action string) (string, int, error) {
		c, err := nomad.NewClient(&nomad.Config{Address: oa.url, SecretID: secret})
		if err != nil {
			t.Fatal(err)
		}
		alloc := &nomad.Allocation{ID: oa.allocID, NodeID: oa.cl.ID, TaskGroup: "g"}
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		code, err := c.Jobs().ActionExec(ctx, alloc, jobID, task, false, []string{"rm", "-rf", "/"}, action,
			strings.NewReader("in"), &out, &errb, nil, nil)
		return out.String(), code, err
	}
	out, code, err := run(execRead, "web", "isolated", "say-hi")
	if err != nil || code != 9 || out != "isolated:/bin/echo hi there:in" {
		t.Fatalf("action: code %d err %v out %q", code, err, out)
	}
	if out, code, err = run(execOnly, "web", "isolated", "say-hi"); err != nil || code != 9 || out != "isolated:/bin/echo hi there:in" {
		t.Fatalf("action with alloc-exec alone: code %d err %v out %q", code, err, out)
	}
	if _, _, err = run(readOnly, "web", "isolated", "say-hi"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("action without alloc-exec: %v", err)
	}
	if _, _, err = run(execRead, "web", "host", "hostly"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("action in a host task without alloc-node-exec: %v", err)
	}
	if out, code, err = run(nodeExec, "web", "host", "hostly"); err != nil || code != 9 || out != "host:/bin/true:in" {
		t.Fatalf("action in a host task with alloc-node-exec: code %d err %v out %q", code, err, out)
	}
	if _, _, err = run(execRead, "web", "isolated", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown action: %v", err)
	}
	if _, _, err = run(execRead, "other", "isolated", "say-hi"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("allocation of another job: %v", err)
	}
}
