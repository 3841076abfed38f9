package servertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/structs"
)

// Nodes registers n ready raw_exec nodes (4 GHz, 4 GiB each) in dc1. They
// do not heartbeat; Server keeps them up.
func Nodes(t testing.TB, srv *server.Server, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		node := &structs.Node{
			ID: structs.GenerateUUID(), SecretID: structs.GenerateUUID(), Name: fmt.Sprintf("n%d", i),
			Datacenter: "dc1", Status: structs.NodeStatusReady, Attributes: map[string]string{"kernel.name": "linux"},
			Drivers: map[string]*structs.DriverInfo{"raw_exec": {Detected: true, Healthy: true}},
			NodeResources: &structs.NodeResources{Cpu: structs.NodeCpuResources{CpuShares: 4000},
				Memory: structs.NodeMemoryResources{MemoryMB: 4096}, Disk: structs.NodeDiskResources{DiskMB: 100000}},
		}
		if _, err := srv.RegisterNode(context.Background(), node); err != nil {
			t.Fatal(err)
		}
	}
}

// Verdict is what a stand-in client reports about an allocation the
// servers want running: its client status and its health in its
// deployment (nil: none reported).
type Verdict func(a *structs.Allocation) (status string, healthy *bool)

// Healthy reports every allocation running and healthy, except those of
// groups whose update block says health_check = "manual" (operators decide
// those), which are only running.
func Healthy(a *structs.Allocation) (string, *bool) {
	if a.Job != nil {
		if tg := a.Job.LookupTaskGroup(a.TaskGroup); tg != nil && tg.Update != nil && tg.Update.HealthCheck == "manual" {
			return structs.AllocClientStatusRunning, nil
		}
	}
	yes := true
	return structs.AllocClientStatusRunning, &yes
}

// StandInClient plays the clients of every node until the test ends: each
// allocation told to stop is reported complete, each meant to run is
// reported as verdict says. It stands in for real clients in tests of the
// layers above the server; the e2e tests run real ones.
func StandInClient(t testing.TB, srv *server.Server, verdict Verdict) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			report(ctx, srv, verdict)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func report(ctx context.Context, srv *server.Server, verdict Verdict) {
	allocs, err := srv.State().AllocsByIDPrefix(nil, "*", "")
	if err != nil || !srv.IsLeader() {
		return
	}
	var ups []*structs.Allocation
	for _, a := range allocs {
		if a.ClientTerminalStatus() {
			continue
		}
		if a.DesiredStatus != structs.AllocDesiredStatusRun {
			ups = append(ups, &structs.Allocation{ID: a.ID, ClientStatus: structs.AllocClientStatusComplete})
			continue
		}
		status, healthy := verdict(a)
		if status == a.ClientStatus && (healthy == nil || a.DeploymentStatus.HealthSet()) {
			continue
		}
		u := &structs.Allocation{ID: a.ID, DeploymentID: a.DeploymentID, ClientStatus: status}
		if healthy != nil && !a.DeploymentStatus.HealthSet() {
			u.DeploymentStatus = &structs.AllocDeploymentStatus{Healthy: healthy}
		}
		ups = append(ups, u)
	}
	if len(ups) > 0 {
		_, _ = srv.UpdateAllocsFromClient(ctx, ups)
	}
}
