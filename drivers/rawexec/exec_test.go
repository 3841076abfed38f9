package rawexec

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/exectest"
)

func TestExecTaskRunsInTaskEnvironment(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, "sleep 30")
	cfg.Env["CHECK_ME"] = "from-task-env"
	startTask(t, d, cfg)
	var out, errb bytes.Buffer
	code, err := d.ExecTask(context.Background(), cfg.ID, &drivers.ExecRequest{
		Command: []string{"sh", "-c", "echo $CHECK_ME; pwd; echo oops >&2; exit 3"}, Stdout: &out, Stderr: &errb,
	})
	if err != nil || code != 3 {
		t.Fatalf("exec: code %d err %v", code, err)
	}
	if got := out.String(); got != "from-task-env\n"+cfg.TaskDir+"\n" || errb.String() != "oops\n" {
		t.Fatalf("stdout %q stderr %q", got, errb.String())
	}
	// The end of the context kills the command and what it started.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = d.ExecTask(ctx, cfg.ID, &drivers.ExecRequest{Command: []string{"sh", "-c", "sleep 30 & sleep 30"}})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("timed-out exec: %v after %s", err, time.Since(start))
	}
	if _, err := d.ExecTask(context.Background(), "nope", &drivers.ExecRequest{Command: []string{"true"}}); !errors.Is(err, drivers.ErrTaskNotFound) {
		t.Fatalf("exec in unknown task: %v", err)
	}
	if _, err := d.ExecTask(context.Background(), cfg.ID, &drivers.ExecRequest{Command: []string{"no-such-command-here"}}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing command: %v", err)
	}
}

// alloc exec's input and terminal, on the host as the task's user.
func TestExecTaskStdinAndTTY(t *testing.T) {
	d := New(Config{Enabled: true})
	cfg := newTaskConfig(t, "sleep 60")
	startTask(t, d, cfg)
	exectest.CheckStdinAndTTY(t, "/bin/sh", func(ctx context.Context, req *drivers.ExecRequest) (int, error) {
		return d.ExecTask(ctx, cfg.ID, req)
	})
}
