package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

// runUnplaceable submits a job file with `orch job run` (monitoring, not
// detached), which exits 2 when placements fail, and returns its output.
func runUnplaceable(t *testing.T, a *agentProc, jt *jobTracker, jobID, hcl string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), jobID+".nomad.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	jt.add(jobID)
	out, code := a.cli(t, "job", "run", path)
	if code != 2 {
		t.Fatalf("job run %s: exit %d, want 2 (placement failed)\n%s", jobID, code, out)
	}
	return out
}

// latestFailure returns the failed-placement metric of the job's latest
// evaluation with one, as the stock nomad/api client decodes it.
func latestFailure(t *testing.T, c *nomad.Client, jobID, group string) *nomad.AllocationMetric {
	t.Helper()
	var m *nomad.AllocationMetric
	waitFor(t, 20*time.Second, "failed placement of "+jobID, func() (bool, string) {
		evals, _, err := c.Jobs().Evaluations(jobID, nil)
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evals {
			if fm := e.FailedTGAllocs[group]; fm != nil {
				m = fm
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d evals without failures", len(evals))
	})
	return m
}

func nomadClient(t *testing.T, a *agentProc) *nomad.Client {
	t.Helper()
	c, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPlacementRefusalsNameWhatIsMissingE2E: on a real agent, a job asking
// for more cores than the node has, for a GPU it lacks or for a host
// volume it does not offer is not placed, and the failure (CLI and API)
// names the cores, the device and the volume.
func TestPlacementRefusalsNameWhatIsMissingE2E(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	c := nomadClient(t, a)
	task := func(extra string) string {
		return `    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
` + extra + `
    }`
	}
	cases := []struct {
		job, group, task, want string
		check                  func(*nomad.AllocationMetric) bool
	}{
		{"too-many-cores", "", task("      resources {\n        cores = 512\n      }"),
			`Dimension "cores" exhausted on 1 nodes`,
			func(m *nomad.AllocationMetric) bool { return m.DimensionExhausted["cores"] == 1 }},
		{"no-gpu", "", task("      resources {\n        device \"nvidia/gpu\" {\n          count = 1\n        }\n      }"),
			`Constraint "missing devices: nvidia/gpu": 1 nodes excluded by filter`,
			func(m *nomad.AllocationMetric) bool { return m.ConstraintFiltered["missing devices: nvidia/gpu"] == 1 }},
		{"no-volume", "    volume \"v\" {\n      type   = \"host\"\n      source = \"scratch\"\n    }\n", task(""),
			`Constraint "missing compatible host volumes: scratch": 1 nodes excluded by filter`,
			func(m *nomad.AllocationMetric) bool {
				return m.ConstraintFiltered["missing compatible host volumes: scratch"] == 1
			}},
	}
	for _, tc := range cases {
		hcl := fmt.Sprintf("job %q {\n  group \"g\" {\n%s%s\n  }\n}\n", tc.job, tc.group, tc.task)
		out := runUnplaceable(t, a, jt, tc.job, hcl)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%s: CLI output lacks %q:\n%s", tc.job, tc.want, out)
		}
		if m := latestFailure(t, c, tc.job, "g"); !tc.check(m) {
			t.Errorf("%s: API metric %+v", tc.job, m)
		}
		if allocs := jobAllocs(t, a, tc.job); len(allocs) != 0 {
			t.Errorf("%s: %d allocations placed", tc.job, len(allocs))
		}
	}
}

// fakeNvidiaSMI is an nvidia-smi that reports two T4 GPUs, for a host
// without GPUs: the agent's real fingerprinter runs it from PATH.
func fakeNvidiaSMI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	script := `#!/bin/sh
case "$1" in --query-gpu=*) ;; *) exit 2;; esac
echo "GPU-e2e-0, Tesla T4, 15360, 70.00, 535.104.05, 1590, 5001, 00000000:3B:00.0, Disabled, Enabled, 3, 16"
echo "GPU-e2e-1, Tesla T4, 15360, 70.00, 535.104.05, 1590, 5001, 00000000:5E:00.0, Disabled, Enabled, 3, 16"
`
	if err := os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGPUDevicesGrantedE2E: an agent whose nvidia-smi reports two GPUs
// shows them in its node (nomad/api's NodeDeviceResource); a job asking
// one GPU per allocation gets each GPU once, and the third allocation is
// refused naming the device.
func TestGPUDevicesGrantedE2E(t *testing.T) {
	bin := fakeNvidiaSMI(t)
	a := startAgentEnv(t, []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	devs := nodeResources(t, a).Devices
	if len(devs) != 1 || devs[0].ID() != "nvidia/gpu/Tesla T4" || len(devs[0].Instances) != 2 ||
		devs[0].Attributes["memory"].String() != "15360 MiB" {
		t.Fatalf("node devices %+v", devs)
	}

	out := runUnplaceable(t, a, jt, "gpu", `job "gpu" {
  group "g" {
    count = 3
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo visible=$NVIDIA_VISIBLE_DEVICES; sleep 600"]
      }
      resources {
        cpu    = 50
        memory = 32
        device "nvidia/gpu" {
          constraint {
            attribute = "${device.attr.memory}"
            operator  = ">="
            value     = "14 GiB"
          }
        }
      }
    }
  }
}
`)
	if !strings.Contains(out, `Dimension "devices: nvidia/gpu" exhausted on 1 nodes`) {
		t.Fatalf("third placement's failure does not name the device:\n%s", out)
	}
	var granted []string
	for _, stub := range waitAllocs(t, a, "gpu", 2, structs.AllocClientStatusRunning, 30*time.Second) {
		al, err := getAlloc(a, stub.ID)
		if err != nil {
			t.Fatal(err)
		}
		devs := al.AllocatedResources.Tasks["t"].Devices
		if len(devs) != 1 || devs[0].ID() != "nvidia/gpu/Tesla T4" || len(devs[0].DeviceIDs) != 1 {
			t.Fatalf("granted %+v", devs)
		}
		granted = append(granted, devs[0].DeviceIDs...)
		// The task sees its GPU as the NVIDIA runtime and CUDA expect.
		taskLogUntil(t, a, stub.ID, "t", "visible="+devs[0].DeviceIDs[0]+"\n")
	}
	slices.Sort(granted)
	if !slices.Equal(granted, []string{"GPU-e2e-0", "GPU-e2e-1"}) {
		t.Fatalf("granted %v, want each GPU once", granted)
	}
}

// TestCoresPinnedE2E: on a real agent, allocations reserving a core each
// get distinct cores, run pinned to them, and once the node's cores are
// taken the next is refused naming cores.
func TestCoresPinnedE2E(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	res := nodeResources(t, a)
	cores := res.Cpu.ReservableCpuCores
	if len(cores) == 0 || int(res.Cpu.TotalCpuCores) != len(cores) {
		t.Fatalf("node cpu %+v", res.Cpu)
	}
	out := runUnplaceable(t, a, jt, "pinned", fmt.Sprintf(`job "pinned" {
  group "g" {
    count = %d
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "grep Cpus_allowed_list /proc/self/status; sleep 600"]
      }
      resources {
        cores  = 1
        memory = 32
      }
    }
  }
}
`, len(cores)+1))
	if !strings.Contains(out, `Dimension "cores" exhausted on 1 nodes`) {
		t.Fatalf("the placement past the node's cores does not name cores:\n%s", out)
	}
	seen := map[uint16]bool{}
	for _, stub := range waitAllocs(t, a, "pinned", len(cores), structs.AllocClientStatusRunning, 30*time.Second) {
		al, err := getAlloc(a, stub.ID)
		if err != nil {
			t.Fatal(err)
		}
		tr := al.AllocatedResources.Tasks["t"]
		if len(tr.Cpu.ReservedCores) != 1 || seen[tr.Cpu.ReservedCores[0]] {
			t.Fatalf("cores %v (seen %v)", tr.Cpu.ReservedCores, seen)
		}
		core := tr.Cpu.ReservedCores[0]
		seen[core] = true
		logs := taskLogUntil(t, a, stub.ID, "t", "Cpus_allowed_list")
		if want := fmt.Sprintf("Cpus_allowed_list:\t%d\n", core); !strings.Contains(logs, want) {
			t.Fatalf("task on core %d runs with %q", core, logs)
		}
	}
}

// TestPlacementPreferencesE2E: a server and two clients, in dc1 and dc2,
// the second with a rack meta and a host volume. A spread's targets share a
// group 3/1 between the datacenters (anti-affinity alone would split it
// 2/2), an affinity puts 3 of a group's 4 allocations on the rack it names
// (anti-affinity alone would split them 2/2), and a group mounting the
// host volume goes only to the client that has it.
func TestPlacementPreferencesE2E(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1")
	vol := t.TempDir()
	cfg2 := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg2, []byte(fmt.Sprintf(`plugin "raw_exec" {
  config {
    enabled = true
  }
}
client {
  meta = { rack = "r2" }
  host_volume "data" {
    path = %q
  }
}
`, vol)), 0o644); err != nil {
		t.Fatal(err)
	}
	c1 := startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-dc", "dc1", "-config", rawExecConfig(t))
	c2 := startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-dc", "dc2", "-config", cfg2)
	jt := trackJobs(t, srv)
	waitReady(t, srv, 2)
	nodeOf := map[string]string{}
	for _, n := range mustNodes(t, srv) {
		nodeOf[n.ID] = n.Name
	}
	placedOn := func(jobID string, n int) map[string]int {
		t.Helper()
		out := map[string]int{}
		for _, a := range waitAllocs(t, srv, jobID, n, structs.AllocClientStatusRunning, 30*time.Second) {
			out[nodeOf[a.NodeID]]++
		}
		return out
	}
	name1, name2 := "agent-"+c1.ip, "agent-"+c2.ip
	group := func(count int, extra string) string {
		return fmt.Sprintf(`  group "g" {
    count = %d
%s
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
  }`, count, extra)
	}

	jt.run("spread", `job "spread" {
  datacenters = ["dc1", "dc2"]
  spread {
    attribute = "${node.datacenter}"
    target "dc1" {
      percent = 75
    }
    target "dc2" {
      percent = 25
    }
  }
`+group(4, "")+"\n}\n")
	if got := placedOn("spread", 4); got[name1] != 3 || got[name2] != 1 {
		t.Errorf("spread 75/25 over 4: %v", got)
	}

	jt.run("affinity", `job "affinity" {
  datacenters = ["dc1", "dc2"]
`+group(4, `    affinity {
      attribute = "${meta.rack}"
      value     = "r2"
      weight    = 100
    }`)+"\n}\n")
	// The job's anti-affinity still counts: the fourth goes to the other
	// node, as in Nomad.
	if got := placedOn("affinity", 4); got[name2] != 3 || got[name1] != 1 {
		t.Errorf("affinity for rack r2: %v", got)
	}

	jt.run("volume", `job "volume" {
  datacenters = ["dc1", "dc2"]
`+group(3, `    volume "d" {
      type      = "host"
      source    = "data"
      read_only = true
    }`)+"\n}\n")
	if got := placedOn("volume", 3); got[name2] != 3 {
		t.Errorf("host volume only on %s: %v", name2, got)
	}
}

// nodeResources reads the agent's one node's resources with nomad/api's
// type for them.
func nodeResources(t *testing.T, a *agentProc) *nomad.NodeResources {
	t.Helper()
	nodes := mustNodes(t, a)
	if len(nodes) != 1 {
		t.Fatalf("%d nodes", len(nodes))
	}
	var node struct{ NodeResources *nomad.NodeResources }
	if err := getJSON(a.addr()+"/v1/node/"+nodes[0].ID, &node); err != nil || node.NodeResources == nil {
		t.Fatalf("node: %v", err)
	}
	return node.NodeResources
}

func mustNodes(t *testing.T, a *agentProc) []*structs.NodeListStub {
	t.Helper()
	var nodes []*structs.NodeListStub
	if err := getJSON(a.addr()+"/v1/nodes", &nodes); err != nil {
		t.Fatal(err)
	}
	return nodes
}
