package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/orch-project/orch/drivers"
)

var _ drivers.Execer = (*Driver)(nil)

// ExecTask implements drivers.Execer with the Engine's exec API: the
// command runs in the container, as its user, with its environment. The
// API has no way to stop an exec, so at the end of ctx the exec's process
// is killed by its host pid.
func (d *Driver) ExecTask(ctx context.Context, taskID string, req *drivers.ExecRequest) (int, error) {
	h, err := d.handle(taskID)
	if err != nil {
		return 0, err
	}
	if len(req.Command) == 0 {
		return 0, errors.New("docker: exec: no command")
	}
	created, err := d.client.ContainerExecCreate(ctx, h.containerID, container.ExecOptions{
		Cmd: req.Command, AttachStdout: true, AttachStderr: true, AttachStdin: req.Stdin != nil, Tty: req.TTY,
	})
	if err != nil {
		return 0, fmt.Errorf("docker: exec in %s: %w", shortContainerID(h.containerID), err)
	}
	att, err := d.client.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: req.TTY})
	if err != nil {
		return 0, fmt.Errorf("docker: exec attach: %w", err)
	}
	defer att.Close()
	stdout, stderr := req.Stdout, req.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	stop := make(chan struct{})
	defer close(stop)
	if req.Stdin != nil {
		drivers.PumpInput(req.Stdin, att.Conn, att.CloseWrite, req.TTY, stop)
	}
	if req.TTY && req.Resize != nil {
		go d.execResize(created.ID, req.Resize, stop)
	}
	copied := make(chan error, 1)
	go func() {
		var err error
		if req.TTY {
			// A terminal's output is one raw stream.
			_, err = io.Copy(stdout, att.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, att.Reader)
		}
		copied <- err
	}()
	select {
	case err = <-copied:
	case <-ctx.Done():
		d.killExec(created.ID)
		att.Close()
		<-copied
		return 0, fmt.Errorf("docker: exec: %w", ctx.Err())
	}
	if err != nil && !(req.TTY && errors.Is(err, syscall.EIO)) {
		return 0, fmt.Errorf("docker: exec output: %w", err)
	}
	// The stream ends when the process exits; the exit code follows
	// shortly after.
	for i := 0; ; i++ {
		ins, err := d.client.ContainerExecInspect(context.WithoutCancel(ctx), created.ID)
		if err != nil {
			return 0, fmt.Errorf("docker: exec inspect: %w", err)
		}
		if !ins.Running || i == 100 {
			return ins.ExitCode, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// execResize applies terminal sizes to a running exec.
func (d *Driver) execResize(execID string, sizes <-chan drivers.TerminalSize, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = d.client.ContainerExecResize(ctx, execID, container.ResizeOptions{Height: uint(sz.Height), Width: uint(sz.Width)})
			cancel()
		}
	}
}

// killExec kills a running exec's process through its host pid.
func (d *Driver) killExec(execID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ins, err := d.client.ContainerExecInspect(ctx, execID); err == nil && ins.Running && ins.Pid > 0 {
		_ = syscall.Kill(ins.Pid, syscall.SIGKILL)
	}
}

func shortContainerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
