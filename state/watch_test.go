package state

import (
	"context"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// fired reports whether ws fires within a generous bound; a watch that
// should not fire is checked with a short, non-blocking probe.
func fired(ws memdb.WatchSet, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return ws.WatchCtx(ctx) == nil
}

func TestBlockingWatchFiresOnWrite(t *testing.T) {
	s := newTestStore(t)
	must(t, s.UpsertJob(1, testJob("web"), 0))
	must(t, s.UpsertNode(1, testNode("n1")))

	ws := memdb.NewWatchSet()
	allocs, err := s.AllocsByNode(ws, "n1")
	must(t, err)
	if len(allocs) != 0 {
		t.Fatalf("unexpected allocs %v", allocs)
	}
	if fired(ws, 10*time.Millisecond) {
		t.Fatal("watch fired without a write")
	}
	done := make(chan bool)
	go func() { done <- fired(ws, 10*time.Second) }()
	must(t, s.UpsertAllocs(2, []*structs.Allocation{testAlloc(uuidN(1), "web", "web", "n1", "e", 0)}))
	if !<-done {
		t.Fatal("watch on node allocs did not fire after a placement on the node")
	}

	// Point lookups fire too.
	ws = memdb.NewWatchSet()
	_, err = s.JobByID(ws, "default", "web")
	must(t, err)
	must(t, s.UpsertJob(3, testJob("web", "api"), 0))
	if !fired(ws, 10*time.Second) {
		t.Fatal("job watch did not fire")
	}
}

func TestSnapshotIsolation(t *testing.T) {
	s := newTestStore(t)
	must(t, s.UpsertJob(1, testJob("web"), 0))
	snap := s.Snapshot()
	must(t, s.UpsertJob(2, testJob("web", "extra"), 0))
	must(t, s.UpsertJob(3, testJob("api"), 0))

	j, err := snap.JobByID(nil, "default", "web")
	must(t, err)
	if j.Version != 0 || len(j.TaskGroups) != 1 {
		t.Fatalf("snapshot sees later write: %+v", j)
	}
	if j, _ := snap.JobByID(nil, "default", "api"); j != nil {
		t.Fatal("snapshot sees later job")
	}
	idx, _ := snap.LatestIndex()
	if idx != 1 {
		t.Fatalf("snapshot LatestIndex %d", idx)
	}
	cur, _ := s.JobByID(nil, "default", "web")
	if cur.Version != 1 {
		t.Fatalf("store version %d", cur.Version)
	}
}
