package client

import (
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/structs"
)

func portsAlloc(static []structs.Port, dynamic ...string) *structs.Allocation {
	nw := &structs.NetworkResource{Mode: "host", ReservedPorts: static}
	for _, l := range dynamic {
		nw.DynamicPorts = append(nw.DynamicPorts, structs.Port{Label: l})
	}
	job := &structs.Job{ID: "j", Name: "j", Type: structs.JobTypeService,
		TaskGroups: []*structs.TaskGroup{{Name: "g", Networks: []*structs.NetworkResource{nw}}}}
	return &structs.Allocation{ID: structs.GenerateUUID(), JobID: "j", Job: job, TaskGroup: "g"}
}

func openDB(t *testing.T, dir string) *state.DB {
	t.Helper()
	db, err := state.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPortAllocatorNoCollisions(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	pa := newPortAllocator(30000, 30399, "127.0.0.1", db, nil)
	pa.bindable = func(string, int) bool { return true }
	used := map[int]string{}
	var ids []string
	for i := 0; i < 100; i++ {
		a := portsAlloc([]structs.Port{{Label: "admin", Value: 9000 + i}}, "http", "grpc", "metrics")
		ps, err := pa.Assign(a)
		if err != nil {
			t.Fatalf("alloc %d: %v", i, err)
		}
		if len(ps) != 4 {
			t.Fatalf("alloc %d got %d ports: %+v", i, len(ps), ps)
		}
		for _, p := range ps {
			if p.Label != "admin" && (p.Value < 30000 || p.Value > 30399) {
				t.Fatalf("dynamic port %d out of range", p.Value)
			}
			if p.To != p.Value || p.HostIP != "127.0.0.1" {
				t.Fatalf("port %+v: To must default to the host port, HostIP to the node's", p)
			}
			if owner, ok := used[p.Value]; ok {
				t.Fatalf("port %d given to %s and %s", p.Value, owner, a.ID)
			}
			used[p.Value] = a.ID
		}
		ids = append(ids, a.ID)
	}
	// Freed ports return to the pool; the range (400) holds 100 more
	// allocs only if releases work.
	for _, id := range ids {
		if err := pa.Release(id); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 130; i++ {
		if _, err := pa.Assign(portsAlloc(nil, "a", "b", "c")); err != nil {
			t.Fatalf("after release, alloc %d: %v", i, err)
		}
	}
}

func TestPortAllocatorSkipsPortsInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	pa := newPortAllocator(busy, busy+1, "127.0.0.1", nil, nil)
	ps, err := pa.Assign(portsAlloc(nil, "http"))
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Value == busy {
		t.Fatalf("assigned port %d, which another process listens on", busy)
	}
}

func TestPortAllocatorRestartKeepsPorts(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	pa := newPortAllocator(31000, 31100, "127.0.0.1", db, nil)
	a := portsAlloc([]structs.Port{{Label: "static", Value: 8500, To: 85}}, "http")
	first, err := pa.Assign(a)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := pa.Assign(a); !equalPorts(first, again) {
		t.Fatalf("second Assign changed ports: %+v -> %+v", first, again)
	}
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	restored, err := db.Ports()
	if err != nil {
		t.Fatal(err)
	}
	pa2 := newPortAllocator(31000, 31100, "127.0.0.1", db, restored)
	got, err := pa2.Assign(a)
	if err != nil {
		t.Fatal(err)
	}
	if !equalPorts(first, got) {
		t.Fatalf("ports after restart %+v, want %+v", got, first)
	}
	// The restored ports stay held against other allocations.
	other, err := pa2.Assign(portsAlloc([]structs.Port{{Label: "x", Value: 8500}}))
	if err == nil {
		t.Fatalf("static port held by a restored alloc was given again: %+v", other)
	}
}

func TestPortAllocatorStaticConflict(t *testing.T) {
	pa := newPortAllocator(32000, 32010, "127.0.0.1", nil, nil)
	a := portsAlloc([]structs.Port{{Label: "db", Value: 6379}})
	if _, err := pa.Assign(a); err != nil {
		t.Fatal(err)
	}
	_, err := pa.Assign(portsAlloc([]structs.Port{{Label: "cache", Value: 6379}}))
	if err == nil || !strings.Contains(err.Error(), "static port 6379") || !strings.Contains(err.Error(), a.ID) {
		t.Fatalf("conflict error %v must name the port and the holder", err)
	}
	if err := pa.Release(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pa.Assign(portsAlloc([]structs.Port{{Label: "cache", Value: 6379}})); err != nil {
		t.Fatalf("port freed by release: %v", err)
	}
}

func TestPortAllocatorExhaustion(t *testing.T) {
	pa := newPortAllocator(33000, 33002, "127.0.0.1", nil, nil)
	pa.bindable = func(string, int) bool { return true }
	if _, err := pa.Assign(portsAlloc(nil, "a", "b")); err != nil {
		t.Fatal(err)
	}
	a := portsAlloc(nil, "c", "d")
	_, err := pa.Assign(a)
	if !errors.Is(err, ErrPortsExhausted) || !strings.Contains(err.Error(), `"d"`) {
		t.Fatalf("err %v, want exhaustion naming label d", err)
	}
	// A failed assignment holds nothing.
	if _, ok := pa.Lookup(a.ID); ok {
		t.Fatal("failed assignment was recorded")
	}
	if _, err := pa.Assign(portsAlloc(nil, "e")); err != nil {
		t.Fatalf("the last port must still be free: %v", err)
	}
}

func TestWithPortsDoesNotMutate(t *testing.T) {
	a := portsAlloc(nil, "http")
	a.AllocatedResources = &structs.AllocatedResources{Shared: structs.AllocatedSharedResources{
		Networks: a.Job.TaskGroups[0].Networks}}
	c := withPorts(a, []structs.AllocatedPort{{Label: "http", Value: 20001, To: 20001}})
	if a.AllocatedResources.Shared.Ports != nil || a.AllocatedResources.Shared.Networks[0].DynamicPorts[0].Value != 0 {
		t.Fatal("withPorts changed its input")
	}
	if c.AllocatedResources.Shared.Networks[0].DynamicPorts[0].Value != 20001 {
		t.Fatalf("network port not filled: %+v", c.AllocatedResources.Shared.Networks[0])
	}
}

func equalPorts(a, b []structs.AllocatedPort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var _ = strconv.Itoa

// ignore_collision ports are given to every allocation that shares them,
// are held against plain ones, and stay so across a client restart.
func TestPortAllocatorIgnoreCollision(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	pa := newPortAllocator(31000, 31100, "127.0.0.1", db, nil)
	shared := []structs.Port{{Label: "http", Value: 8600, IgnoreCollision: true}}
	a, b := portsAlloc(shared), portsAlloc(shared)
	for _, x := range []*structs.Allocation{a, b} {
		ps, err := pa.Assign(x)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].Value != 8600 || !ps[0].IgnoreCollision {
			t.Fatalf("ports %+v", ps)
		}
	}
	db.Close()
	db = openDB(t, dir)
	defer db.Close()
	restored, err := db.Ports()
	if err != nil {
		t.Fatal(err)
	}
	pa2 := newPortAllocator(31000, 31100, "127.0.0.1", db, restored)
	if _, err := pa2.Assign(portsAlloc(shared)); err != nil {
		t.Fatalf("third sharer after restart: %v", err)
	}
	// The sharers hold the port against a plain ask, also after the
	// restart; a sharer may not take a plain holder's port either, and a
	// dynamic port never lands on a shared one.
	if _, err := pa2.Assign(portsAlloc([]structs.Port{{Label: "plain", Value: 8600}})); err == nil {
		t.Fatal("plain static port beside sharers was assigned")
	}
	if _, err := pa2.Assign(portsAlloc([]structs.Port{{Label: "plain", Value: 8601}})); err != nil {
		t.Fatal(err)
	}
	if _, err := pa2.Assign(portsAlloc([]structs.Port{{Label: "http", Value: 8601, IgnoreCollision: true}})); err == nil {
		t.Fatal("ignore_collision took a plain holder's port")
	}
	dyn := newPortAllocator(8600, 8600, "127.0.0.1", nil, restored)
	dyn.bindable = func(string, int) bool { return true }
	if ps, err := dyn.Assign(portsAlloc(nil, "d")); err == nil {
		t.Fatalf("a dynamic port was given the shared port: %+v", ps)
	}
}
