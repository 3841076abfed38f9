package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
)

const tickerScript = `i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.02; done`

var tickRE = regexp.MustCompile(`tick (\d+)\n`)

func ticks(s string) []int {
	var out []int
	for _, m := range tickRE.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func lastTick(s string) int {
	t := ticks(s)
	if len(t) == 0 {
		return -1
	}
	return t[len(t)-1]
}

// waitDaemonTick waits until the daemon has recorded tick n: the container
// kept running and logging while no driver was attached.
func waitDaemonTick(t *testing.T, d *Driver, containerID string, n int) {
	t.Helper()
	want := fmt.Sprintf("tick %d\n", n)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rc, err := d.client.ContainerLogs(context.Background(), containerID, container.LogsOptions{ShowStdout: true, Tail: "5"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(b), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("container never logged %q", strings.TrimSpace(want))
}

// TestRecoverRunningResumesLogs detaches a driver from a running container
// (as a client exit would), lets the container log on, and recovers it in a
// fresh driver: with a state dir the output must continue with no line lost
// or repeated; without one it continues from "now".
func TestRecoverRunningResumesLogs(t *testing.T) {
	for _, withCursor := range []bool{true, false} {
		t.Run(fmt.Sprintf("cursor=%v", withCursor), func(t *testing.T) {
			t.Parallel()
			stateDir := ""
			if withCursor {
				stateDir = t.TempDir()
			}
			withState := func(c *Config) { c.StateDir = stateDir }
			d1 := newTestDriver(t, withState)
			tt := newTestTask(t, busybox("sh", "-c", tickerScript))
			h, err := d1.Start(context.Background(), tt.TaskConfig)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := decodeState(h)
			tt.stdout.waitContains(t, "tick 5\n", 20*time.Second)

			if err := d1.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			seen := lastTick(tt.stdout.String())
			d2 := newTestDriver(t, withState)
			t.Cleanup(func() { _ = d2.Destroy(tt.ID, true) })
			waitDaemonTick(t, d2, st.ContainerID, seen+10)

			// The handle round-trips through JSON, as the client persists it.
			if err := d2.Recover(context.Background(), h); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if err := d2.Recover(context.Background(), h); err != nil {
				t.Fatalf("second Recover: %v", err)
			}
			if s, err := d2.Inspect(tt.ID); err != nil || s.State != drivers.TaskStateRunning {
				t.Fatalf("Inspect after recover = %+v, %v", s, err)
			}
			target := seen + 40
			tt.stdout.waitFor(t, fmt.Sprintf("tick %d", target), 20*time.Second, func(s string) bool { return lastTick(s) >= target })

			if err := d2.Stop(tt.ID, time.Second, "SIGKILL"); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if res := waitExit(t, d2, tt.ID, 10*time.Second); res.ExitCode != 137 {
				t.Fatalf("exit = %+v", res)
			}
			if err := d2.Destroy(tt.ID, false); err != nil {
				t.Fatal(err)
			}

			got := ticks(tt.stdout.String())
			for i := 1; i < len(got); i++ {
				step := got[i] - got[i-1]
				if step == 1 {
					continue
				}
				if withCursor || step <= 0 {
					t.Fatalf("ticks not contiguous at %d: %d then %d", i, got[i-1], got[i])
				}
			}
			if got[0] != 0 {
				t.Fatalf("first tick %d", got[0])
			}
			if withCursor {
				if _, err := os.Stat(filepath.Join(stateDir, st.ContainerID+".logcursor")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("cursor file left after Destroy: %v", err)
				}
			}
		})
	}
}

// TestRecoverExitedWhileDown: the task exits while no driver watches; the
// recovered handle reports its real exit code and its last words.
func TestRecoverExitedWhileDown(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	withState := func(c *Config) { c.StateDir = stateDir }
	d1 := newTestDriver(t, withState)
	tt := newTestTask(t, busybox("sh", "-c", `echo waiting; until cat /local/go 2>/dev/null; do sleep 0.02; done; echo bye; exit 7`))
	h, err := d1.Start(context.Background(), tt.TaskConfig)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := decodeState(h)
	tt.stdout.waitContains(t, "waiting\n", 20*time.Second)
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(tt.LocalDir(), "go"), []byte("go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d2 := newTestDriver(t, withState)
	t.Cleanup(func() { _ = d2.Destroy(tt.ID, true) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	respC, errC := d2.client.ContainerWait(ctx, st.ContainerID, container.WaitConditionNotRunning)
	select {
	case <-respC:
	case err := <-errC:
		t.Fatal(err)
	}

	if err := d2.Recover(context.Background(), h); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	res := waitExit(t, d2, tt.ID, 10*time.Second)
	if res.ExitCode != 7 || res.Err != nil {
		t.Fatalf("exit = %+v, want code 7", res)
	}
	if got := tt.stdout.String(); got != "waiting\ngo\nbye\n" {
		t.Fatalf("stdout = %q", got)
	}
}

func TestRecoverMissingContainer(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("true"))
	h := &drivers.TaskHandle{Version: handleVersion, Driver: Name, Config: tt.TaskConfig,
		DriverState: []byte(`{"ContainerID":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}`)}
	if err := d.Recover(context.Background(), h); !errors.Is(err, drivers.ErrTaskNotFound) {
		t.Fatalf("Recover = %v, want ErrTaskNotFound", err)
	}
	h.DriverState = []byte(`garbage`)
	if err := d.Recover(context.Background(), h); err == nil {
		t.Fatal("Recover of garbage state succeeded")
	}
	if _, err := d.Wait(context.Background(), tt.ID); !errors.Is(err, drivers.ErrTaskNotFound) {
		t.Fatalf("Wait = %v", err)
	}
}

func TestCleanupOrphans(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t, func(c *Config) { c.NodeID = orphanNodeID })
	other := newTestDriver(t, func(c *Config) { c.NodeID = otherNodeID })
	live := newTestTask(t, busybox("sleep", "1000"))
	orphan := newTestTask(t, busybox("sleep", "1000"))
	foreign := newTestTask(t, busybox("sleep", "1000"))
	startTask(t, d, live)
	startTask(t, d, orphan)
	startTask(t, other, foreign)

	containerOf := func(d *Driver, id string) string {
		st, err := d.Inspect(id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Attributes["container_id"]
	}
	liveC, orphanC, foreignC := containerOf(d, live.ID), containerOf(d, orphan.ID), containerOf(other, foreign.ID)

	if err := d.CleanupOrphans(context.Background(), map[string]bool{live.AllocID: true}); err != nil {
		t.Fatalf("CleanupOrphans: %v", err)
	}
	ctx := context.Background()
	if _, err := d.client.ContainerInspect(ctx, orphanC); err == nil {
		t.Fatal("orphan container survived")
	}
	for _, id := range []string{liveC, foreignC} {
		if info, err := d.client.ContainerInspect(ctx, id); err != nil || !info.State.Running {
			t.Fatalf("container %s removed or stopped: %v", shortID(id), err)
		}
	}
	// The driver notices its orphaned task is gone.
	if res := waitExit(t, d, orphan.ID, 10*time.Second); res.Successful() {
		t.Fatalf("orphan exit = %+v", res)
	}

	noNode, _ := New(Config{Logger: testLogger()})
	if err := noNode.CleanupOrphans(ctx, nil); err == nil {
		t.Fatal("cleanup without a node ID succeeded")
	}
}
