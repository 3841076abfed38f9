package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

const drainJob = `job "drainme" {
  datacenters = ["*"]
  update {
    health_check      = "task_states"
    min_healthy_time  = "1s"
    healthy_deadline  = "1m"
    progress_deadline = "2m"
  }
  migrate {
    max_parallel     = 1
    health_check     = "task_states"
    min_healthy_time = "1s"
    healthy_deadline = "1m"
  }
  group "a" {
    count = 3
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
  group "b" {
    count = 3
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`

const drainSystemJob = `job "drainsys" {
  datacenters = ["*"]
  type        = "system"
  group "s" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`

// drainSample is what one look at the cluster found during a drain.
type drainSample struct {
	running map[string]int // group -> allocations running and meant to
	// sysStoppedEarly: the system allocation on the drained node was
	// stopped while service allocations were still meant to run there.
	sysStoppedEarly bool
}

// TestNodeDrainMigratesMaxParallel is issue 10's drain: a service job with
// two groups of 3, migrate { max_parallel = 1 }, all on one node; the node
// is drained through the CLI (which monitors it to the end) while two other
// clients take the work. Sampled every 100 ms, no group ever has fewer
// than 2 of its 3 allocations running; the system job's allocation leaves
// last; the node ends ineligible with its drain complete.
func TestNodeDrainMigratesMaxParallel(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1")
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte("plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-config", cfg)
	waitReady(t, srv, 1)
	for _, src := range []string{drainJob, drainSystemJob} {
		if out, code := srv.cli(t, "job", "run", "-detach", writeJob(t, "job.hcl", src)); code != 0 {
			t.Fatalf("job run: exit %d\n%s", code, out)
		}
	}
	var drained string
	waitFor(t, 60*time.Second, "6 healthy allocations and the system one", func() (bool, string) {
		healthy := 0
		for _, a := range jobAllocs(t, srv, "drainme") {
			if a.ClientStatus == structs.AllocClientStatusRunning && a.DeploymentStatus.IsHealthy() {
				healthy++
				drained = a.NodeID
			}
		}
		sys := waitAllocsNow(t, srv, "drainsys")
		return healthy == 6 && sys == 1, fmt.Sprintf("%d healthy, %d system running", healthy, sys)
	})
	for i := 0; i < 2; i++ {
		startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-config", cfg)
	}
	waitReady(t, srv, 3)

	samples := sampleDrain(t, srv, drained)
	out, code := srv.cli(t, "node", "drain", "-enable", "-yes", "-deadline", "5m", drained[:8])
	got := samples.finish()
	if code != 0 {
		t.Fatalf("node drain: exit %d\n%s", code, out)
	}
	for _, want := range []string{"drain strategy set", "marked for migration", "Drain complete for node " + drained,
		fmt.Sprintf("All allocations on node %q have stopped", drained)} {
		if !strings.Contains(out, want) {
			t.Errorf("node drain output lacks %q:\n%s", want, out)
		}
	}
	if len(got) < 10 {
		t.Fatalf("only %d samples during the drain", len(got))
	}
	for i, s := range got {
		for _, g := range []string{"a", "b"} {
			if s.running[g] < 2 {
				t.Fatalf("sample %d: group %s had %d of 3 allocations running (max_parallel = 1)", i, g, s.running[g])
			}
		}
		if s.sysStoppedEarly {
			t.Fatalf("sample %d: the system allocation left before the service ones", i)
		}
	}
	t.Logf("drain of 6 allocations took %d samples (~%s)", len(got), time.Duration(len(got))*100*time.Millisecond)

	var node structs.Node
	if err := getJSON(srv.addr()+"/v1/node/"+drained, &node); err != nil {
		t.Fatal(err)
	}
	if node.SchedulingEligibility != structs.NodeSchedulingIneligible || node.Drain || node.DrainStrategy != nil ||
		node.LastDrain == nil || node.LastDrain.Status != structs.DrainStatusComplete {
		t.Fatalf("drained node: eligibility %s drain %v strategy %+v last %+v", node.SchedulingEligibility, node.Drain,
			node.DrainStrategy, node.LastDrain)
	}
	for _, a := range jobAllocs(t, srv, "drainme") {
		if a.NodeID == drained && !isTerminalStub(a) {
			t.Fatalf("allocation %s still live on the drained node", a.Name)
		}
	}
	// Eligible again: the system job comes back to the node.
	if out, code := srv.cli(t, "node", "eligibility", "-enable", drained); code != 0 || !strings.Contains(out, "eligible for scheduling") {
		t.Fatalf("node eligibility: exit %d\n%s", code, out)
	}
	waitFor(t, 30*time.Second, "the system job back on the node", func() (bool, string) {
		n := 0
		for _, a := range jobAllocs(t, srv, "drainsys") {
			if a.NodeID == drained && a.ClientStatus == structs.AllocClientStatusRunning && a.DesiredStatus == structs.AllocDesiredStatusRun {
				n++
			}
		}
		return n == 1, fmt.Sprint(n)
	})
	srv.cli(t, "job", "stop", "-purge", "drainme")
	srv.cli(t, "job", "stop", "-purge", "drainsys")
}

func isTerminalStub(a *structs.AllocListStub) bool {
	switch a.ClientStatus {
	case structs.AllocClientStatusComplete, structs.AllocClientStatusFailed, structs.AllocClientStatusLost:
		return true
	}
	return a.DesiredStatus != structs.AllocDesiredStatusRun
}

// waitAllocsNow counts a job's running allocations meant to run.
func waitAllocsNow(t *testing.T, a *agentProc, jobID string) int {
	n := 0
	for _, al := range jobAllocs(t, a, jobID) {
		if al.ClientStatus == structs.AllocClientStatusRunning && al.DesiredStatus == structs.AllocDesiredStatusRun {
			n++
		}
	}
	return n
}

type drainSampler struct {
	mu      sync.Mutex
	samples []drainSample
	stop    chan struct{}
	done    chan struct{}
}

func sampleDrain(t *testing.T, a *agentProc, nodeID string) *drainSampler {
	s := &drainSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			var allocs, sys []*structs.AllocListStub
			if getJSON(a.addr()+"/v1/job/drainme/allocations", &allocs) != nil ||
				getJSON(a.addr()+"/v1/job/drainsys/allocations", &sys) != nil {
				continue
			}
			d := drainSample{running: map[string]int{}}
			serviceLeft := false
			for _, al := range allocs {
				if al.ClientStatus == structs.AllocClientStatusRunning && al.DesiredStatus == structs.AllocDesiredStatusRun {
					d.running[al.TaskGroup]++
				}
				if al.NodeID == nodeID && !isTerminalStub(al) {
					serviceLeft = true
				}
			}
			for _, al := range sys {
				if al.NodeID == nodeID && isTerminalStub(al) && serviceLeft {
					d.sysStoppedEarly = true
				}
			}
			s.mu.Lock()
			s.samples = append(s.samples, d)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *drainSampler) finish() []drainSample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}
