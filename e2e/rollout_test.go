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

// rollJob is a 5-instance service rolled out two at a time behind one
// canary, reverting automatically when a version fails. script is what
// each instance runs.
func rollJob(script string) string {
	return fmt.Sprintf(`job "roll" {
  datacenters = ["*"]
  update {
    max_parallel      = 2
    canary            = 1
    auto_revert       = true
    health_check      = "task_states"
    min_healthy_time  = "1s"
    healthy_deadline  = "30s"
    progress_deadline = "2m"
  }
  group "web" {
    count = 5
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", %q]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, script)
}

// runningSampler samples, every 100 ms, how many of a job's instances are
// running and meant to keep running.
type runningSampler struct {
	mu      sync.Mutex
	min     int
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func sampleRunning(t *testing.T, a *agentProc, jobID string) *runningSampler {
	s := &runningSampler{min: 1 << 30, stop: make(chan struct{}), done: make(chan struct{})}
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
			var allocs []*structs.AllocListStub
			if err := getJSON(a.addr()+"/v1/job/"+jobID+"/allocations", &allocs); err != nil {
				continue
			}
			n := 0
			for _, al := range allocs {
				if al.ClientStatus == structs.AllocClientStatusRunning && al.DesiredStatus == structs.AllocDesiredStatusRun {
					n++
				}
			}
			s.mu.Lock()
			s.samples++
			s.min = min(s.min, n)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *runningSampler) finish() (minRunning, samples int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.min, s.samples
}

func writeJob(t *testing.T, name, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// latestDeployment reads the job's newest deployment.
func latestDeployment(a *agentProc, jobID string) *structs.Deployment {
	var d *structs.Deployment
	if err := getJSON(a.addr()+"/v1/job/"+jobID+"/deployment", &d); err != nil {
		return nil
	}
	return d
}

// TestRollingUpdateCanaryAutoRevert is issue 10's rollout: a good version
// rolls out two at a time after its canary is promoted, a bad one fails
// its deployment and the job reverts to the last stable version, and at no
// sampled moment are fewer than 3 of the 5 instances running.
func TestRollingUpdateCanaryAutoRevert(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)

	// Version 0: the first deployment places all five, no canary.
	out, code := a.cli(t, "job", "run", writeJob(t, "v0.hcl", rollJob("echo v0; exec sleep 3600")))
	if code != 0 || !strings.Contains(out, "Deployment completed successfully") {
		t.Fatalf("job run v0: exit %d\n%s", code, out)
	}
	waitAllocs(t, a, "roll", 5, structs.AllocClientStatusRunning, 30*time.Second)
	sampler := sampleRunning(t, a, "roll")

	// Version 1, good: one canary beside the five, held for promotion.
	if out, code := a.cli(t, "job", "run", "-detach", writeJob(t, "v1.hcl", rollJob("echo v1; exec sleep 3600"))); code != 0 {
		t.Fatalf("job run v1: exit %d\n%s", code, out)
	}
	var d *structs.Deployment
	waitFor(t, 60*time.Second, "healthy canary of version 1", func() (bool, string) {
		d = latestDeployment(a, "roll")
		if d == nil || d.JobVersion != 1 {
			return false, fmt.Sprintf("%+v", d)
		}
		st := d.TaskGroups["web"]
		return st.HealthyAllocs == 1 && len(st.PlacedCanaries) == 1, fmt.Sprintf("%s %+v", d.Status, st)
	})
	if d.Status != structs.DeploymentStatusRunning || d.StatusDescription != structs.DeploymentDescRunningNeedsPromotion {
		t.Fatalf("canary deployment: %s %q", d.Status, d.StatusDescription)
	}
	if n := len(liveAllocsOf(a, "roll")); n != 6 {
		t.Fatalf("%d live allocations beside the canary, want 6", n)
	}
	if out, code := a.cli(t, "deployment", "promote", "-detach", d.ID[:8]); code != 0 {
		t.Fatalf("deployment promote: exit %d\n%s", code, out)
	}
	out, code = a.cli(t, "deployment", "status", "-monitor", d.ID)
	if code != 0 || !strings.Contains(out, "successful") {
		t.Fatalf("promoted deployment: exit %d\n%s", code, out)
	}
	for _, al := range liveAllocsOf(a, "roll") {
		if al.JobVersion != 1 {
			t.Fatalf("alloc %s still at version %d after the rollout", al.Name, al.JobVersion)
		}
	}

	// Version 2, bad: its canary exits at once; the deployment fails and
	// the job goes back to version 1's spec as version 3.
	out, code = a.cli(t, "job", "run", writeJob(t, "v2.hcl", rollJob("echo v2; exit 1")))
	if code != 1 {
		t.Fatalf("job run of a failing version: exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "Failed due to unhealthy allocations - rolling back to job version 1") {
		t.Fatalf("job run did not report the rollback:\n%s", out)
	}
	waitFor(t, 60*time.Second, "the rollback deployment to succeed", func() (bool, string) {
		d := latestDeployment(a, "roll")
		return d != nil && d.JobVersion == 3 && d.Status == structs.DeploymentStatusSuccessful, fmt.Sprintf("%+v", d)
	})
	live := liveAllocsOf(a, "roll")
	if len(live) != 5 {
		t.Fatalf("%d live allocations after the rollback, want 5", len(live))
	}
	for _, al := range live {
		if al.JobVersion != 3 || al.ClientStatus != structs.AllocClientStatusRunning {
			t.Fatalf("after the rollback: alloc %s version %d %s", al.Name, al.JobVersion, al.ClientStatus)
		}
	}
	hist, code := a.cli(t, "job", "history", "roll")
	if code != 0 || !strings.Contains(hist, "Version     = 3\nStable      = true") {
		t.Fatalf("job history after the rollback: exit %d\n%s", code, hist)
	}

	minRunning, samples := sampler.finish()
	t.Logf("%d samples, at least %d instances running at every one", samples, minRunning)
	if samples < 20 || minRunning < 3 {
		t.Fatalf("%d samples, minimum %d running instances: want at least 3 at every sample", samples, minRunning)
	}
}

// liveAllocsOf lists the job's allocations meant to run.
func liveAllocsOf(a *agentProc, jobID string) []*structs.AllocListStub {
	var allocs []*structs.AllocListStub
	if err := getJSON(a.addr()+"/v1/job/"+jobID+"/allocations", &allocs); err != nil {
		return nil
	}
	var out []*structs.AllocListStub
	for _, al := range allocs {
		switch al.ClientStatus {
		case structs.AllocClientStatusComplete, structs.AllocClientStatusFailed, structs.AllocClientStatusLost:
			continue
		}
		if al.DesiredStatus == structs.AllocDesiredStatusRun {
			out = append(out, al)
		}
	}
	return out
}

// TestDeploymentWatcherSurvivesLeaderKill: the leader that saw a rollout
// start is killed; the new leader's watcher, knowing the deployment only
// from replicated state, fails it at its progress deadline and reverts the
// job to its stable version.
func TestDeploymentWatcherSurvivesLeaderKill(t *testing.T) {
	var servers []*agentProc
	first := newIP()
	for i := 0; i < 3; i++ {
		ip := first
		args := []string{"-server", "-bootstrap-expect", "3"}
		if i > 0 {
			ip = newIP()
			args = append(args, "-join", first)
		}
		servers = append(servers, startAgent(t, ip, t.TempDir(), args...))
	}
	cfg := writeJob(t, "client.hcl", "plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n")
	startAgent(t, newIP(), t.TempDir(), "-client", "-servers", first, "-config", cfg)
	for _, s := range servers {
		waitReady(t, s, 1)
	}
	// health_check = "manual": nothing but the operator (this test) makes
	// an allocation healthy, so the rollout stalls where the test wants.
	job := func(arg string) string {
		return fmt.Sprintf(`job "wd" {
  datacenters = ["*"]
  update {
    max_parallel      = 1
    health_check      = "manual"
    min_healthy_time  = "0s"
    healthy_deadline  = "10s"
    progress_deadline = "15s"
    auto_revert       = true
  }
  group "g" {
    count = 2
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = [%q]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, arg)
	}
	a := servers[0]
	if out, code := a.cli(t, "job", "run", "-detach", writeJob(t, "v0.hcl", job("3600"))); code != 0 {
		t.Fatalf("job run v0: exit %d\n%s", code, out)
	}
	var d0 *structs.Deployment
	waitFor(t, 30*time.Second, "version 0 placed", func() (bool, string) {
		d0 = latestDeployment(a, "wd")
		return d0 != nil && d0.TaskGroups["g"].PlacedAllocs == 2, fmt.Sprintf("%+v", d0)
	})
	var ids []string
	for _, al := range liveAllocsOf(a, "wd") {
		ids = append(ids, al.ID)
	}
	if _, err := a.api(t).Deployments().SetAllocHealth(t.Context(), d0.ID, ids, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "version 0 successful", func() (bool, string) {
		d := latestDeployment(a, "wd")
		return d != nil && d.Status == structs.DeploymentStatusSuccessful, fmt.Sprintf("%+v", d)
	})

	if out, code := a.cli(t, "job", "run", "-detach", writeJob(t, "v1.hcl", job("3601"))); code != 0 {
		t.Fatalf("job run v1: exit %d\n%s", code, out)
	}
	waitFor(t, 30*time.Second, "version 1 rollout started", func() (bool, string) {
		d := latestDeployment(a, "wd")
		return d != nil && d.JobVersion == 1 && d.TaskGroups["g"].PlacedAllocs == 1, fmt.Sprintf("%+v", d)
	})
	var leader string
	if err := getJSON(a.addr()+"/v1/status/leader", &leader); err != nil {
		t.Fatal(err)
	}
	var rest []*agentProc
	for _, s := range servers {
		if leader == s.ip+":4647" {
			s.kill()
			continue
		}
		rest = append(rest, s)
	}
	if len(rest) != 2 {
		t.Fatalf("leader %q not among the servers", leader)
	}
	survivor := rest[0]
	waitFor(t, 60*time.Second, "the new leader to fail the deployment and revert", func() (bool, string) {
		var deps []*structs.Deployment
		if err := getJSON(survivor.addr()+"/v1/job/wd/deployments", &deps); err != nil {
			return false, err.Error()
		}
		for _, d := range deps {
			if d.JobVersion == 1 && d.Status == structs.DeploymentStatusFailed {
				want := structs.DeploymentDescRollback(structs.DeploymentDescProgressDeadline, 0)
				if d.StatusDescription != want {
					t.Fatalf("failed with %q, want %q", d.StatusDescription, want)
				}
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d deployments", len(deps))
	})
	var j structs.Job
	waitFor(t, 30*time.Second, "the reverted version", func() (bool, string) {
		if err := getJSON(survivor.addr()+"/v1/job/wd", &j); err != nil {
			return false, err.Error()
		}
		return j.Version == 2, fmt.Sprintf("version %d", j.Version)
	})
	if args := j.TaskGroups[0].Tasks[0].Config["args"]; fmt.Sprint(args) != "[3600]" {
		t.Fatalf("reverted job runs %v, want version 0's [3600]", args)
	}
}

// checkedRollJob is rollJob whose health is its service check: the task
// runs script, and a script check passes only while local/ok exists.
func checkedRollJob(script string) string {
	return fmt.Sprintf(`job "rollcheck" {
  datacenters = ["*"]
  update {
    max_parallel      = 2
    canary            = 1
    auto_revert       = true
    health_check      = "checks"
    min_healthy_time  = "1s"
    healthy_deadline  = "8s"
    progress_deadline = "2m"
  }
  group "web" {
    count = 5
    task "server" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", %q]
      }
      service {
        name     = "rollcheck"
        provider = "nomad"
        check {
          name     = "ok-file"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "test -f local/ok"]
          interval = "500ms"
          timeout  = "2s"
        }
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, script)
}

// TestRollingUpdateFailingCheckAutoRevert: a version whose tasks run but
// whose service check fails never turns healthy (health_check = "checks");
// its canary misses the healthy deadline, the deployment fails and the job
// reverts, with at least 3 of 5 instances running at every sample.
func TestRollingUpdateFailingCheckAutoRevert(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)
	out, code := a.cli(t, "job", "run", writeJob(t, "v0.hcl", checkedRollJob("touch local/ok; exec sleep 3600")))
	if code != 0 || !strings.Contains(out, "Deployment completed successfully") {
		t.Fatalf("job run v0: exit %d\n%s", code, out)
	}
	sampler := sampleRunning(t, a, "rollcheck")

	start := time.Now()
	out, code = a.cli(t, "job", "run", writeJob(t, "v1.hcl", checkedRollJob("exec sleep 3600")))
	if code != 1 || !strings.Contains(out, "Failed due to unhealthy allocations - rolling back to job version 0") {
		t.Fatalf("job run of a version failing its check: exit %d\n%s", code, out)
	}
	// The canary ran: it failed its check, not its task.
	var failed *structs.Deployment
	var deps []*structs.Deployment
	if err := getJSON(a.addr()+"/v1/job/rollcheck/deployments", &deps); err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		if d.JobVersion == 1 {
			failed = d
		}
	}
	if failed == nil || len(failed.TaskGroups["web"].PlacedCanaries) != 1 {
		t.Fatalf("failed deployment: %+v", failed)
	}
	var canary structs.Allocation
	if err := getJSON(a.addr()+"/v1/allocation/"+failed.TaskGroups["web"].PlacedCanaries[0], &canary); err != nil {
		t.Fatal(err)
	}
	if ts := canary.TaskStates["server"]; ts == nil || ts.Failed || ts.Restarts != 0 {
		t.Fatalf("the canary's task did not simply keep running: %+v", ts)
	}
	if waited := time.Since(start); waited < 8*time.Second {
		t.Fatalf("deployment failed after %s, before the canary's 8s healthy deadline", waited)
	}
	waitFor(t, 60*time.Second, "the rollback deployment to succeed", func() (bool, string) {
		d := latestDeployment(a, "rollcheck")
		return d != nil && d.JobVersion == 2 && d.Status == structs.DeploymentStatusSuccessful, fmt.Sprintf("%+v", d)
	})
	minRunning, samples := sampler.finish()
	t.Logf("%d samples, at least %d instances running at every one", samples, minRunning)
	if samples < 20 || minRunning < 3 {
		t.Fatalf("%d samples, minimum %d running instances: want at least 3 at every sample", samples, minRunning)
	}
}
