package java

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/exectest"
	"github.com/orch-project/orch/structs"
)

const sleeperJava = `public class Sleeper {
    public static void main(String[] args) throws Exception { Thread.sleep(60000); }
}
`

var sleeperOnce struct {
	sync.Once
	dir string
	err error
}

// startSleeper runs a JVM that sleeps, plain or isolated.
func startSleeper(t *testing.T, plain bool) (*Driver, *drivers.TaskConfig) {
	t.Helper()
	sleeperOnce.Do(func() {
		sleeperOnce.dir, sleeperOnce.err = os.MkdirTemp("", "orch-java-sleeper")
		if sleeperOnce.err == nil {
			sleeperOnce.err = os.WriteFile(filepath.Join(sleeperOnce.dir, "Sleeper.java"), []byte(sleeperJava), 0o644)
		}
		if sleeperOnce.err == nil {
			cmd := exec.Command("javac", "--release", "11", "Sleeper.java")
			cmd.Dir = sleeperOnce.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				sleeperOnce.err = errors.New(string(out))
			}
		}
	})
	if sleeperOnce.err != nil {
		t.Fatal(sleeperOnce.err)
	}
	base := t.TempDir()
	if plain {
		// A plain JVM runs as the task's user (nobody by default), which
		// must reach its task dir: t.TempDir's parents are private.
		var err error
		if base, err = os.MkdirTemp("", "orch-java-sleeper-task"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	taskDir := filepath.Join(base, "alloc", "app")
	for _, d := range []string{filepath.Join(taskDir, "local"), filepath.Join(taskDir, "tmp"), filepath.Join(taskDir, "secrets")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(sleeperOnce.dir, "Sleeper.class"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(taskDir, "local", "Sleeper.class"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(filepath.Join(taskDir, "tmp"), 0o1777)
	id := structs.GenerateUUID()
	cfg := &drivers.TaskConfig{
		ID: id + "/app", AllocID: id, Name: "app", Config: map[string]any{"class": "Sleeper", "class_path": "local"},
		Env:       map[string]string{"CHECK_ME": "jvm-env"},
		Resources: &structs.AllocatedTaskResources{Cpu: structs.AllocatedCpuResources{CpuShares: 500}, Memory: structs.AllocatedMemoryResources{MemoryMB: 256}},
		AllocDir:  filepath.Join(base, "alloc"), TaskDir: taskDir,
	}
	d := New(Config{StateRoot: filepath.Join(base, "state"), DisableIsolation: plain})
	if _, err := d.Start(context.Background(), cfg); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = d.Destroy(cfg.ID, true) })
	return d, cfg
}

func TestExecTaskPlainAndIsolated(t *testing.T) {
	requireJDK(t)
	for _, plain := range []bool{true, false} {
		if !plain {
			requireIsolation(t)
		}
		d, cfg := startSleeper(t, plain)
		var out bytes.Buffer
		code, err := d.ExecTask(context.Background(), cfg.ID, &drivers.ExecRequest{
			Command: []string{"/bin/sh", "-c", "echo $CHECK_ME; test -e local/Sleeper.class -o -e /local/Sleeper.class && echo sees-task-dir; exit 2"},
			Stdout:  &out,
		})
		if err != nil || code != 2 || out.String() != "jvm-env\nsees-task-dir\n" {
			t.Fatalf("plain=%v: code %d err %v out %q", plain, code, err, out.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		if _, err := d.ExecTask(ctx, cfg.ID, &drivers.ExecRequest{Command: []string{"/bin/sleep", "30"}}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("plain=%v: timed-out exec: %v", plain, err)
		}
		cancel()
	}
}

// alloc exec's input and terminal beside a plain JVM and inside an
// isolated one.
func TestExecTaskStdinAndTTY(t *testing.T) {
	requireJDK(t)
	for _, plain := range []bool{true, false} {
		if !plain {
			requireIsolation(t)
		}
		d, cfg := startSleeper(t, plain)
		if d.ExecRunsOnHost(cfg.ID) != plain {
			t.Fatalf("plain=%v: ExecRunsOnHost says %v", plain, !plain)
		}
		exectest.CheckStdinAndTTY(t, "/bin/sh", func(ctx context.Context, req *drivers.ExecRequest) (int, error) {
			return d.ExecTask(ctx, cfg.ID, req)
		})
	}
}
