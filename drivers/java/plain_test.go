//go:build linux

package java

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/internal/testenv"
)

func TestPlainCredential(t *testing.T) {
	nobody, err := isolation.ResolveUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	// No user: the isolated tasks' default, not the agent's own (root).
	if c, err := plainCredential(&isolation.Spec{}, 0); err != nil || c == nil || c.Uid != nobody.UID {
		t.Fatalf("no user: %+v, %v", c, err)
	}
	if c, err := plainCredential(&isolation.Spec{User: "nobody"}, 1000); c != nil || err != nil {
		t.Fatalf("non-root agent cannot switch user: %+v, %v", c, err)
	}
	if _, err := plainCredential(&isolation.Spec{User: "no-such-user-orch"}, 0); err == nil {
		t.Fatal("unknown user accepted")
	}
	c, err := plainCredential(&isolation.Spec{User: "1234:4321"}, 0)
	if err != nil || c == nil || c.Uid != 1234 || c.Gid != 4321 {
		t.Fatalf("uid:gid: %+v, %v", c, err)
	}
	// The identity the driver checked is what runs.
	c, err = plainCredential(&isolation.Spec{User: "root", Identity: nobody}, 0)
	if err != nil || c.Uid != nobody.UID {
		t.Fatalf("checked identity: %+v, %v", c, err)
	}
}

// TestPlainRunsAsTaskUser starts a real process through the plain runner.
func TestPlainRunsAsTaskUser(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Need(t, "root", errors.New("not running as root"))
	}
	// t.TempDir's parent is private to root; the task user must reach it.
	dir, err := os.MkdirTemp("", "orch-java-plain")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "id")
	p, err := startPlain(&isolation.Spec{Command: "/bin/sh", Args: []string{"-c", "id -u > " + out}, TaskDir: dir, User: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit")
	}
	if res := p.Result(); res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
	want, err := isolation.ResolveUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(int(want.UID)) {
		t.Fatalf("ran as uid %s, want %d", got, want.UID)
	}
	if p.startTicks == 0 {
		t.Fatal("start time not recorded")
	}
}

// TestRecoverPlainChecksIdentity: a pid is re-attached only while it is
// still the process started at the recorded time during this boot.
func TestRecoverPlainChecksIdentity(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	ticks, err := rawexec.StartTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		ticks uint64
		boot  string
	}{
		"other start time": {ticks + 1, rawexec.BootID()},
		"other boot":       {ticks, "another-boot"},
	} {
		if _, err := recoverPlain(pid, c.ticks, c.boot); !errors.Is(err, drivers.ErrTaskNotFound) {
			t.Fatalf("%s: got %v, want ErrTaskNotFound", name, err)
		}
	}
	p, err := recoverPlain(pid, ticks, rawexec.BootID())
	if err != nil {
		t.Fatalf("recover of the live process: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("re-attached process's exit not seen")
	}
}
