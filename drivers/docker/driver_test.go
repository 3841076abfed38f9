package docker

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

func TestEchoToFIFO(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", "echo hello $ORCH_TEST; echo oops >&2; ls /alloc/web /local /secrets >/dev/null && echo mounts-ok"))
	h := startTask(t, d, tt)
	if h.Driver != Name || len(h.DriverState) == 0 || h.Config != tt.TaskConfig {
		t.Fatalf("bad handle: %+v", h)
	}
	res := waitExit(t, d, tt.ID, 30*time.Second)
	if !res.Successful() {
		t.Fatalf("exit = %+v, want success", res)
	}
	// The exit is reported only after the output reached the FIFOs.
	if got := tt.stdout.String(); got != "hello yes\nmounts-ok\n" {
		t.Fatalf("stdout = %q", got)
	}
	if got := tt.stderr.String(); got != "oops\n" {
		t.Fatalf("stderr = %q", got)
	}

	st, err := d.Inspect(tt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != drivers.TaskStateExited || st.ExitResult == nil || st.CompletedAt.IsZero() || st.Attributes["container_id"] == "" {
		t.Fatalf("inspect = %+v", st)
	}

	// The container carries the labels orphan cleanup relies on.
	info, err := d.client.ContainerInspect(context.Background(), st.Attributes["container_id"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{LabelAllocID: tt.AllocID, LabelJob: "job", LabelTask: "web", LabelNodeID: testNodeID}
	for k, v := range want {
		if info.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, info.Config.Labels[k], v)
		}
	}
	if info.HostConfig.Memory != 64<<20 || info.HostConfig.CPUShares != 100 {
		t.Errorf("resources: memory %d shares %d", info.HostConfig.Memory, info.HostConfig.CPUShares)
	}

	if err := d.Destroy(tt.ID, false); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if _, err := d.client.ContainerInspect(context.Background(), st.Attributes["container_id"]); err == nil {
		t.Fatal("container still exists after Destroy")
	}
	if _, err := d.Inspect(tt.ID); err == nil {
		t.Fatal("Inspect after Destroy succeeded")
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", "exit 3"))
	startTask(t, d, tt)
	// Two waiters both see the exit.
	ctx := context.Background()
	c1, _ := d.Wait(ctx, tt.ID)
	c2, _ := d.Wait(ctx, tt.ID)
	for _, c := range []<-chan *drivers.ExitResult{c1, c2} {
		res := <-c
		if res.ExitCode != 3 || res.OOMKilled || res.Err != nil {
			t.Fatalf("exit = %+v, want code 3", res)
		}
	}
	if err := d.Destroy("nope", true); err == nil {
		t.Fatal("Destroy of unknown task succeeded")
	}
}

func TestServicePortMapping(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, map[string]any{
		"image":   testImage,
		"command": "httpd",
		"args":    []any{"-f", "-p", "8080", "-h", "/local"},
		"ports":   []any{"http"},
	})
	if err := os.WriteFile(filepath.Join(tt.LocalDir(), "index.html"), []byte("served from local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	tt.Ports = []structs.AllocatedPort{{Label: "http", Value: port, To: 8080, HostIP: "127.0.0.1"}}
	startTask(t, d, tt)

	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	body := httpGetEventually(t, url, 20*time.Second)
	if body != "served from local\n" {
		t.Fatalf("body = %q", body)
	}

	st, err := d.Inspect(tt.ID)
	if err != nil || st.State != drivers.TaskStateRunning {
		t.Fatalf("inspect = %+v, %v", st, err)
	}
	if err := d.Destroy(tt.ID, false); err == nil {
		t.Fatal("Destroy without force of a running task succeeded")
	}
	if err := d.Stop(tt.ID, 500*time.Millisecond, ""); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitExit(t, d, tt.ID, 10*time.Second)
}

func TestUnknownPortLabel(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, map[string]any{"image": testImage, "command": "true", "ports": []any{"nope"}})
	_, err := d.Start(context.Background(), tt.TaskConfig)
	if err == nil || !strings.Contains(err.Error(), `port label "nope"`) {
		t.Fatalf("Start = %v, want unknown port label error", err)
	}
}

func TestOOMKilled(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", "x=a; while true; do x=$x$x; done"))
	tt.Resources.Memory = structs.AllocatedMemoryResources{MemoryMB: 16}
	startTask(t, d, tt)
	res := waitExit(t, d, tt.ID, 60*time.Second)
	if !res.OOMKilled {
		t.Fatalf("exit = %+v, want OOMKilled", res)
	}
	if res.Successful() {
		t.Fatal("an OOM-killed task counted as successful")
	}
}

func TestMemoryMaxIsHardLimit(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("true"))
	tt.Resources.Memory = structs.AllocatedMemoryResources{MemoryMB: 32, MemoryMaxMB: 96}
	tt.Resources.Cpu.ReservedCores = []uint16{0}
	startTask(t, d, tt)
	waitExit(t, d, tt.ID, 30*time.Second)
	st, _ := d.Inspect(tt.ID)
	info, err := d.client.ContainerInspect(context.Background(), st.Attributes["container_id"])
	if err != nil {
		t.Fatal(err)
	}
	hc := info.HostConfig
	if hc.Memory != 96<<20 || hc.MemoryReservation != 32<<20 || hc.CpusetCpus != "0" {
		t.Fatalf("memory %d reservation %d cpuset %q", hc.Memory, hc.MemoryReservation, hc.CpusetCpus)
	}
}

func TestStopKillsContainerIgnoringTERM(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", `trap "" TERM; echo ready; sleep 1000`))
	startTask(t, d, tt)
	tt.stdout.waitContains(t, "ready\n", 20*time.Second)

	const killTimeout = time.Second
	start := time.Now()
	if err := d.Stop(tt.ID, killTimeout, "SIGTERM"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	elapsed := time.Since(start)
	res := waitExit(t, d, tt.ID, 10*time.Second)
	if elapsed < killTimeout || elapsed > killTimeout+5*time.Second {
		t.Fatalf("Stop took %s with kill timeout %s", elapsed, killTimeout)
	}
	if res.ExitCode != 137 {
		t.Fatalf("exit = %+v, want 137 (SIGKILL)", res)
	}
	// Stopping a stopped task is fine.
	if err := d.Stop(tt.ID, time.Second, ""); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestStopGraceful(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", `trap "echo bye; exit 0" INT; echo ready; while true; do sleep 0.05; done`))
	startTask(t, d, tt)
	tt.stdout.waitContains(t, "ready\n", 20*time.Second)
	start := time.Now()
	if err := d.Stop(tt.ID, 20*time.Second, "SIGINT"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("graceful stop took %s", time.Since(start))
	}
	res := waitExit(t, d, tt.ID, 10*time.Second)
	if !res.Successful() {
		t.Fatalf("exit = %+v", res)
	}
	tt.stdout.waitContains(t, "bye\n", 5*time.Second)
}

func TestSignal(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", `trap "echo got-usr1" USR1; echo ready; while true; do sleep 0.05; done`))
	startTask(t, d, tt)
	tt.stdout.waitContains(t, "ready\n", 20*time.Second)
	if err := d.Signal(tt.ID, "SIGUSR1"); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	tt.stdout.waitContains(t, "got-usr1\n", 10*time.Second)
	if err := d.Signal(tt.ID, "SIGNOPE"); err == nil {
		t.Fatal("bogus signal accepted")
	}
	if st, _ := d.Inspect(tt.ID); st.State != drivers.TaskStateRunning {
		t.Fatalf("state after signal = %s", st.State)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("sh", "-c", "echo ready; while true; do :; done"))
	startTask(t, d, tt)
	tt.stdout.waitContains(t, "ready\n", 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u, err := d.Stats(ctx, tt.ID)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if u.MemoryRSS == 0 || u.Timestamp == 0 {
		t.Fatalf("usage = %+v", u)
	}
	// A busy loop uses a good share of a core.
	if u.CPUPercent < 5 {
		t.Fatalf("cpu percent %.1f for a busy loop", u.CPUPercent)
	}
}

func TestPullUnreachableRegistry(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, map[string]any{"image": "127.0.0.1:1/orch/nothing:1.0", "command": "true", "image_pull_timeout": "20s"})
	_, err := d.Start(context.Background(), tt.TaskConfig)
	if err == nil {
		t.Fatal("Start succeeded without the image")
	}
	if !strings.Contains(err.Error(), "pulling image 127.0.0.1:1/orch/nothing:1.0: registry unreachable") {
		t.Fatalf("error = %v", err)
	}
	if _, err := d.Inspect(tt.ID); err == nil {
		t.Fatal("failed start left a task behind")
	}
}

func TestLocalImageNotPulled(t *testing.T) {
	needDocker(t)
	// With no registry here, a pull attempt would fail: success proves the
	// local image was used, also for the implicit :latest tag.
	d := newTestDriver(t)
	id, err := d.ensureImage(context.Background(), &taskConfig{Image: "orch-test/busybox"})
	if err != nil || !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("ensureImage = %q, %v", id, err)
	}
}

func TestStaleContainerReplaced(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t)
	tt := newTestTask(t, busybox("echo", "second"))
	// A container left with the task's name by a crashed start.
	ctx := context.Background()
	stale, err := d.client.ContainerCreate(ctx, &container.Config{Image: testImage, Cmd: []string{"true"},
		Labels: map[string]string{LabelNodeID: testNodeID}}, nil, nil, nil, containerName(tt.TaskConfig))
	if err != nil {
		t.Fatal(err)
	}
	startTask(t, d, tt)
	if res := waitExit(t, d, tt.ID, 30*time.Second); !res.Successful() {
		t.Fatalf("exit = %+v", res)
	}
	if got := tt.stdout.String(); got != "second\n" {
		t.Fatalf("stdout = %q", got)
	}
	if _, err := d.client.ContainerInspect(ctx, stale.ID); err == nil {
		t.Fatal("stale container survived")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpGetEventually retries until the service answers: the container's
// server needs a moment to bind after the container starts.
func httpGetEventually(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				return string(b)
			}
			lastErr = fmt.Errorf("status %d, read err %v", resp.StatusCode, err)
		} else {
			lastErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}
