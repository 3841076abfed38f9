package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// reattachRounds is how many kill -9 rounds TestRepeatedKillReattaches
// runs; ORCH_E2E_LONG=1 runs more.
func reattachRounds() int {
	if os.Getenv("ORCH_E2E_LONG") != "" {
		return 20
	}
	return 4
}

// TestRepeatedKillReattaches runs a long-lived task of every driver and
// kill -9s the agent again and again while it is busy (a burst of batch
// jobs placed and started at that moment). After every restart each
// service task must be the very same processes and container, re-attached
// without a restart or a new start.
func TestRepeatedKillReattaches(t *testing.T) {
	drivers := usableDrivers(t)
	ip, dataDir := newIP(), t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev")
	agents := []*agentProc{a}
	t.Cleanup(func() { dumpAgentLogs(t, agents) })
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	dir := payloadDir(t, "unused", true)

	svc := map[string]string{} // driver -> alloc
	for _, d := range drivers {
		id := "keep-" + strings.ReplaceAll(d, "_", "-")
		jt.run(id, driverJob(id, structs.JobTypeService, d, modeCount, dir, ""))
		svc[d] = jt.oneAlloc(id)
	}
	before := map[string]taskIdentity{}
	for _, d := range drivers {
		waitAllocRunning(t, a, svc[d], 60*time.Second)
		waitFor(t, 30*time.Second, d+" task identity", func() (bool, string) {
			before[d] = identify(t, d, svc[d])
			return before[d].alive() && (d != "docker" || before[d].container != ""), fmt.Sprintf("%+v", before[d])
		})
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	for round := 0; round < reattachRounds(); round++ {
		// Load: batch jobs being placed and started as the agent dies.
		c := a.api(t)
		var wg sync.WaitGroup
		for j := 0; j < 4; j++ {
			id := fmt.Sprintf("load-%d-%d", round, j)
			jt.add(id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				job := sleeperJob(id, "raw_exec", 2)
				job.Type = structs.JobTypeBatch
				job.TaskGroups[0].Tasks[0].Config["args"] = []any{"-c", "exit 0"}
				_, _ = c.Jobs().Register(ctx, job)
			}()
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		a.kill()
		wg.Wait()
		a = startAgent(t, ip, dataDir, "-dev")
		agents = append(agents, a)
		jt.setAgent(a)
		waitReady(t, a, 1)
		for _, d := range drivers {
			al := waitTaskState(t, a, svc[d], "main", 60*time.Second, d+" re-attached",
				func(al *structs.Allocation, ts *structs.TaskState) bool {
					return al.ClientStatus == structs.AllocClientStatusRunning && ts.State == structs.TaskStateRunning
				})
			ts := al.TaskStates["main"]
			after := identify(t, d, svc[d])
			if ts.Restarts != 0 || strings.Count(taskEvents(ts), "| Started:") != 1 ||
				!slices.Equal(after.pids, before[d].pids) || after.container != before[d].container {
				t.Fatalf("round %d, %s: not re-attached: identity before %+v, after %+v; restarts %d: %s",
					round, d, before[d], after, ts.Restarts, taskEvents(ts))
			}
		}
		t.Logf("round %d: every driver's task re-attached", round)
	}
}
