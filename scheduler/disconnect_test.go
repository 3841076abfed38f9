package scheduler

import (
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// serverStatus marks allocations as the FSM does when their node misses
// its heartbeats.
func (h *harness) serverStatus(status string, ids ...string) {
	h.t.Helper()
	txn := h.store.WriteTxn(h.next())
	defer txn.Abort()
	if err := txn.SetServerClientStatus(ids, status, "test", h.now); err != nil {
		h.t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		h.t.Fatal(err)
	}
}

// disconnectSetup places one allocation of a job with the given
// disconnect block on node 1, then lets the job go anywhere and cuts node
// 1 off: the node is disconnected and the allocation unknown.
func disconnectSetup(t *testing.T, ds *structs.DisconnectStrategy) (*harness, *structs.Job, *structs.Allocation) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 1)
	job.TaskGroups[0].Disconnect = ds
	job.Constraints = []*structs.Constraint{{LTarget: "${node.unique.name}", RTarget: "node-1", Operand: "="}}
	job = h.upsertJob(job)
	res := h.run(job, structs.EvalTriggerJobRegister)
	orig := placed(res.Plan)[0]
	h.clientStatus(orig.ID, structs.AllocClientStatusRunning)
	job.Constraints = nil
	job = h.upsertJob(job)
	h.run(job, structs.EvalTriggerJobRegister)
	h.setNodeStatus(nodeID(1), structs.NodeStatusDisconnected)
	h.serverStatus(structs.AllocClientStatusUnknown, orig.ID)
	return h, job, orig
}

func boolPtr(b bool) *bool { return &b }

// disconnect { replace = true }: an unknown allocation is replaced at once
// elsewhere and kept (it may come back); later evals change nothing.
func TestDisconnectReplacePlacesBesideUnknown(t *testing.T) {
	h, job, orig := disconnectSetup(t, &structs.DisconnectStrategy{LostAfter: time.Hour, Replace: boolPtr(true), Reconcile: structs.ReconcileBestScore})
	res := h.run(job, structs.EvalTriggerNodeUpdate)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].NodeID != nodeID(2) || p[0].PreviousAllocation != orig.ID || len(stoppedAllocs(res.Plan)) != 0 {
		t.Fatalf("plan: placed %+v stopped %+v", p, stoppedAllocs(res.Plan))
	}
	if o, _ := h.store.AllocByID(nil, orig.ID); o.DesiredStatus != structs.AllocDesiredStatusRun || o.ClientStatus != structs.AllocClientStatusUnknown {
		t.Fatalf("original %s/%s", o.DesiredStatus, o.ClientStatus)
	}
	again := h.run(job, structs.EvalTriggerNodeUpdate)
	if len(placed(again.Plan)) != 0 || len(stoppedAllocs(again.Plan)) != 0 {
		t.Fatalf("second eval changed things: %+v %+v", placed(again.Plan), stoppedAllocs(again.Plan))
	}
}

// disconnect { replace = false }: the unknown allocation holds its slot;
// nothing is placed until it is lost, then it is replaced.
func TestDisconnectNoReplaceWaitsForLost(t *testing.T) {
	h, job, orig := disconnectSetup(t, &structs.DisconnectStrategy{LostAfter: time.Hour, Replace: boolPtr(false)})
	if res := h.run(job, structs.EvalTriggerNodeUpdate); len(placed(res.Plan)) != 0 {
		t.Fatalf("replace=false placed %+v", placed(res.Plan))
	}
	h.serverStatus(structs.AllocClientStatusLost, orig.ID)
	res := h.run(job, structs.EvalTriggerNodeUpdate)
	p := placed(res.Plan)
	if len(p) != 1 || p[0].NodeID != nodeID(2) || p[0].PreviousAllocation != orig.ID {
		t.Fatalf("after lost_after: placed %+v", p)
	}
}

// An original replaced while unknown and then declared lost (lost_after
// ran out) is stopped, so a client coming back late does not run it.
func TestLostOriginalBesideReplacementIsStopped(t *testing.T) {
	h, job, orig := disconnectSetup(t, &structs.DisconnectStrategy{LostAfter: time.Hour, Replace: boolPtr(true)})
	h.run(job, structs.EvalTriggerNodeUpdate)
	h.serverStatus(structs.AllocClientStatusLost, orig.ID)
	res := h.run(job, structs.EvalTriggerNodeUpdate)
	st := stoppedAllocs(res.Plan)
	if len(st) != 1 || st[0].ID != orig.ID || len(placed(res.Plan)) != 0 {
		t.Fatalf("stopped %+v placed %+v", st, placed(res.Plan))
	}
}

// On reconnect the group's reconcile strategy picks the surviving copy.
func TestReconnectReconcileStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		// origRestarted makes the original's tasks the more recently
		// started (it restarted while away).
		origRestarted bool
		keepOriginal  bool
	}{
		{structs.ReconcileKeepOriginal, false, true},
		{structs.ReconcileKeepReplacement, false, false},
		{structs.ReconcileLongestRunning, false, true},
		{structs.ReconcileLongestRunning, true, false},
		{structs.ReconcileBestScore, false, true}, // decided from the stored scores below
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			h, job, orig := disconnectSetup(t, &structs.DisconnectStrategy{LostAfter: time.Hour, Replace: boolPtr(true), Reconcile: tc.strategy})
			res := h.run(job, structs.EvalTriggerNodeUpdate)
			repl := placed(res.Plan)[0]
			start := time.Unix(0, h.now)
			origStart, replStart := start.Add(-time.Hour), start
			if tc.origRestarted {
				origStart = start.Add(time.Minute)
			}
			report := func(id string, at time.Time) {
				up := &structs.Allocation{ID: id, ClientStatus: structs.AllocClientStatusRunning,
					TaskStates: map[string]*structs.TaskState{"server": {State: structs.TaskStateRunning, StartedAt: at}}}
				if err := h.store.UpdateAllocsFromClient(h.next(), []*structs.Allocation{up}, h.now); err != nil {
					t.Fatal(err)
				}
			}
			report(repl.ID, replStart)
			// Node 1 is back, but its client has not reported yet: wait.
			h.setNodeStatus(nodeID(1), structs.NodeStatusReady)
			if r := h.run(job, structs.EvalTriggerNodeUpdate); len(stoppedAllocs(r.Plan)) != 0 || len(placed(r.Plan)) != 0 {
				t.Fatalf("decided before the client reported: %+v %+v", stoppedAllocs(r.Plan), placed(r.Plan))
			}
			report(orig.ID, origStart)
			want := tc.keepOriginal
			if tc.strategy == structs.ReconcileBestScore {
				o, _ := h.store.AllocByID(nil, orig.ID)
				r, _ := h.store.AllocByID(nil, repl.ID)
				want = placementScore(o) >= placementScore(r)
			}
			r := h.run(job, structs.EvalTriggerReconnect)
			st := stoppedAllocs(r.Plan)
			loser := repl.ID
			if !want {
				loser = orig.ID
			}
			if len(st) != 1 || st[0].ID != loser || len(placed(r.Plan)) != 0 {
				t.Fatalf("stopped %v placed %d, want %s stopped", names(st), len(placed(r.Plan)), loser)
			}
			if len(h.liveAllocs("web")) != 1 {
				t.Fatalf("live allocs after reconcile: %v", nameSet(h.liveAllocs("web")))
			}
			if r := h.run(job, structs.EvalTriggerNodeUpdate); len(stoppedAllocs(r.Plan)) != 0 || len(placed(r.Plan)) != 0 {
				t.Fatalf("unsettled after reconcile: %+v %+v", stoppedAllocs(r.Plan), placed(r.Plan))
			}
		})
	}
}

// stop_on_client_after: a lost allocation's replacement waits that long
// after the loss, the time its client takes to stop it on its own.
func TestStopOnClientAfterDelaysReplacement(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := mkJob("web", structs.JobTypeService, 1)
	wait := 30 * time.Second
	job.TaskGroups[0].StopAfterClientDisconnect = &wait
	job.Constraints = []*structs.Constraint{{LTarget: "${node.unique.name}", RTarget: "node-1", Operand: "="}}
	job = h.upsertJob(job)
	orig := placed(h.run(job, structs.EvalTriggerJobRegister).Plan)[0]
	job.Constraints = nil
	job = h.upsertJob(job)
	h.run(job, structs.EvalTriggerJobRegister)
	h.setNodeStatus(nodeID(1), structs.NodeStatusDown)
	h.serverStatus(structs.AllocClientStatusLost, orig.ID)

	res := h.run(job, structs.EvalTriggerNodeUpdate)
	if len(placed(res.Plan)) != 0 {
		t.Fatalf("replaced before stop_after_client_disconnect: %+v", placed(res.Plan))
	}
	if len(res.CreateEvals) != 1 || res.CreateEvals[0].WaitUntil.UnixNano() != h.now+int64(wait) {
		t.Fatalf("follow-up evals %+v", res.CreateEvals)
	}
	// An eval in between changes nothing.
	if r := h.run(job, structs.EvalTriggerNodeUpdate); len(placed(r.Plan)) != 0 {
		t.Fatalf("replaced early by another eval: %+v", placed(r.Plan))
	}
	out := h.runFollowup(res)
	p := placed(out.Plan)
	if len(p) != 1 || p[0].NodeID != nodeID(2) || p[0].PreviousAllocation != orig.ID {
		t.Fatalf("follow-up placed %+v", p)
	}
}

// System jobs keep an unknown allocation on its disconnected node instead
// of stopping it as ineligible.
func TestSystemJobKeepsUnknownAllocs(t *testing.T) {
	h := newHarness(t)
	h.upsertNodes(mkNode(1, "dc1", 4000, 8000), mkNode(2, "dc1", 4000, 8000))
	job := mkJob("sys", structs.JobTypeSystem, 1)
	job.TaskGroups[0].Disconnect = &structs.DisconnectStrategy{LostAfter: time.Hour}
	job = h.upsertJob(job)
	res := h.run(job, structs.EvalTriggerJobRegister)
	var onOne string
	for _, a := range placed(res.Plan) {
		if a.NodeID == nodeID(1) {
			onOne = a.ID
		}
	}
	h.setNodeStatus(nodeID(1), structs.NodeStatusDisconnected)
	h.serverStatus(structs.AllocClientStatusUnknown, onOne)
	if r := h.run(job, structs.EvalTriggerNodeUpdate); len(stoppedAllocs(r.Plan)) != 0 || len(placed(r.Plan)) != 0 {
		t.Fatalf("system job touched the disconnected node: stopped %v placed %v", names(stoppedAllocs(r.Plan)), names(placed(r.Plan)))
	}
}
