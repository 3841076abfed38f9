package exec

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

// Commands run in an exec task see its chroot, its user and its
// environment, and die with their context.
func TestExecTaskRunsInsideTheContainer(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sleep", "30")
	tt.cfg.Env["CHECK_ME"] = "inside"
	start(t, d, tt)
	var out bytes.Buffer
	code, err := d.ExecTask(context.Background(), tt.cfg.ID, &drivers.ExecRequest{
		Command: []string{"/bin/sh", "-c", "echo $CHECK_ME; id -un; ls /local >/dev/null && echo local-ok; test -e " + tt.cfg.TaskDir + " || echo host-hidden; exit 4"},
		Stdout:  &out,
	})
	if err != nil || code != 4 {
		t.Fatalf("exec: code %d err %v (out %q)", code, err, out.String())
	}
	if got := out.String(); got != "inside\nnobody\nlocal-ok\nhost-hidden\n" {
		t.Fatalf("output %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := d.ExecTask(ctx, tt.cfg.ID, &drivers.ExecRequest{Command: []string{"/bin/sleep", "30"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out exec: %v", err)
	}
	if time.Since(began) > 10*time.Second {
		t.Fatalf("timed-out exec took %s", time.Since(began))
	}
	if _, err := d.ExecTask(context.Background(), tt.cfg.ID, &drivers.ExecRequest{Command: []string{"/no/such/binary"}}); err == nil {
		t.Fatal("exec of a missing binary succeeded")
	} else if !strings.Contains(err.Error(), "no such file") {
		t.Logf("missing binary: %v", err)
	}
}

// alloc exec's input and terminal inside the container, as the task's user.
func TestExecTaskStdinAndTTY(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sleep", "60")
	start(t, d, tt)
	exectest.CheckStdinAndTTY(t, "/bin/sh", func(ctx context.Context, req *drivers.ExecRequest) (int, error) {
		return d.ExecTask(ctx, tt.cfg.ID, req)
	})
}
