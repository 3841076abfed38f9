package docker

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/exectest"
)

func TestExecTaskInContainer(t *testing.T) {
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sleep", "60"))
	tt.Env = map[string]string{"CHECK_ME": "in-container"}
	startTask(t, d, tt)
	var out, errb bytes.Buffer
	code, err := d.ExecTask(context.Background(), tt.ID, &drivers.ExecRequest{
		Command: []string{"sh", "-c", "echo $CHECK_ME; echo to-stderr >&2; exit 5"}, Stdout: &out, Stderr: &errb,
	})
	if err != nil || code != 5 || out.String() != "in-container\n" || errb.String() != "to-stderr\n" {
		t.Fatalf("exec: code %d err %v stdout %q stderr %q", code, err, out.String(), errb.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := d.ExecTask(ctx, tt.ID, &drivers.ExecRequest{Command: []string{"sleep", "30"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out exec: %v", err)
	}
	if time.Since(began) > 10*time.Second {
		t.Fatalf("timed-out exec took %s", time.Since(began))
	}
	if _, err := d.ExecTask(context.Background(), "nope", &drivers.ExecRequest{Command: []string{"true"}}); err == nil {
		t.Fatal("exec in an unknown task")
	}
}

// alloc exec's input and terminal in a container through the Engine API.
func TestExecTaskStdinAndTTY(t *testing.T) {
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sleep", "60"))
	startTask(t, d, tt)
	exectest.CheckStdinAndTTY(t, "sh", func(ctx context.Context, req *drivers.ExecRequest) (int, error) {
		return d.ExecTask(ctx, tt.ID, req)
	})
}
