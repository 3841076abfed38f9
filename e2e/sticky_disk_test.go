package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// stickyJob is a job whose task appends its version to alloc/data/history
// and local/history (the files a sticky disk carries over), then sleeps.
// Each version pins the group to a node name and changes the task's
// arguments, so every version is a destructive update.
func stickyJob(disk, node string, version int) string {
	script := fmt.Sprintf(`echo v%[1]d >> "$NOMAD_ALLOC_DIR/data/history"; echo v%[1]d >> "$NOMAD_TASK_DIR/history"; exec sleep 600`, version)
	return fmt.Sprintf(`job "sticky" {
  datacenters = ["*"]
  group "g" {
    ephemeral_disk {
      %s
      size = 150
    }
    constraint {
      attribute = "${node.unique.name}"
      value     = %q
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", %q]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`, disk, node, script)
}

// runningVersion waits for the job's allocation of the given version to
// run and returns it.
func runningVersion(t *testing.T, a *agentProc, version uint64) *structs.AllocListStub {
	t.Helper()
	var got *structs.AllocListStub
	waitFor(t, 60*time.Second, fmt.Sprintf("version %d running", version), func() (bool, string) {
		var states []string
		for _, al := range jobAllocs(t, a, "sticky") {
			states = append(states, fmt.Sprintf("v%d:%s/%s", al.JobVersion, al.DesiredStatus, al.ClientStatus))
			if al.JobVersion == version && al.ClientStatus == structs.AllocClientStatusRunning {
				got = al
				return true, ""
			}
		}
		return false, strings.Join(states, " ")
	})
	return got
}

// historyOf reads the files the job wrote in an allocation's directory.
func historyOf(t *testing.T, dataDir, allocID string) (data, local string) {
	t.Helper()
	root := filepath.Join(dataDir, "alloc", allocID)
	waitFor(t, 10*time.Second, "history files written", func() (bool, string) {
		d, err1 := os.ReadFile(filepath.Join(root, "alloc/data/history"))
		l, err2 := os.ReadFile(filepath.Join(root, "t/local/history"))
		data, local = string(d), string(l)
		return err1 == nil && err2 == nil, fmt.Sprint(err1, err2)
	})
	return data, local
}

func runSticky(t *testing.T, a *agentProc, src string) {
	t.Helper()
	if out, code := a.cli(t, "job", "run", "-detach", writeJob(t, "sticky.hcl", src)); code != 0 {
		t.Fatalf("job run: exit %d\n%s", code, out)
	}
}

// TestStickyDiskE2E: with ephemeral_disk { sticky = true } a destructive
// update replaces the allocation on the same node and the new version
// finds what the old one wrote in alloc/data and local/; without sticky
// it starts empty.
func TestStickyDiskE2E(t *testing.T) {
	ip := newIP()
	dataDir := t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev", "-config", rawExecConfig(t))
	jt := trackJobs(t, a)
	jt.add("sticky")
	waitReady(t, a, 1)
	node := "agent-" + ip

	runSticky(t, a, stickyJob("sticky = true", node, 1))
	v0 := runningVersion(t, a, 0)
	runSticky(t, a, stickyJob("sticky = true", node, 2))
	v1 := runningVersion(t, a, 1)
	if v1.ID == v0.ID || v1.NodeID != v0.NodeID {
		t.Fatalf("replacement %s on %s, previous %s on %s", v1.ID, v1.NodeID, v0.ID, v0.NodeID)
	}
	data, local := historyOf(t, dataDir, v1.ID)
	if data != "v1\nv2\n" || local != "v1\nv2\n" {
		t.Fatalf("sticky: alloc/data/history %q, local/history %q; want v1 then v2", data, local)
	}

	// Without sticky the next version starts on an empty disk.
	runSticky(t, a, stickyJob("sticky = false", node, 3))
	v2 := runningVersion(t, a, 2)
	if data, local := historyOf(t, dataDir, v2.ID); data != "v3\n" || local != "v3\n" {
		t.Fatalf("not sticky: alloc/data/history %q, local/history %q; want v3 only", data, local)
	}
}

// TestMigrateDiskE2E: with ephemeral_disk { migrate = true } a replacement
// placed on another client fetches the previous allocation's data from the
// previous client (over its HTTP API, with the token the servers gave it);
// nobody else can fetch it.
func TestMigrateDiskE2E(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1")
	jt := trackJobs(t, srv)
	jt.add("sticky")
	cfg := rawExecConfig(t)
	ipA, ipB := newIP(), newIP()
	dirA, dirB := t.TempDir(), t.TempDir()
	startAgent(t, ipA, dirA, "-client", "-servers", srvIP, "-config", cfg)
	startAgent(t, ipB, dirB, "-client", "-servers", srvIP, "-config", cfg)
	waitReady(t, srv, 2)

	runSticky(t, srv, stickyJob("migrate = true", "agent-"+ipA, 1))
	v0 := runningVersion(t, srv, 0)
	if data, _ := historyOf(t, dirA, v0.ID); data != "v1\n" {
		t.Fatalf("v1 wrote %q", data)
	}
	// Moving the group to client B is a destructive update there.
	runSticky(t, srv, stickyJob("migrate = true", "agent-"+ipB, 2))
	v1 := runningVersion(t, srv, 1)
	if v1.NodeID == v0.NodeID {
		t.Fatalf("replacement stayed on %s", v1.NodeID)
	}
	data, local := historyOf(t, dirB, v1.ID)
	if data != "v1\nv2\n" || local != "v1\nv2\n" {
		t.Fatalf("migrated: alloc/data/history %q, local/history %q; want v1 then v2", data, local)
	}
	if _, err := os.Stat(filepath.Join(dirA, "alloc", v0.ID, "alloc/data/history")); err != nil {
		t.Fatalf("previous allocation's data gone from client A: %v", err)
	}

	// Client A serves the snapshot only against the migrate token.
	url := "http://" + ipA + ":4646/v1/client/allocation/" + v0.ID + "/snapshot"
	for _, tok := range []string{"", "0123456789abcdef", structs.GenerateUUID()} {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Orch-Migrate-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("snapshot with token %q: %d, want 403", tok, resp.StatusCode)
		}
	}
}

// TestMigrateDiskPreviousNodeDownE2E: the client holding a migrating
// group's allocation dies (kill -9, its tasks killed too); its node is
// marked down and the replacement on the other client starts on an empty
// disk, with a task event saying the previous data was not migrated.
func TestMigrateDiskPreviousNodeDownE2E(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1")
	jt := trackJobs(t, srv)
	jt.add("sticky")
	cfg := rawExecConfig(t)
	ipA, ipB := newIP(), newIP()
	dirA, dirB := t.TempDir(), t.TempDir()
	clientA := startAgent(t, ipA, dirA, "-client", "-servers", srvIP, "-config", cfg)
	waitReady(t, srv, 1)
	// No node constraint: the replacement may go wherever it fits.
	src := strings.Replace(stickyJob("migrate = true", "", 1), `value     = ""`, `operator  = "is_set"`, 1)
	runSticky(t, srv, src)
	v0 := runningVersion(t, srv, 0)
	if data, _ := historyOf(t, dirA, v0.ID); data != "v1\n" {
		t.Fatalf("v1 wrote %q", data)
	}
	startAgent(t, ipB, dirB, "-client", "-servers", srvIP, "-config", cfg)
	waitReady(t, srv, 2)
	clientA.kill()
	for _, pid := range processesWithEnv("NOMAD_ALLOC_ID", v0.ID) {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
	var repl *structs.AllocListStub
	waitFor(t, 60*time.Second, "replacement running on client B", func() (bool, string) {
		var states []string
		for _, al := range jobAllocs(t, srv, "sticky") {
			states = append(states, fmt.Sprintf("%s:%s", al.NodeID[:8], al.ClientStatus))
			if al.ID != v0.ID && al.ClientStatus == structs.AllocClientStatusRunning {
				repl = al
				return true, ""
			}
		}
		return false, strings.Join(states, " ")
	})
	var full structs.Allocation
	if err := getJSON(srv.addr()+"/v1/allocation/"+repl.ID, &full); err != nil {
		t.Fatal(err)
	}
	if full.PreviousAllocation != v0.ID {
		t.Fatalf("replacement's previous allocation %q, want %s", full.PreviousAllocation, v0.ID)
	}
	found := ""
	for _, ev := range full.TaskStates["t"].Events {
		if strings.Contains(ev.DisplayMessage, "not migrated") && strings.Contains(ev.DisplayMessage, "is down") {
			found = ev.DisplayMessage
		}
	}
	if found == "" {
		t.Fatalf("no task event about the data left behind: %+v", full.TaskStates["t"].Events)
	}
	if data, local := historyOf(t, dirB, repl.ID); data != "v1\n" || local != "v1\n" {
		t.Fatalf("replacement's disk: %q %q, want only its own writes", data, local)
	}
	t.Logf("event: %s", found)
}
