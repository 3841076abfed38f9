package httpapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/server/servertest"
	"github.com/orch-project/orch/structs"
)

// realAgent is a real single-server cluster (Raft on disk, the real
// scheduler) behind the HTTP API, for the endpoints whose behaviour lives
// in the server: the service catalog, variables and the keyring.
type realAgent struct {
	srv *server.Server
	api *nomad.Client
}

func newRealAgent(t *testing.T) *realAgent {
	t.Helper()
	srv, url := servertest.HTTP(t)
	c, err := nomad.NewClient(&nomad.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return &realAgent{srv: srv, api: c}
}

func waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// placeAllocs registers a node and a job of count allocations, and waits
// for the scheduler to place them.
func (ra *realAgent) placeAllocs(t *testing.T, jobID string, count int) (*structs.Node, []*structs.Allocation) {
	t.Helper()
	node := httpapitest.TestNode("n-"+jobID, "")
	if _, err := ra.srv.RegisterNode(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	job := &structs.Job{ID: jobID, Name: jobID, Namespace: "default", Region: "global", Type: structs.JobTypeService,
		Priority: 50, Datacenters: []string{"dc1"}, TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: count, EphemeralDisk: &structs.EphemeralDisk{SizeMB: 10},
			RestartPolicy:    &structs.RestartPolicy{Attempts: 1, Interval: time.Minute, Delay: time.Second, Mode: "fail"},
			ReschedulePolicy: &structs.ReschedulePolicy{Attempts: 0},
			Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"},
				Resources: &structs.Resources{CPU: 10, MemoryMB: 10}}},
		}}}
	if _, err := ra.srv.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	var allocs []*structs.Allocation
	waitFor(t, 10*time.Second, "placements", func() bool {
		allocs, _ = ra.srv.State().AllocsByJob(nil, "default", jobID)
		return len(allocs) == count
	})
	return node, allocs
}

func TestNomadAPIServiceCatalog(t *testing.T) {
	t.Parallel()
	ra := newRealAgent(t)
	node, allocs := ra.placeAllocs(t, "web", 3)
	var regs []*structs.ServiceRegistration
	for i, a := range allocs {
		tags := []string{"http"}
		if i == 0 {
			tags = append(tags, "primary")
		}
		regs = append(regs, &structs.ServiceRegistration{
			ID: "_nomad-task-" + a.ID + "-t-web-http", ServiceName: "web", Namespace: "default", NodeID: node.ID,
			Datacenter: "dc1", JobID: "web", AllocID: a.ID, Tags: tags, Address: "127.0.0.1", Port: 8000 + i,
		})
	}
	ctx := context.Background()
	if _, err := ra.srv.UpsertServiceRegistrations(ctx, node.ID, regs); err != nil {
		t.Fatal(err)
	}
	// Another node may not register (or overwrite) this node's instances.
	if _, err := ra.srv.UpsertServiceRegistrations(ctx, "other-node", regs[:1]); err == nil {
		t.Fatal("a foreign node registered services")
	}

	list, meta, err := ra.api.Services().List(nil)
	if err != nil || len(list) != 1 || list[0].Namespace != "default" || len(list[0].Services) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if s := list[0].Services[0]; s.ServiceName != "web" || len(s.Tags) != 2 || s.Tags[0] != "http" || s.Tags[1] != "primary" {
		t.Fatalf("stub: %+v", s)
	}
	got, _, err := ra.api.Services().Get("web", nil)
	if err != nil || len(got) != 3 || got[0].Address != "127.0.0.1" || got[0].NodeID != node.ID {
		t.Fatalf("get: %+v %v", got, err)
	}
	tagged, _, err := ra.api.Services().Get("web", &nomad.QueryOptions{Params: map[string]string{"tag": "primary"}})
	if err != nil || len(tagged) != 1 || tagged[0].AllocID != allocs[0].ID {
		t.Fatalf("tagged: %+v %v", tagged, err)
	}
	// choose is stable for a key.
	pick := func() []string {
		c, _, err := ra.api.Services().Get("web", &nomad.QueryOptions{Params: map[string]string{"choose": "2|client-a"}})
		if err != nil || len(c) != 2 {
			t.Fatalf("choose: %+v %v", c, err)
		}
		return []string{c[0].ID, c[1].ID}
	}
	if a, b := pick(), pick(); a[0] != b[0] || a[1] != b[1] {
		t.Fatalf("choose not stable: %v %v", a, b)
	}
	if _, _, err := ra.api.Services().Get("web", &nomad.QueryOptions{Params: map[string]string{"choose": "x"}}); err == nil {
		t.Fatal("bad choose accepted")
	}

	// A blocking query wakes when an instance goes: its allocation
	// finishes on the client.
	done := make(chan []*nomad.ServiceRegistration, 1)
	go func() {
		out, _, err := ra.api.Services().Get("web", &nomad.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	time.Sleep(50 * time.Millisecond)
	upd := &structs.Allocation{ID: allocs[2].ID, ClientStatus: structs.AllocClientStatusComplete}
	if _, err := ra.srv.UpdateAllocsFromClient(ctx, []*structs.Allocation{upd}); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-done:
		if len(out) != 2 {
			t.Fatalf("after the alloc finished: %d instances", len(out))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking query did not wake")
	}

	var byJob, byAlloc []*nomad.ServiceRegistration
	if _, err := ra.api.Raw().Query("/v1/job/web/services", &byJob, nil); err != nil || len(byJob) != 2 {
		t.Fatalf("job services: %d %v", len(byJob), err)
	}
	if _, err := ra.api.Raw().Query("/v1/allocation/"+allocs[0].ID+"/services", &byAlloc, nil); err != nil || len(byAlloc) != 1 {
		t.Fatalf("alloc services: %d %v", len(byAlloc), err)
	}
	if _, err := ra.api.Raw().Query("/v1/job/nope/services", &byJob, nil); err == nil {
		t.Fatal("services of an unknown job")
	}

	if _, err := ra.api.Services().Delete("web", regs[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ra.api.Services().Delete("web", regs[0].ID, nil); err == nil {
		t.Fatal("second delete succeeded")
	}
	if got, _, _ := ra.api.Services().Get("web", nil); len(got) != 1 {
		t.Fatalf("after delete: %d", len(got))
	}
}

func TestNomadAPIVariables(t *testing.T) {
	t.Parallel()
	ra := newRealAgent(t)
	vars := ra.api.Variables()
	v := nomad.NewVariable("nomad/jobs/app")
	v.Items["db_password"] = "s3cret"
	created, _, err := vars.Create(v, nil)
	if err != nil || created.ModifyIndex == 0 || created.Items["db_password"] != "s3cret" || created.Namespace != "default" {
		t.Fatalf("create: %+v %v", created, err)
	}
	// Stored sealed: the state row holds no clear text.
	row, err := ra.srv.State().Snapshot().VariableByPath(nil, "default", "nomad/jobs/app")
	if err != nil || row == nil || row.KeyID == "" || string(row.Data) == "" ||
		containsBytes(row.Data, "s3cret") {
		t.Fatalf("stored row %+v %v", row, err)
	}
	got, _, err := vars.Read("nomad/jobs/app", nil)
	if err != nil || got.Items["db_password"] != "s3cret" {
		t.Fatalf("read: %+v %v", got, err)
	}
	if _, _, err := vars.Read("nope", nil); !errors.Is(err, nomad.ErrVariablePathNotFound) {
		t.Fatalf("read missing: %v", err)
	}

	// Check-and-set: create-only conflicts with an existing variable; an
	// update at a stale index conflicts and reports the current one.
	dup := nomad.NewVariable("nomad/jobs/app")
	dup.Items["x"] = "y"
	var cas nomad.ErrCASConflict
	if _, _, err := vars.CheckedCreate(dup, nil); !errors.As(err, &cas) || cas.Conflict.ModifyIndex != created.ModifyIndex {
		t.Fatalf("checked create of existing: %v", err)
	}
	upd := got.Copy()
	upd.Items["db_password"] = "n3w"
	updated, _, err := vars.CheckedUpdate(upd, nil)
	if err != nil || updated.ModifyIndex <= created.ModifyIndex || updated.CreateIndex != created.CreateIndex {
		t.Fatalf("checked update: %+v %v", updated, err)
	}
	if _, _, err := vars.CheckedUpdate(upd, nil); !errors.As(err, &cas) || cas.Conflict.Items["db_password"] != "n3w" {
		t.Fatalf("stale checked update: %v", err)
	}
	fresh := nomad.NewVariable("brand/new")
	fresh.Items["a"] = "b"
	if _, _, err := vars.CheckedCreate(fresh, nil); err != nil {
		t.Fatalf("checked create: %v", err)
	}

	// Validation: Nomad's path rules and required items.
	bad := nomad.NewVariable("nomad/other")
	bad.Items["a"] = "b"
	if _, _, err := vars.Create(bad, nil); err == nil {
		t.Fatal("write under nomad/ outside nomad/jobs accepted")
	}
	if _, _, err := vars.Create(nomad.NewVariable("empty/items"), nil); err == nil {
		t.Fatal("variable without items accepted")
	}
	big := nomad.NewVariable("too/big")
	big.Items["blob"] = string(make([]byte, 70<<10))
	if _, _, err := vars.Create(big, nil); err == nil {
		t.Fatal("oversized variable accepted")
	}

	// Listing with prefix and pagination.
	for _, p := range []string{"list/a", "list/b", "list/c", "list/d", "list/e"} {
		nv := nomad.NewVariable(p)
		nv.Items["k"] = p
		if _, _, err := vars.Create(nv, nil); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	token := ""
	for pages := 0; ; pages++ {
		page, qm, err := vars.PrefixList("list/", &nomad.QueryOptions{PerPage: 2, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 || pages > 5 {
			t.Fatalf("page of %d (page %d)", len(page), pages)
		}
		for _, m := range page {
			paths = append(paths, m.Path)
		}
		if token = qm.NextToken; token == "" {
			break
		}
	}
	if len(paths) != 5 || paths[0] != "list/a" || paths[4] != "list/e" {
		t.Fatalf("paged listing %v", paths)
	}
	filtered, _, err := vars.List(&nomad.QueryOptions{Filter: `Path == "list/c"`})
	if err != nil || len(filtered) != 1 {
		t.Fatalf("filtered list: %+v %v", filtered, err)
	}
	if _, _, err := vars.List(&nomad.QueryOptions{Filter: `Path ==`}); err == nil {
		t.Fatal("bad filter accepted")
	}

	// Delete, checked and not.
	if _, err := vars.CheckedDelete("nomad/jobs/app", created.ModifyIndex, nil); !errors.As(err, &cas) {
		t.Fatalf("stale checked delete: %v", err)
	}
	if _, err := vars.CheckedDelete("nomad/jobs/app", updated.ModifyIndex, nil); err != nil {
		t.Fatalf("checked delete: %v", err)
	}
	if _, err := vars.Delete("brand/new", nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if left, _, _ := vars.List(nil); len(left) != 5 {
		t.Fatalf("%d variables left", len(left))
	}
}

func containsBytes(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

func TestNomadAPIVariableLocks(t *testing.T) {
	t.Parallel()
	ra := newRealAgent(t)
	ctx := context.Background()
	spec := nomad.Variable{Path: "locks/leader", Lock: &nomad.VariableLock{TTL: "10s", LockDelay: "2s"}}
	l1, err := ra.api.Locks(nomad.WriteOptions{}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l1.Acquire(ctx); err != nil {
		t.Fatalf("acquire: %v", err)
	}
	held, _, err := ra.api.Variables().Peek("locks/leader", nil)
	if err != nil || held == nil || held.Lock == nil || held.Lock.TTL != "10s" || held.Lock.LockDelay != "2s" {
		t.Fatalf("locked variable: %+v %v", held, err)
	}
	l2, err := ra.api.Locks(nomad.WriteOptions{}, spec, nomad.LocksOptionWithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Acquire(ctx); !errors.Is(err, nomad.ErrLockConflict) {
		t.Fatalf("second acquire: %v", err)
	}
	// Writes need the lock ID; the holder's go through.
	w := nomad.NewVariable("locks/leader")
	w.Items["who"] = "intruder"
	if _, _, err := ra.api.Variables().Update(w, nil); err == nil {
		t.Fatal("write to a locked variable without its lock")
	}
	w.Items["who"] = "holder"
	w.Lock = &nomad.VariableLock{ID: held.Lock.ID}
	if _, _, err := ra.api.Variables().Update(w, nil); err != nil {
		t.Fatalf("holder's write: %v", err)
	}
	if _, err := ra.api.Variables().Delete("locks/leader", nil); err == nil {
		t.Fatal("deleted a locked variable")
	}
	// Renewals keep it past its TTL.
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		if err := l1.Renew(ctx); err != nil {
			t.Fatalf("renew: %v", err)
		}
		time.Sleep(2 * time.Second)
	}
	if v, _, _ := ra.api.Variables().Peek("locks/leader", nil); v.Lock == nil || v.Items["who"] != "holder" {
		t.Fatalf("renewed lock lapsed: %+v", v)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	// A voluntary release has no delay: another holder takes it at once.
	if _, err := l2.Acquire(ctx); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	// Without renewals the lock expires after its TTL; the lock delay then
	// keeps it free for a while before anyone may take it.
	waitFor(t, 15*time.Second, "the lock to expire", func() bool {
		v, _, err := ra.api.Variables().Peek("locks/leader", nil)
		return err == nil && v.Lock == nil
	})
	l3, _ := ra.api.Locks(nomad.WriteOptions{}, spec, nomad.LocksOptionWithMaxRetries(0))
	if _, err := l3.Acquire(ctx); !errors.Is(err, nomad.ErrLockConflict) {
		t.Fatalf("acquire during the lock delay: %v", err)
	}
	if err := l2.Renew(ctx); err == nil {
		t.Fatal("renewed an expired lock")
	}
	waitFor(t, 5*time.Second, "the lock delay to pass", func() bool {
		_, err := l3.Acquire(ctx)
		return err == nil
	})
}

func TestNomadAPIKeyring(t *testing.T) {
	t.Parallel()
	ra := newRealAgent(t)
	kr := ra.api.Keyring()
	keys, _, _ := kr.List(nil)
	first := keys[0].KeyID
	v := nomad.NewVariable("app/secret")
	v.Items["k"] = "v1"
	if _, _, err := ra.api.Variables().Create(v, nil); err != nil {
		t.Fatal(err)
	}
	second, _, err := kr.Rotate(nil, nil)
	if err != nil || second.State != nomad.RootKeyStateActive || second.KeyID == first {
		t.Fatalf("rotate: %+v %v", second, err)
	}
	states := func() map[string]nomad.RootKeyState {
		keys, _, err := kr.List(nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]nomad.RootKeyState{}
		for _, k := range keys {
			out[k.KeyID] = k.State
		}
		return out
	}
	if st := states(); st[first] != nomad.RootKeyStateInactive || st[second.KeyID] != nomad.RootKeyStateActive {
		t.Fatalf("after rotate: %v", st)
	}
	// Old variables still open; new ones use the new key.
	if got, _, err := ra.api.Variables().Read("app/secret", nil); err != nil || got.Items["k"] != "v1" {
		t.Fatalf("read after rotate: %+v %v", got, err)
	}
	if _, err := kr.Delete(&nomad.KeyringDeleteOptions{KeyID: second.KeyID}, nil); err == nil {
		t.Fatal("deleted the active key")
	}
	if _, err := kr.Delete(&nomad.KeyringDeleteOptions{KeyID: first}, nil); err == nil {
		t.Fatal("deleted a key that still encrypts a variable")
	}
	// A full rotation re-encrypts every variable, then deprecates the old keys.
	third, _, err := kr.Rotate(&nomad.KeyringRotateOptions{Full: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "old keys to be deprecated", func() bool {
		st := states()
		return st[first] == nomad.RootKeyStateDeprecated && st[second.KeyID] == nomad.RootKeyStateDeprecated &&
			st[third.KeyID] == nomad.RootKeyStateActive
	})
	row, _ := ra.srv.State().Snapshot().VariableByPath(nil, "default", "app/secret")
	if row.KeyID != third.KeyID {
		t.Fatalf("variable still sealed with %s", row.KeyID)
	}
	if got, _, err := ra.api.Variables().Read("app/secret", nil); err != nil || got.Items["k"] != "v1" || got.ModifyIndex != row.ModifyIndex {
		t.Fatalf("read after full rotation: %+v %v", got, err)
	}
	if _, err := kr.Delete(&nomad.KeyringDeleteOptions{KeyID: first}, nil); err != nil {
		t.Fatalf("delete of an unused key: %v", err)
	}
	// A prepublished key becomes active at its publish time.
	pub, _, err := kr.Rotate(&nomad.KeyringRotateOptions{PublishTime: time.Now().Add(time.Second).UnixNano()}, nil)
	if err != nil || pub.State != nomad.RootKeyStatePrepublished {
		t.Fatalf("prepublish: %+v %v", pub, err)
	}
	waitFor(t, 10*time.Second, "the prepublished key to activate", func() bool {
		return states()[pub.KeyID] == nomad.RootKeyStateActive
	})
	if _, _, err := kr.Rotate(&nomad.KeyringRotateOptions{Algorithm: "rot13"}, nil); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}
