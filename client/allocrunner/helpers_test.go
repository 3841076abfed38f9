package allocrunner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/structs"
)

func shTask(name, script string) *structs.Task {
	return &structs.Task{
		Name: name, Driver: "raw_exec",
		Config:      map[string]any{"command": "/bin/sh", "args": []any{"-c", script}},
		KillTimeout: 2 * time.Second,
		LogConfig:   &structs.LogConfig{MaxFiles: 3, MaxFileSizeMB: 1},
	}
}

func testAlloc(jobType string, policy *structs.RestartPolicy, tasks ...*structs.Task) *structs.Allocation {
	job := &structs.Job{
		ID: "job1", Name: "job1", Type: jobType, Region: "global", Namespace: "default",
		TaskGroups: []*structs.TaskGroup{{Name: "grp", Count: 1, Tasks: tasks, RestartPolicy: policy}},
	}
	return &structs.Allocation{
		ID: structs.GenerateUUID(), Name: "job1.grp[0]", Namespace: "default", JobID: "job1",
		TaskGroup: "grp", Job: job, DesiredStatus: structs.AllocDesiredStatusRun,
		ClientStatus: structs.AllocClientStatusPending,
	}
}

func testNodeInfo() taskenv.NodeInfo {
	return taskenv.NodeInfo{Region: "global", Node: &structs.Node{ID: "node1", Name: "n1", Datacenter: "dc1",
		Attributes: map[string]string{"kernel.name": "linux"}}}
}

// waitUntil re-checks cond whenever changed fires (or every 20ms, for
// conditions on files written by other processes).
func waitUntil(t *testing.T, what string, changed <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func readLog(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return string(b)
}

func eventTypes(s *structs.TaskState) string {
	var out []string
	for _, e := range s.Events {
		out = append(out, e.Type)
	}
	return strings.Join(out, ",")
}
