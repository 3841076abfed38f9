package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/internal/testenv"
)

// seqJob prints "ready", waits for alloc/data/go, prints 1..n (about 6.9
// MB for a million) and then marks that it finished writing, with driver.
func seqJob(id, driver string, n int) string {
	script := fmt.Sprintf(`echo ready; while [ ! -e "$NOMAD_ALLOC_DIR/data/go" ]; do sleep 0.05; done; `+
		`seq 1 %d; date > "$NOMAD_ALLOC_DIR/data/finished"; exec sleep 3600`, n)
	return fmt.Sprintf(`job %q {
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver       = %q
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", %s]
      }
      logs {
        max_files     = 10
        max_file_size = 2
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`, id, driver, hclString(script))
}

// TestOutputFlowsWhileAgentIsDown is issue 12's "task output never blocks
// the task": the agent is killed -9 while its tasks write megabytes of
// output (a hundred times the pipe's 64 KiB). The tasks finish writing
// while the agent is down, and once it is back every line is in the logs,
// in order, once.
func TestOutputFlowsWhileAgentIsDown(t *testing.T) {
	var drivers []string
	for _, d := range []string{"raw_exec", "exec"} {
		if driverErr(d) == nil || os.Getenv("CI") != "" {
			needDriver(t, d)
			drivers = append(drivers, d)
		}
	}
	const n = 1_000_000
	ip, dataDir := newIP(), t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	allocs := map[string]string{}
	for _, d := range drivers {
		id := "seq-" + strings.ReplaceAll(d, "_", "-")
		jt.run(id, seqJob(id, d, n))
		allocs[d] = jt.oneAlloc(id)
	}
	for _, d := range drivers {
		waitFor(t, 60*time.Second, d+" running", func() (bool, string) {
			out, err := fetchLogs(a, allocs[d], "t", "stdout", "start", 0)
			return out == "ready\n", fmt.Sprint(err)
		})
	}
	a.kill()
	down := time.Now()
	for _, d := range drivers {
		if err := os.WriteFile(filepath.Join(dataDir, "alloc", allocs[d], "alloc", "data", "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range drivers {
		finished := filepath.Join(dataDir, "alloc", allocs[d], "alloc", "data", "finished")
		waitFor(t, 60*time.Second, d+" to finish writing with the agent down", func() (bool, string) {
			_, err := os.Stat(finished)
			return err == nil, fmt.Sprint(err)
		})
	}
	t.Logf("tasks wrote %d lines each with the agent down (%s after the kill)", n, time.Since(down))

	a2 := startAgent(t, ip, dataDir, "-dev")
	jt.setAgent(a2)
	waitReady(t, a2, 1)
	for _, d := range drivers {
		var out string
		waitFor(t, 60*time.Second, d+" logs complete", func() (bool, string) {
			var err error
			out, err = fetchLogs(a2, allocs[d], "t", "stdout", "start", 0)
			return strings.HasSuffix(out, "\n"+strconv.Itoa(n)+"\n"), fmt.Sprintf("%d bytes %v", len(out), err)
		})
		lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(out, "ready\n"), "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("%s: %d lines in the logs, want %d", d, len(lines), n)
		}
		for i, l := range lines {
			if l != strconv.Itoa(i+1) {
				t.Fatalf("%s: line %d is %q: output lost or reordered", d, i+1, l)
			}
		}
	}
}

// TestRotationFailureRecovers injects a rotation failure (the log dir made
// immutable: creating the next file fails with EPERM, as EACCES or a full
// disk would fail it) while a task writes a counter: output is dropped, not
// blocked, and once the dir is writable again the logs continue in a new
// file after a note of how much was dropped.
func TestRotationFailureRecovers(t *testing.T) {
	ip, dataDir := newIP(), t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	jt.run("counter", fmt.Sprintf(`job "counter" {
  group "g" {
    task "t" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", %s]
      }
      logs {
        max_files     = 20
        max_file_size = 1
      }
    }
  }
}
`, hclString(`i=0; while :; do echo "count $i"; i=$((i+1)); done`)))
	id := jt.oneAlloc("counter")
	logDir := filepath.Join(dataDir, "alloc", id, "alloc", "logs")
	waitFor(t, 60*time.Second, "the first rotation", func() (bool, string) {
		_, err := os.Stat(filepath.Join(logDir, "t.stdout.1"))
		return err == nil, fmt.Sprint(err)
	})
	if err := setImmutable(logDir, true); err != nil {
		testenv.Need(t, "chattr +i on the data dir's file system", err)
	}
	broken := time.Now()
	// Long enough for the 1 MB file to fill and a rotation to fail.
	waitFor(t, 60*time.Second, "a failed rotation", func() (bool, string) {
		ents, _ := os.ReadDir(logDir)
		var size int64
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "t.stdout.") {
				size = max(size, fi.Size())
			}
		}
		return time.Since(broken) > 3*time.Second && size >= 1<<20, fmt.Sprintf("largest file %d", size)
	})
	if err := setImmutable(logDir, false); err != nil {
		t.Fatal(err)
	}
	var out string
	waitFor(t, 60*time.Second, "logs after the recovery", func() (bool, string) {
		var err error
		out, err = fetchLogs(a, id, "t", "stdout", "start", 0)
		i := strings.Index(out, "bytes of task output dropped")
		return i > 0 && strings.Count(out[i:], "\ncount ") > 1000, fmt.Sprint(err)
	})
	// Before and after the gap the counter is whole; across it, it jumps.
	// (The drop may cut a line: a torn line on either side of the note is
	// the one place a line is partial.)
	note := strings.Index(out, "\n[orch: ")
	end := note + strings.Index(out[note+1:], "\n") + 2
	before, after := out[:note], out[end:]
	last, err := counters(before)
	if err != nil {
		t.Fatal(err)
	}
	afterLines := strings.SplitN(after, "\n", 3)
	var next int
	if _, err := fmt.Sscanf(afterLines[0], "count %d", &next); err != nil {
		if _, err := fmt.Sscanf(afterLines[1], "count %d", &next); err != nil {
			t.Fatalf("after the gap %q", afterLines[:2])
		}
	}
	if next <= last+1 {
		t.Fatalf("no gap across the note: %d then %d", last, next)
	}
	t.Logf("dropped counts %d..%d while the dir was immutable: %s", last+1, next-1, strings.TrimSpace(out[note:end]))
}

// setImmutable sets or clears a directory's immutable attribute.
func setImmutable(dir string, on bool) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	const immutable = 0x10 // FS_IMMUTABLE_FL
	if on {
		flags |= immutable
	} else {
		flags &^= immutable
	}
	return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags)
}
