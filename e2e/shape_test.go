package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/testenv"
	"github.com/orch-project/orch/structs"
)

// allDrivers are the task drivers compiled into orch.
var allDrivers = []string{"raw_exec", "exec", "docker", "java"}

// driverErr says why driver's tasks cannot run on this host.
func driverErr(driver string) error {
	switch driver {
	case "exec":
		return rootErr()
	case "docker":
		return dockerReady()
	case "java":
		if err := rootErr(); err != nil {
			return err
		}
		return javaErr()
	}
	return nil
}

// needDriver skips (fails with CI set) when driver cannot run here.
func needDriver(tb testing.TB, driver string) {
	tb.Helper()
	testenv.Need(tb, driver, driverErr(driver))
}

// usableDrivers are the drivers whose tasks can run here; with CI set every
// driver must be usable.
func usableDrivers(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, d := range allDrivers {
		if err := driverErr(d); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("driver %s unavailable with CI set: %v", d, err)
			}
			tb.Logf("leaving out driver %s: %v", d, err)
			continue
		}
		out = append(out, d)
	}
	return out
}

// Task programs every driver runs the same way (see javaSource for java).
const (
	modeMarker = "marker" // print $MARKER and the prestart task's payload
	modeCount  = "count"  // print "count N" every 200ms, forever
	modeExit7  = "exit7"  // exit 7 once the file alloc/data/go exists
)

var shellScripts = map[string]string{
	modeMarker: `echo "$MARKER $(cat "$NOMAD_ALLOC_DIR/data/payload.txt")"`,
	modeCount:  `i=0; while :; do echo "count $i"; i=$((i+1)); sleep 0.2; done`,
	modeExit7:  `while [ ! -e "$NOMAD_ALLOC_DIR/data/go" ]; do sleep 0.1; done; exit 7`,
}

var javaArgs = map[string][]string{
	modeMarker: {"marker"},
	modeCount:  {"count"},
	modeExit7:  {"exit", "7"},
}

// driverJob is one job shape for every driver: group "g" whose raw_exec
// prestart task "fetch" copies payloadDir into the shared alloc dir, and
// whose task "main" runs mode with driver. Restarts and reschedules are off
// so that any restart shows up as a failure and nothing outlives the test.
func driverJob(jobID, jobType, driver, mode, payloadDir, marker string) string {
	var cfg []string
	memory := 64
	quoteAll := func(xs []string) string {
		q := make([]string, len(xs))
		for i, x := range xs {
			q[i] = hclString(x)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	script := shellScripts[mode]
	switch driver {
	case "raw_exec", "exec":
		cfg = append(cfg, `command = "/bin/sh"`, "args = "+quoteAll([]string{"-c", script}))
	case "docker":
		cfg = append(cfg, "image = "+hclString(busyboxImage), `command = "sh"`, "args = "+quoteAll([]string{"-c", script}))
	case "java":
		cfg = append(cfg, "jar_path = "+hclString("${NOMAD_ALLOC_DIR}/data/app.jar"), "args = "+quoteAll(javaArgs[mode]))
		memory = 256
	}
	return fmt.Sprintf(`job %q {
  type = %q
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "fetch" {
      driver = "raw_exec"
      lifecycle {
        hook = "prestart"
      }
      config {
        command = "/bin/cp"
        args    = ["-r", %s, %s]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
    task "main" {
      driver       = %q
      kill_timeout = "2s"
      env {
        MARKER = %s
      }
      config {
        %s
      }
      resources {
        cpu    = 100
        memory = %d
      }
    }
  }
}
`, jobID, jobType, hclString(payloadDir+"/."), hclString("${NOMAD_ALLOC_DIR}/data/"), driver, hclString(marker),
		strings.Join(cfg, "\n        "), memory)
}

// payloadDir holds what the prestart task copies into the alloc dir: the
// test jar (when java runs) and a payload file.
func payloadDir(tb testing.TB, payload string, withJar bool) string {
	tb.Helper()
	dir := tb.TempDir()
	// Task users (nobody) read what the prestart copies, and raw_exec copies
	// it as root from here: the directory must be traversable.
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "payload.txt"), []byte(payload+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if withJar && javaErr() == nil {
		buildJar(tb, dir)
	}
	return dir
}

// TestSameJobShapeAllDrivers runs one job shape (prestart raw_exec task,
// main task) with each driver as main: every allocation completes, the main
// task read the file its prestart sibling put in the shared alloc dir, and
// its output reaches `orch alloc logs`.
func TestSameJobShapeAllDrivers(t *testing.T) {
	drivers := usableDrivers(t)
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)

	payload := "payload-" + structs.GenerateUUID()[:8]
	dir := payloadDir(t, payload, true)

	markers := map[string]string{}
	for _, d := range drivers {
		job := "shape-" + strings.ReplaceAll(d, "_", "-")
		markers[job] = "marker-" + d + "-" + structs.GenerateUUID()[:8]
		jt.run(job, driverJob(job, structs.JobTypeBatch, d, modeMarker, dir, markers[job]))
	}
	for _, d := range drivers {
		job := "shape-" + strings.ReplaceAll(d, "_", "-")
		id := jt.oneAlloc(job)
		al := waitTaskState(t, a, id, "main", 45*time.Second, job+" complete",
			func(al *structs.Allocation, ts *structs.TaskState) bool {
				return al.ClientStatus == structs.AllocClientStatusComplete || al.ClientStatus == structs.AllocClientStatusFailed
			})
		if al.ClientStatus != structs.AllocClientStatusComplete {
			t.Errorf("%s: alloc %s is %s: fetch: %s; main: %s", job, id, al.ClientStatus,
				taskEvents(al.TaskStates["fetch"]), taskEvents(al.TaskStates["main"]))
			continue
		}
		for _, task := range []string{"fetch", "main"} {
			if ts := al.TaskStates[task]; ts == nil || ts.State != structs.TaskStateDead || ts.Failed {
				t.Errorf("%s: task %s: %s", job, task, taskEvents(ts))
			}
		}
		want := markers[job] + " " + payload
		out, code := a.cli(t, "alloc", "logs", id, "main")
		if code != 0 || !strings.Contains(out, want) {
			errOut, _ := a.cli(t, "alloc", "logs", "-stderr", id, "main")
			t.Errorf("%s: alloc logs: exit %d, want %q, got %q (stderr %q)", job, code, want, out, errOut)
		}
	}
}
