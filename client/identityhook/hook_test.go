package identityhook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/structs"
)

type signerFunc func(ctx context.Context, allocID string, tasks []string) (map[string]string, error)

func (f signerFunc) SignIdentities(ctx context.Context, allocID string, tasks []string) (map[string]string, error) {
	return f(ctx, allocID, tasks)
}

func TestPrestartDeliversTheIdentity(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.Mkdir(secrets, 0o755); err != nil {
		t.Fatal(err)
	}
	// A task planted a link at the token's name, pointing at a host file.
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(secrets, TokenFile)); err != nil {
		t.Fatal(err)
	}
	alloc := &structs.Allocation{ID: "a1"}
	var asked []string
	signer := signerFunc(func(_ context.Context, allocID string, tasks []string) (map[string]string, error) {
		asked = append(asked, allocID+"/"+tasks[0])
		return map[string]string{"t": "eyJhbGciOiJSUzI1NiJ9.x.y"}, nil
	})
	task := &structs.Task{Name: "t", Identity: &structs.WorkloadIdentity{Env: true, File: true}}
	cfg := &hooks.TaskHookConfig{Alloc: alloc, Task: task, TaskDir: hooks.TaskDir{SecretsDir: secrets}}
	h := New(signer)(cfg).(hooks.TaskPrestartHook)
	var resp hooks.TaskPrestartResponse
	if err := h.Prestart(context.Background(), &hooks.TaskPrestartRequest{Alloc: alloc, Task: task}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Env["NOMAD_TOKEN"] != "eyJhbGciOiJSUzI1NiJ9.x.y" || !resp.Done || len(asked) != 1 || asked[0] != "a1/t" {
		t.Fatalf("resp %+v asked %v", resp, asked)
	}
	fi, err := os.Lstat(filepath.Join(secrets, TokenFile))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "host" {
		t.Fatal("the planted link was followed")
	}
	// No identity, or one that asks for neither: no hook.
	for _, id := range []*structs.WorkloadIdentity{nil, {}} {
		if New(signer)(&hooks.TaskHookConfig{Task: &structs.Task{Name: "x", Identity: id}}) != nil {
			t.Errorf("hook for identity %+v", id)
		}
	}
	// The servers' refusal fails the start.
	refuse := signerFunc(func(context.Context, string, []string) (map[string]string, error) {
		return nil, errors.New("identity refused")
	})
	if err := New(refuse)(cfg).(hooks.TaskPrestartHook).Prestart(context.Background(),
		&hooks.TaskPrestartRequest{Alloc: alloc, Task: task}, &hooks.TaskPrestartResponse{}); err == nil {
		t.Fatal("refused identity accepted")
	}
}
