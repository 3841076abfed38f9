package state

import (
	"encoding/json"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/structs"
)

// dump renders the whole state as JSON lines for comparison.
func dump(t *testing.T, snap *Snapshot) string {
	t.Helper()
	var out []byte
	must(t, snap.Walk(func(kind string, obj any) error {
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		out = append(out, kind...)
		out = append(out, ' ')
		out = append(out, b...)
		out = append(out, '\n')
		return nil
	}))
	return string(out)
}

// restoreCopy loads everything Walk emits into dst, via JSON like a real
// snapshot, so no pointer is shared between the two stores.
func restoreCopy(t *testing.T, src *Snapshot, dst *Store) {
	t.Helper()
	r, err := dst.Restore()
	must(t, err)
	defer r.Abort()
	must(t, src.Walk(func(kind string, obj any) error {
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		switch kind {
		case KindIndex:
			var v IndexEntry
			must(t, json.Unmarshal(b, &v))
			return r.IndexRestore(&v)
		case KindJob, KindJobVersion:
			var v structs.Job
			must(t, json.Unmarshal(b, &v))
			if kind == KindJob {
				return r.JobRestore(&v)
			}
			return r.JobVersionRestore(&v)
		case KindJobSummary:
			var v structs.JobSummary
			must(t, json.Unmarshal(b, &v))
			return r.JobSummaryRestore(&v)
		case KindNode:
			var v structs.Node
			must(t, json.Unmarshal(b, &v))
			return r.NodeRestore(&v)
		case KindEval:
			var v structs.Evaluation
			must(t, json.Unmarshal(b, &v))
			return r.EvalRestore(&v)
		case KindAlloc:
			var v structs.Allocation
			must(t, json.Unmarshal(b, &v))
			return r.AllocRestore(&v)
		}
		t.Fatalf("unknown kind %q", kind)
		return nil
	}))
	must(t, r.Commit())
}

func TestRestoreRoundTrip(t *testing.T) {
	src := newTestStore(t)
	ids := placeJob(t, src, structs.JobTypeBatch, 2)
	must(t, src.UpsertNode(4, testNode("n1")))
	must(t, src.UpsertJob(5, testJob("web", "web", "extra"), 0))

	dst := newTestStore(t)
	must(t, dst.UpsertJob(1, testJob("stale"), 0))
	ws := memdb.NewWatchSet()
	_, err := dst.JobByID(ws, "default", "never-written")
	must(t, err)

	restoreCopy(t, src.Snapshot(), dst)
	if !fired(ws, 10*time.Second) {
		t.Fatal("restore did not wake blocked queries")
	}
	if a, b := dump(t, src.Snapshot()), dump(t, dst.Snapshot()); a != b {
		t.Fatalf("restored state differs:\n--- src\n%s--- dst\n%s", a, b)
	}
	if j, _ := dst.JobByID(nil, "default", "stale"); j != nil {
		t.Fatal("restore kept old contents")
	}
	// Derived bookkeeping is rebuilt: finishing the allocs makes the job dead
	// on both stores alike.
	done := []*structs.Allocation{{ID: ids[0], ClientStatus: "complete"}, {ID: ids[1], ClientStatus: "complete"}}
	must(t, src.UpdateAllocsFromClient(6, done, 1))
	must(t, dst.UpdateAllocsFromClient(6, done, 1))
	if st := jobStatus(t, dst, "web"); st != structs.JobStatusDead {
		t.Fatalf("restored store derives status %q, want dead", st)
	}
	if a, b := dump(t, src.Snapshot()), dump(t, dst.Snapshot()); a != b {
		t.Fatalf("states diverge after the same write:\n--- src\n%s--- dst\n%s", a, b)
	}
}

func TestRestoreAbortLeavesStore(t *testing.T) {
	s := newTestStore(t)
	must(t, s.UpsertJob(1, testJob("keep"), 0))
	r, err := s.Restore()
	must(t, err)
	must(t, r.JobRestore(testJob("other")))
	r.Abort()
	if err := r.JobRestore(testJob("late")); err == nil {
		t.Fatal("restore after abort accepted")
	}
	if err := r.AllocRestore(testAlloc("x", "keep", "web", "n", "e", 0)); err == nil {
		t.Fatal("alloc restore after abort accepted")
	}
	if j, _ := s.JobByID(nil, "default", "keep"); j == nil {
		t.Fatal("aborted restore changed the store")
	}
	if err := r.JobRestore(nil); err == nil {
		t.Fatal("nil job accepted")
	}
}
