package state

import (
	"errors"
	"testing"

	"github.com/orch-project/orch/structs"
)

func TestUpsertJobVersions(t *testing.T) {
	s := newTestStore(t)
	must(t, s.UpsertJob(10, testJob("web"), 111))

	j, err := s.JobByID(nil, "", "web")
	must(t, err)
	if j.Version != 0 || j.CreateIndex != 10 || j.ModifyIndex != 10 || j.JobModifyIndex != 10 || j.SubmitTime != 111 {
		t.Fatalf("new job: %+v", j)
	}
	if j.Status != structs.JobStatusPending {
		t.Fatalf("new job status %q", j.Status)
	}

	// Identical spec: same version, fresh modify indexes.
	same := testJob("web")
	same.Status, same.Version = "running", 42 // server-maintained fields are ignored
	must(t, s.UpsertJob(11, same, 222))
	j, _ = s.JobByID(nil, "", "web")
	if j.Version != 0 || j.CreateIndex != 10 || j.JobModifyIndex != 11 {
		t.Fatalf("identical resubmission: version %d create %d jmi %d", j.Version, j.CreateIndex, j.JobModifyIndex)
	}

	// Changed spec bumps the version; retain the newest six.
	for i := 1; i <= 8; i++ {
		nj := testJob("web")
		nj.TaskGroups[0].Count = 2 + i
		must(t, s.UpsertJob(uint64(20+i), nj, 0))
	}
	j, _ = s.JobByID(nil, "", "web")
	if j.Version != 8 {
		t.Fatalf("version after 8 changes = %d", j.Version)
	}
	vs, err := s.JobVersionsByID(nil, "default", "web")
	must(t, err)
	if len(vs) != maxJobVersions {
		t.Fatalf("retained %d versions, want %d", len(vs), maxJobVersions)
	}
	for i, v := range vs {
		if want := uint64(8 - i); v.Version != want {
			t.Fatalf("versions[%d] = %d, want %d (newest first)", i, v.Version, want)
		}
	}
	old, err := s.JobByIDAndVersion(nil, "default", "web", 1)
	must(t, err)
	if old != nil {
		t.Fatalf("version 1 should be pruned")
	}
	v5, err := s.JobByIDAndVersion(nil, "default", "web", 5)
	must(t, err)
	if v5 == nil || v5.TaskGroups[0].Count != 7 {
		t.Fatalf("version 5 = %+v", v5)
	}

	// Stop is a spec change and a new version; with nothing running it is dead.
	stop := testJob("web")
	stop.TaskGroups[0].Count = 10
	stop.Stop = true
	must(t, s.UpsertJob(40, stop, 0))
	j, _ = s.JobByID(nil, "", "web")
	if j.Version != 9 || !j.Stop || j.Status != structs.JobStatusDead {
		t.Fatalf("stopped job: version %d stop %v status %q", j.Version, j.Stop, j.Status)
	}
	mustIndex(t, s, TableJobs, 40)
	mustIndex(t, s, TableJobVersion, 40)
	latest, err := s.LatestIndex()
	must(t, err)
	if latest != 40 {
		t.Fatalf("LatestIndex = %d", latest)
	}
}

func TestUpsertJobDoesNotAliasInput(t *testing.T) {
	s := newTestStore(t)
	in := testJob("a")
	must(t, s.UpsertJob(5, in, 0))
	if in.CreateIndex != 0 || in.Status != "" {
		t.Fatalf("store mutated its input: %+v", in)
	}
	got, _ := s.JobByID(nil, "", "a")
	must(t, s.UpsertJob(6, testJob("a"), 0))
	if got.ModifyIndex != 5 {
		t.Fatalf("stored object mutated in place by a later write: ModifyIndex %d", got.ModifyIndex)
	}
}

func TestJobsByIDPrefix(t *testing.T) {
	s := newTestStore(t)
	for i, id := range []string{"web", "api", "web-2", "worker"} {
		must(t, s.UpsertJob(uint64(i+1), testJob(id), 0))
	}
	other := testJob("web-3")
	other.Namespace = "prod"
	must(t, s.UpsertJob(9, other, 0))

	ids := func(js []*structs.Job) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.Namespace+"/"+j.ID)
		}
		return out
	}
	cases := []struct {
		ns, prefix string
		want       []string
	}{
		{"default", "we", []string{"default/web", "default/web-2"}},
		{"default", "w", []string{"default/web", "default/web-2", "default/worker"}},
		{"", "", []string{"default/api", "default/web", "default/web-2", "default/worker"}},
		{"prod", "", []string{"prod/web-3"}},
		{"*", "web", []string{"default/web", "default/web-2", "prod/web-3"}},
		{"default", "zzz", nil},
	}
	for _, c := range cases {
		got, err := s.JobsByIDPrefix(nil, c.ns, c.prefix)
		must(t, err)
		if g := ids(got); len(g) != len(c.want) || (len(g) > 0 && !equalStrings(g, c.want)) {
			t.Errorf("JobsByIDPrefix(%q,%q) = %v, want %v", c.ns, c.prefix, g, c.want)
		}
	}
}

func equalStrings(a, b []string) bool {
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

func TestDeleteJobPurges(t *testing.T) {
	s := newTestStore(t)
	must(t, s.UpsertJob(1, testJob("web"), 0))
	must(t, s.UpsertEvals(2, []*structs.Evaluation{testEval(uuidN(1), "web", structs.EvalStatusComplete)}))
	must(t, s.UpsertAllocs(3, []*structs.Allocation{testAlloc(uuidN(2), "web", "web", "n1", uuidN(1), 0)}))
	must(t, s.DeleteJob(4, "default", "web"))

	if j, _ := s.JobByID(nil, "default", "web"); j != nil {
		t.Fatal("job survived purge")
	}
	if vs, _ := s.JobVersionsByID(nil, "default", "web"); len(vs) != 0 {
		t.Fatal("versions survived purge")
	}
	if sum, _ := s.JobSummaryByID(nil, "default", "web"); sum != nil {
		t.Fatal("summary survived purge")
	}
	if as, _ := s.AllocsByJob(nil, "default", "web"); len(as) != 1 {
		t.Fatalf("allocs must stay until GC, got %d", len(as))
	}
	if es, _ := s.EvalsByJob(nil, "default", "web"); len(es) != 1 {
		t.Fatalf("evals must stay until GC, got %d", len(es))
	}
	mustIndex(t, s, TableJobSummary, 4)
	if err := s.DeleteJob(5, "default", "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purge of absent job: %v", err)
	}
	// A failed write leaves the index untouched.
	mustIndex(t, s, TableJobs, 4)
}

func TestUpsertJobRejectsBadInput(t *testing.T) {
	s := newTestStore(t)
	if err := s.UpsertJob(1, nil, 0); err == nil {
		t.Fatal("nil job accepted")
	}
	if err := s.UpsertJob(1, &structs.Job{}, 0); err == nil {
		t.Fatal("job without ID accepted")
	}
	mustIndex(t, s, TableJobs, 0)
}
