package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func rawExecUserJob(id, user, script string) string {
	return fmt.Sprintf(`job %q {
  type = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "t" {
      driver = "raw_exec"
      user   = %q
      config {
        command = "/bin/sh"
        args    = ["-c", %s]
      }
      template {
        destination = "secrets/token"
        data        = "s3cret-%s"
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`, id, user, hclString(script), id)
}

// TestRawExecUserTaskDir: a raw_exec task with user = "nobody" starts in
// its task dir even when the data dir above it is 0700 (t.TempDir), owns
// its local/ and secrets/, reads what the agent put in secrets/ and writes
// the group's alloc/data; once the data dir is traversable, a task of
// another user reaches nothing inside the first task's dir.
func TestRawExecUserTaskDir(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, newIP(), dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	jt.run("ru", rawExecUserJob("ru", "nobody", `set -e; echo pwd=$(pwd); echo who=$(id -u); echo hi > local/f; echo d > ../alloc/data/x; echo tok=$(cat secrets/token); stat -c '%n %u %a' . local secrets; echo done; exec sleep 600`))
	id := jt.oneAlloc("ru")
	taskDir := filepath.Join(dataDir, "alloc", id, "t")
	var out string
	waitFor(t, 30*time.Second, "the nobody task's output", func() (bool, string) {
		out, _ = fetchLogs(a, id, "t", "stdout", "start", 0)
		errs, _ := fetchLogs(a, id, "t", "stderr", "start", 0)
		st := ""
		if al := allocInfo(a, id); al != nil && al.TaskStates["t"] != nil {
			st = al.ClientStatus + taskEvents(al.TaskStates["t"])
		}
		return strings.Contains(out, "done"), out + errs + st
	})
	for _, want := range []string{"pwd=" + taskDir + "\n", "who=65534\n", "tok=s3cret-ru\n",
		". 65534 700\n", "local 65534 755\n", "secrets 65534 700\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("task output lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(taskDir, "local", "f")); err != nil || string(b) != "hi\n" {
		t.Fatalf("local/f: %q %v", b, err)
	}
	// alloc exec runs as the task's user in the task dir too (and with a
	// terminal-less pipe, its exit code comes back).
	eout, eerr, code := a.cliIn(t, "", "alloc", "exec", "-task", "t", id, "/bin/sh", "-c", "pwd; id -u; cat secrets/token; exit 3")
	if code != 3 || eout != taskDir+"\n65534\ns3cret-ru" {
		t.Fatalf("alloc exec as nobody: exit %d, stdout %q, stderr %q", code, eout, eerr)
	}
	if _, eerr, code := a.cliIn(t, "", "alloc", "exec", "-task", "t", id, "/nonexistent-cmd"); code == 0 {
		t.Fatalf("alloc exec of a missing command succeeded: %q", eerr)
	}

	// Make the path down to the alloc dirs traversable, as a data dir
	// such as /var/lib/orch (0755) is: another user still reads nothing
	// of the task's dir, and the task itself uses absolute paths.
	for _, d := range []string{filepath.Dir(dataDir), dataDir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	spy := fmt.Sprintf(`for p in %[1]s %[1]s/local/f %[1]s/secrets/token; do cat $p >/dev/null 2>&1 && echo read=$p; ls $p >/dev/null 2>&1 && echo listed=$p; done; echo spied`, taskDir)
	jt.run("spy", rawExecUserJob("spy", "daemon", spy))
	jt.run("ru2", rawExecUserJob("ru2", "nobody", `set -e; echo x > "$NOMAD_TASK_DIR/abs"; cat "$NOMAD_SECRETS_DIR/token"; echo done`))
	for _, j := range []struct{ id, want string }{{"spy", "spied"}, {"ru2", "s3cret-ru2done"}} {
		aid := jt.oneAlloc(j.id)
		var got string
		waitFor(t, 30*time.Second, j.id+"'s output", func() (bool, string) {
			got, _ = fetchLogs(a, aid, "t", "stdout", "start", 0)
			errs, _ := fetchLogs(a, aid, "t", "stderr", "start", 0)
			return strings.Contains(got, j.want), got + errs
		})
		if strings.Contains(got, "read=") || strings.Contains(got, "listed=") {
			t.Fatalf("another user reached the task's dir:\n%s", got)
		}
	}
}
