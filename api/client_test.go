package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

func setup(t *testing.T) (*api.Client, *httpapitest.Backend, *httpapitest.Client) {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	cb := httpapitest.NewClient(structs.GenerateUUID())
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Server: b, Client: cb,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	c, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, b, cb
}

func job(id string) *structs.Job {
	return &structs.Job{ID: id, Name: id, Type: "service", Namespace: "default", Priority: 50,
		TaskGroups: []*structs.TaskGroup{{Name: "g", Count: 1,
			Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"}}}}}}
}

func TestClientEndToEnd(t *testing.T) {
	c, b, cb := setup(t)
	ctx := t.Context()
	node := httpapitest.TestNode("n1", "")
	// Nodes register over the control channel, not the HTTP API.
	nresp, err := b.RegisterNode(ctx, node)
	if err != nil || nresp.Index == 0 {
		t.Fatalf("node register: %v %v", nresp, err)
	}
	reg, err := c.Jobs().Register(ctx, job("web"))
	if err != nil || reg.EvalID == "" {
		t.Fatalf("register: %+v %v", reg, err)
	}
	jobs, qm, err := c.Jobs().List(ctx, "we", nil)
	if err != nil || len(jobs) != 1 || qm.LastIndex == 0 || !qm.KnownLeader {
		t.Fatalf("list: %v %+v %v", jobs, qm, err)
	}
	if j, _, err := c.Jobs().Info(ctx, "web", nil); err != nil || j.ID != "web" {
		t.Fatalf("info: %v %v", j, err)
	}
	if _, _, err := c.Jobs().Info(ctx, "nope", nil); !api.IsNotFound(err) {
		t.Fatalf("missing job error = %v", err)
	}
	allocs, _, err := c.Jobs().Allocations(ctx, "web", false, nil)
	if err != nil || len(allocs) != 1 {
		t.Fatalf("allocs: %v %v", allocs, err)
	}
	if evals, _, err := c.Jobs().Evaluations(ctx, "web", nil); err != nil || len(evals) != 1 {
		t.Fatalf("evals: %v %v", evals, err)
	}
	if sum, _, err := c.Jobs().Summary(ctx, "web", nil); err != nil || sum.JobID != "web" {
		t.Fatalf("summary: %v %v", sum, err)
	}
	if vs, _, err := c.Jobs().Versions(ctx, "web", nil); err != nil || len(vs) != 1 {
		t.Fatalf("versions: %v %v", vs, err)
	}
	if e, _, err := c.Evaluations().Info(ctx, reg.EvalID, nil); err != nil || e.ID != reg.EvalID {
		t.Fatalf("eval info: %v %v", e, err)
	}
	if ea, _, err := c.Evaluations().Allocations(ctx, reg.EvalID, nil); err != nil || len(ea) != 1 {
		t.Fatalf("eval allocs: %v %v", ea, err)
	}
	if el, _, err := c.Evaluations().List(ctx, reg.EvalID[:3], nil); err != nil || len(el) != 1 {
		t.Fatalf("eval list: %v %v", el, err)
	}
	if al, _, err := c.Allocations().List(ctx, allocs[0].ID[:5], nil); err != nil || len(al) != 1 {
		t.Fatalf("alloc list: %v %v", al, err)
	}
	a, _, err := c.Allocations().Info(ctx, allocs[0].ID, nil)
	if err != nil || a.Job == nil {
		t.Fatalf("alloc info: %v %v", a, err)
	}
	if nl, _, err := c.Nodes().List(ctx, "", nil); err != nil || len(nl) != 1 {
		t.Fatalf("nodes: %v %v", nl, err)
	}
	if n, _, err := c.Nodes().Info(ctx, node.ID, nil); err != nil || n.ID != node.ID {
		t.Fatalf("node: %v %v", n, err)
	}

	// Blocking: the node's allocation list wakes on a client update.
	na, qm, err := c.Nodes().Allocations(ctx, node.ID, nil)
	if err != nil || len(na) != 1 {
		t.Fatalf("node allocs: %v %v", na, err)
	}
	got := make(chan string, 1)
	go func() {
		out, _, err := c.Nodes().Allocations(ctx, node.ID, &api.QueryOptions{WaitIndex: qm.LastIndex, WaitTime: 20 * time.Second})
		if err != nil || len(out) != 1 {
			got <- "error"
			return
		}
		got <- out[0].ClientStatus
	}()
	time.Sleep(50 * time.Millisecond) // let the query start blocking; correctness does not depend on it
	if _, err := b.UpdateAllocsFromClient(ctx, []*structs.Allocation{{ID: a.ID, ClientStatus: "running"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "running" {
			t.Fatalf("woken node allocs status %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking node allocations did not wake")
	}

	// Logs.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "alloc", "logs"), 0o755)
	os.WriteFile(filepath.Join(dir, "alloc", "logs", "t.stdout.0"), []byte("abc"), 0o644)
	os.WriteFile(filepath.Join(dir, "alloc", "logs", "t.stdout.1"), []byte("def"), 0o644)
	cb.AddAlloc(a.ID, dir)
	rc, err := c.AllocFS().Logs(ctx, a.ID, "t", "stdout", "start", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != "bcdef" {
		t.Fatalf("logs = %q %v", data, err)
	}

	if self, err := c.Agent().Self(ctx); err != nil || self.Member == nil {
		t.Fatalf("self: %v %v", self, err)
	}
	if m, err := c.Agent().Members(ctx); err != nil || len(m.Members) != 1 {
		t.Fatalf("members: %v %v", m, err)
	}
	if h, err := c.Agent().Health(ctx); err != nil || h.Server == nil || !h.Server.OK {
		t.Fatalf("health: %v %v", h, err)
	}
	if l, err := c.Status().Leader(ctx); err != nil || l == "" {
		t.Fatalf("leader: %q %v", l, err)
	}
	if p, err := c.Status().Peers(ctx); err != nil || len(p) != 1 {
		t.Fatalf("peers: %v %v", p, err)
	}
	if _, err := c.Jobs().Deregister(ctx, "web", true, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Info(context.Background(), "web", nil); !api.IsNotFound(err) {
		t.Fatalf("purged job: %v", err)
	}
}
