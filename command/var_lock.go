package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

const varLockUsage = "var lock [-ttl D] [-delay D] [-max-retry N] [-shell=false] [-verbose] <path> [@spec] <child command>..."

// varLock holds a lock on a variable while a child process runs, as
// Nomad's var lock: it waits until the lock is free, runs the child
// (through $SHELL, or /bin/sh, unless -shell=false), renews the lock at 70%
// of its TTL, kills the child if the lock is lost, releases the lock when
// the child exits and exits with the child's code.
func (c *cli) varLock(args []string) int {
	var m meta
	var ttl, delay time.Duration
	var maxRetry int
	var shell, verbose bool
	fs := c.flagSet("var lock", &m)
	fs.DurationVar(&ttl, "ttl", structs.DefaultLockTTL, "lock TTL")
	fs.DurationVar(&delay, "delay", structs.DefaultLockDelay, "lock delay after the lock is lost")
	fs.IntVar(&maxRetry, "max-retry", 5, "retries of a failed call to the servers")
	fs.BoolVar(&shell, "shell", true, "run the child through a shell")
	fs.BoolVar(&verbose, "verbose", false, "report progress")
	if !c.parse(fs, args, varLockUsage) {
		return 1
	}
	rest := fs.Args()
	if len(rest) < 2 {
		return c.fail("This command takes a path (or @spec) and a child command\nUsage: orch %s", varLockUsage)
	}
	specArgs := rest[:1]
	if len(rest) > 2 && strings.HasPrefix(rest[1], "@") {
		specArgs = rest[:2]
	}
	child := rest[len(specArgs):]
	v, err := c.varFromArgs(specArgs, "json", verbose)
	if err != nil {
		return c.fail("Error: %v", err)
	}
	if m.namespace != "" || v.Namespace == "" {
		v.Namespace = m.ns()
	}
	v.Lock = &structs.VariableLock{TTL: ttl.String(), LockDelay: delay.String()}
	if _, _, err := v.Lock.Durations(); err != nil {
		return c.fail("Error: %v", err)
	}
	client, err := m.client()
	if err != nil {
		return c.fail("Error initializing client: %v", err)
	}
	held, err := c.acquireLock(client, v, ttl, maxRetry, verbose)
	if err != nil {
		return c.fail("Error acquiring lock: %v", err)
	}
	code := c.runLocked(client, held, ttl, child, shell, verbose)
	rel := &structs.VariableDecrypted{VariableMetadata: structs.VariableMetadata{
		Namespace: held.Namespace, Path: held.Path, Lock: &structs.VariableLock{ID: held.Lock.ID}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Variables().Lock(ctx, "lock-release", rel, &api.QueryOptions{Namespace: held.Namespace}); err != nil {
		fmt.Fprintf(c.err, "Error releasing lock: %v\n", err)
	} else if verbose {
		fmt.Fprintln(c.err, "Lock released")
	}
	return code
}

// acquireLock tries to take the lock until it succeeds: while another
// holder has it, every 1.1 TTL; after an error, up to maxRetry times.
func (c *cli) acquireLock(client *api.Client, v *structs.VariableDecrypted, ttl time.Duration, maxRetry int, verbose bool) (*structs.VariableDecrypted, error) {
	q := &api.QueryOptions{Namespace: v.Namespace}
	failures := 0
	for {
		held, err := client.Variables().Lock(c.ctx, "lock-acquire", v, q)
		if err == nil {
			if verbose {
				fmt.Fprintf(c.err, "Lock acquired on %q (lock ID %s)\n", held.Path, held.Lock.ID)
			}
			return held, nil
		}
		wait := ttl + ttl/10
		var ce *api.CASConflictError
		if errors.As(err, &ce) {
			if verbose {
				fmt.Fprintf(c.err, "Variable %q is locked; retrying in %s\n", v.Path, wait)
			}
		} else {
			if failures++; failures > maxRetry {
				return nil, err
			}
			wait = time.Duration(failures) * time.Second
		}
		select {
		case <-c.ctx.Done():
			return nil, c.ctx.Err()
		case <-time.After(wait):
		}
	}
}

// runLocked runs the child while renewing the lock and returns its exit code.
func (c *cli) runLocked(client *api.Client, held *structs.VariableDecrypted, ttl time.Duration, child []string, shell, verbose bool) int {
	var cmd *exec.Cmd
	if shell {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		cmd = exec.Command(sh, "-c", strings.Join(child, " "))
	} else {
		cmd = exec.Command(child[0], child[1:]...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.in, c.out, c.err
	cmd.Env = append(os.Environ(), c.env...)
	if err := cmd.Start(); err != nil {
		return c.fail("Error starting child: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	renew := time.NewTicker(ttl * 7 / 10)
	defer renew.Stop()
	lost := false
	for {
		select {
		case err := <-done:
			if lost {
				return c.fail("Lock on %q lost; child stopped", held.Path)
			}
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			if err != nil {
				return c.fail("Error running child: %v", err)
			}
			return 0
		case <-c.ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case <-renew.C:
			if lost {
				continue
			}
			_, err := client.Variables().Lock(c.ctx, "lock-renew", held, &api.QueryOptions{Namespace: held.Namespace})
			var ce *api.CASConflictError
			if errors.As(err, &ce) {
				// Someone else may hold it now: the child must stop.
				lost = true
				_ = cmd.Process.Signal(syscall.SIGTERM)
			} else if err != nil && verbose {
				fmt.Fprintf(c.err, "Renewing lock: %v\n", err)
			}
		}
	}
}
