package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

// cliIn runs the orch CLI with stdin and returns stdout, stderr and the
// exit code.
func (a *agentProc) cliIn(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "ORCH_ADDR="+a.addr())
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running orch %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestAllocExecEveryDriver is issue 10's alloc exec: for each driver, a
// command run in the task through `orch alloc exec` sees the task's
// environment and returns its exit code, input reaches it, and through the
// stock Nomad Go client a command gets a terminal of the caller's size;
// `orch alloc restart` restarts the task in place without counting
// against its restart policy (attempts = 0 here).
func TestAllocExecEveryDriver(t *testing.T) {
	drivers := usableDrivers(t)
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	dir := payloadDir(t, "exec", true)
	ids := map[string]string{}
	markers := map[string]string{}
	for _, d := range drivers {
		job := "exec-" + strings.ReplaceAll(d, "_", "-")
		markers[d] = "marker-" + d + "-" + structs.GenerateUUID()[:8]
		jt.run(job, driverJob(job, structs.JobTypeService, d, modeCount, dir, markers[d]))
		ids[d] = jt.oneAlloc(job)
	}
	nc, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drivers {
		id := ids[d]
		waitTaskState(t, a, id, "main", 60*time.Second, d+" main running", func(_ *structs.Allocation, ts *structs.TaskState) bool {
			return ts != nil && ts.State == structs.TaskStateRunning
		})
		out, errOut, code := a.cliIn(t, "", "alloc", "exec", "-task", "main", id, "/bin/sh", "-c", `echo "$MARKER"; echo to-stderr >&2; exit 3`)
		if code != 3 || strings.TrimSpace(out) != markers[d] || strings.TrimSpace(errOut) != "to-stderr" {
			t.Fatalf("%s: alloc exec: exit %d stdout %q stderr %q", d, code, out, errOut)
		}
		out, errOut, code = a.cliIn(t, "line-in\n", "alloc", "exec", "-task", "main", id[:8], "/bin/sh", "-c", "read x; echo got:$x")
		if code != 0 || strings.TrimSpace(out) != "got:line-in" {
			t.Fatalf("%s: alloc exec with input: exit %d stdout %q stderr %q", d, code, out, errOut)
		}
		checkNomadExecTTY(t, nc, id, d)

		if out, code := a.cli(t, "alloc", "restart", id, "main"); code != 0 {
			t.Fatalf("%s: alloc restart: exit %d\n%s", d, code, out)
		}
		al := waitTaskState(t, a, id, "main", 60*time.Second, d+" main restarted", func(_ *structs.Allocation, ts *structs.TaskState) bool {
			return ts != nil && ts.Restarts >= 1 && ts.State == structs.TaskStateRunning
		})
		if ts := al.TaskStates["main"]; ts.Failed || !hasEvent(ts, structs.TaskRestartSignal) {
			t.Fatalf("%s: restarted task: %s", d, taskEvents(ts))
		}
	}
}

// checkNomadExecTTY runs a command on a terminal through nomad/api's exec
// (Nomad's own websocket client): it sees a terminal of the size sent.
func checkNomadExecTTY(t *testing.T, nc *nomad.Client, allocID, driver string) {
	t.Helper()
	alloc, _, err := nc.Allocations().Info(allocID, nil)
	if err != nil {
		t.Fatal(err)
	}
	sizes := make(chan nomad.TerminalSize, 1)
	sizes <- nomad.TerminalSize{Height: 33, Width: 77}
	script := `test -t 0 && echo tty-ok; i=0; while [ $i -lt 50 ]; do s=$(stty size); [ "$s" = "33 77" ] && break; ` +
		`i=$((i+1)); sleep 0.1; done; echo size:$s; exit 4`
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, err := nc.Allocations().Exec(ctx, alloc, "main", true, []string{"/bin/sh", "-c", script},
		strings.NewReader(""), &out, &errb, sizes, nil)
	if err != nil || code != 4 || !strings.Contains(out.String(), "tty-ok") || !strings.Contains(out.String(), "size:33 77") {
		t.Fatalf("%s: nomad/api exec with a terminal: code %d err %v out %q err %q", driver, code, err, out.String(), errb.String())
	}
}

func hasEvent(ts *structs.TaskState, typ string) bool {
	for _, e := range ts.Events {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// TestAllocSignalAndStop: `orch alloc signal` reaches the task's process
// (it traps the signal and says so in its log), bad signals and unknown
// tasks are refused, and `orch alloc stop` stops the allocation and the
// scheduler replaces it.
func TestAllocSignalAndStop(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	jt.run("sig", `job "sig" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`)
	id := jt.oneAlloc("sig")
	waitAllocRunning(t, a, id, 30*time.Second)
	waitFor(t, 20*time.Second, "the task ready", func() (bool, string) {
		out, _ := a.cli(t, "alloc", "logs", id, "t")
		return strings.Contains(out, "ready"), out
	})
	if out, code := a.cli(t, "alloc", "signal", "-s", "SIGUSR1", id); code != 0 {
		t.Fatalf("alloc signal: exit %d\n%s", code, out)
	}
	waitFor(t, 20*time.Second, "the trapped signal in the log", func() (bool, string) {
		out, _ := a.cli(t, "alloc", "logs", id, "t")
		return strings.Contains(out, "got-usr1"), out
	})
	if out, code := a.cli(t, "alloc", "signal", "-s", "SIGNOPE", id); code == 0 || !strings.Contains(out, "invalid signal") {
		t.Fatalf("bad signal: exit %d\n%s", code, out)
	}
	if out, code := a.cli(t, "alloc", "restart", id, "nope"); code == 0 || !strings.Contains(out, "Could not find task named: nope") {
		t.Fatalf("restart of an unknown task: exit %d\n%s", code, out)
	}

	out, code := a.cli(t, "alloc", "stop", id)
	if code != 0 || !strings.Contains(out, "finished with status \"complete\"") {
		t.Fatalf("alloc stop: exit %d\n%s", code, out)
	}
	waitFor(t, 30*time.Second, "a replacement running", func() (bool, string) {
		var live, stopped int
		for _, al := range jobAllocs(t, a, "sig") {
			switch {
			case al.ID == id && al.DesiredStatus == structs.AllocDesiredStatusStop:
				stopped++
			case al.ID != id && al.ClientStatus == structs.AllocClientStatusRunning:
				live++
			}
		}
		return stopped == 1 && live == 1, fmt.Sprintf("stopped %d, replacements running %d", stopped, live)
	})
}
