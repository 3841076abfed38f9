package payload

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/structs"
)

func prestart(t *testing.T, local string, task *structs.Task, job *structs.Job) error {
	t.Helper()
	alloc := &structs.Allocation{ID: "a1", Job: job}
	h := HookFactory()(&hooks.TaskHookConfig{Alloc: alloc, Task: task, TaskDir: hooks.TaskDir{LocalDir: local}})
	if h == nil {
		t.Fatal("no hook for a task with dispatch_payload")
	}
	var resp hooks.TaskPrestartResponse
	return h.(hooks.TaskPrestartHook).Prestart(context.Background(),
		&hooks.TaskPrestartRequest{Alloc: alloc, Task: task}, &resp)
}

// The payload of a dispatched job lands in local/<file> (subdirectories
// made), and a link the task planted at that path is not followed.
func TestDispatchPayloadWritten(t *testing.T) {
	local := t.TempDir()
	task := &structs.Task{Name: "t", DispatchPayload: &structs.DispatchPayloadConfig{File: "in/payload.txt"}}
	job := &structs.Job{ID: "fn/dispatch-1-abcd0123", Dispatched: true, Payload: []byte("hello payload")}
	if err := prestart(t, local, task, job); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(local, "in", "payload.txt"))
	if err != nil || string(b) != "hello payload" {
		t.Fatalf("payload file: %q %v", b, err)
	}

	if HookFactory()(&hooks.TaskHookConfig{Task: &structs.Task{Name: "plain"}}) != nil {
		t.Fatal("a hook for a task without dispatch_payload")
	}

	// A task-planted link to a file outside its directory.
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	local2 := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(local2, "p.txt")); err != nil {
		t.Fatal(err)
	}
	task2 := &structs.Task{Name: "t", DispatchPayload: &structs.DispatchPayloadConfig{File: "p.txt"}}
	if err := prestart(t, local2, task2, job); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "untouched" {
		t.Fatal("payload written through a planted link")
	}
	if fi, err := os.Lstat(filepath.Join(local2, "p.txt")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the planted link was not replaced by the payload file: %v", err)
	}

	// A planted directory link on the way to the file is not followed.
	outDir := t.TempDir()
	local3 := t.TempDir()
	if err := os.Symlink(outDir, filepath.Join(local3, "in")); err != nil {
		t.Fatal(err)
	}
	if err := prestart(t, local3, task, job); err == nil {
		t.Fatal("payload written through a planted directory link")
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
		t.Fatalf("files appeared outside the task dir: %v", ents)
	}
}
