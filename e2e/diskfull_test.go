package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/structs"
)

// A job fills the agent's data dir (a 160 MiB tmpfs) to the last byte.
// The server refuses new work with 507, keeps answering reads and keeps
// its leadership, and the job that fills the disk can still be stopped;
// once space is freed, writes are accepted again.
func TestFullDataDirRefusesNewWorkButStopsTheJobFillingIt(t *testing.T) {
	dir, err := os.MkdirTemp("", "ctlcore-tmpfs-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("umount", "-l", dir).Run()
		_ = os.Remove(dir)
	})
	a := startAgent(t, newIP(), dir, "-dev")
	waitReady(t, a, 1)

	filler := batchJob("filler")
	filler.Job.Type = structs.JobTypeService
	// The node's disk is the 160 MiB tmpfs: Nomad's default 300 MB
	// ephemeral disk would not fit.
	filler.Job.TaskGroups[0].EphemeralDisk = &structs.EphemeralDisk{SizeMB: 110}
	filler.Job.TaskGroups[0].Tasks[0].Config = map[string]any{
		"command": "/bin/sh",
		"args":    []any{"-c", "dd if=/dev/zero of=$NOMAD_TASK_DIR/fill bs=1M 2>/dev/null; sleep 3600"},
	}
	if code, _, body := request("PUT", a.addr()+"/v1/jobs", filler, nil, 10*time.Second); code != 200 {
		t.Fatalf("registering the filler: %d %s", code, body)
	}
	waitFor(t, 60*time.Second, "the data dir full", func() (bool, string) {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			return false, err.Error()
		}
		free := st.Bavail * uint64(st.Bsize)
		return free < 1<<20, fmt.Sprintf("%d KiB free", free>>10)
	})

	var code int
	var body []byte
	waitFor(t, 10*time.Second, "new work refused with 507", func() (bool, string) {
		code, _, body = request("PUT", a.addr()+"/v1/jobs", batchJob("more"), nil, 10*time.Second)
		return code == 507, fmt.Sprintf("%d %s", code, body)
	})
	if !strings.Contains(string(body), "data dir") {
		t.Errorf("507 without the reason: %s", body)
	}
	if code, _, body := request("GET", a.addr()+"/v1/job/filler", nil, nil, 10*time.Second); code != 200 {
		t.Fatalf("reading with a full disk: %d %s", code, body)
	}
	if code, _, body := request("DELETE", a.addr()+"/v1/job/filler", nil, nil, 10*time.Second); code != 200 {
		t.Fatalf("stopping the filler with a full disk: %d %s", code, body)
	}
	waitFor(t, 30*time.Second, "the filler's allocation stopped", func() (bool, string) {
		allocs := jobAllocs(t, a, "filler")
		for _, al := range allocs {
			if al.DesiredStatus != structs.AllocDesiredStatusStop || al.ClientStatus == structs.AllocClientStatusRunning {
				return false, al.DesiredStatus + "/" + al.ClientStatus
			}
		}
		return len(allocs) > 0, ""
	})
	t.Logf("agent log:\n%s", tail(a.logs.String(), 25))
	if strings.Contains(a.logs.String(), "lost cluster leadership") {
		t.Fatalf("leadership flapped with the disk full:\n%s", tail(a.logs.String(), 30))
	}

	// Space freed: new work is accepted again.
	fills, _ := filepath.Glob(filepath.Join(dir, "alloc", "*", "*", "local", "fill"))
	if len(fills) == 0 {
		t.Fatal("the filler's file was not found")
	}
	for _, f := range fills {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "new work accepted again", func() (bool, string) {
		code, _, body = request("PUT", a.addr()+"/v1/jobs", batchJob("more"), nil, 10*time.Second)
		return code == 200, fmt.Sprintf("%d %s", code, body)
	})
}
