package exec

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
)

func TestFingerprintDetected(t *testing.T) {
	requireIsolation(t)
	info := newDriver(t).Fingerprint(context.Background())
	if !info.Detected || !info.Healthy || info.Attributes["driver.exec"] != "1" {
		t.Fatalf("fingerprint: %+v", info)
	}
}

func TestOutputAndIsolation(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	script := `echo hello
echo uid=$(id -u)
echo pid=$$
echo procs=$(ls /proc | grep -E '^[0-9]+$' | tr '\n' ' ')
[ -e /proc/$HOST_PID ] && echo host-visible || echo host-hidden
for p in /usr/x /bin/x /x /etc/x /alloc/web/x; do touch $p 2>/dev/null && echo "writable $p" || echo "readonly $p"; done
for p in /local/x /tmp/x /secrets/x /alloc/x; do touch $p && echo "writable $p"; done
echo "done" >&2`
	tt := newTask(t, "/bin/sh", "-c", script)
	tt.cfg.Env["HOST_PID"] = strconv.Itoa(os.Getpid())
	start(t, d, tt)
	res := wait(t, d, tt.cfg.ID)
	tt.stderr.waitFor(t, "done")
	out := tt.stdout.waitFor(t, "writable /alloc/x")
	if !res.Successful() {
		t.Fatalf("exit %+v, output:\n%s\nstderr:\n%s", res, out, tt.stderr.String())
	}
	for _, want := range []string{
		"hello", "uid=65534", "host-hidden",
		"readonly /usr/x", "readonly /bin/x", "readonly /x", "readonly /etc/x", "readonly /alloc/web/x",
		"writable /local/x", "writable /tmp/x", "writable /secrets/x",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in output:\n%s", want, out)
		}
	}
	// In its own PID namespace the task sees only its few processes, all
	// with small pids: the shim is 1, the shell 2.
	var pids []int
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "procs="); ok {
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.Atoi(f)
				pids = append(pids, n)
			}
		}
	}
	sort.Ints(pids)
	if len(pids) == 0 || pids[0] != 1 || pids[len(pids)-1] > 20 {
		t.Errorf("task should see only low pids of its own namespace, got %v", pids)
	}
	// The shim is 1; the bootstrap's threads used a few pids before it
	// forked the command.
	var pid int
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "pid="); ok {
			pid, _ = strconv.Atoi(rest)
		}
	}
	if pid < 2 || pid > 20 {
		t.Errorf("the command should have a low pid under the shim, got %d", pid)
	}
}

func TestExitCode(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", "exit 3")
	start(t, d, tt)
	if res := wait(t, d, tt.cfg.ID); res.ExitCode != 3 || res.Signal != 0 || res.OOMKilled {
		t.Fatalf("want exit 3, got %+v", res)
	}
	st, err := d.Inspect(tt.cfg.ID)
	if err != nil || st.State != drivers.TaskStateExited || st.ExitResult.ExitCode != 3 || st.CompletedAt.IsZero() {
		t.Fatalf("inspect: %+v %v", st, err)
	}
}

func TestStartCommandNotFound(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/no/such/command")
	if _, err := d.Start(context.Background(), tt.cfg); err == nil {
		_ = d.Destroy(tt.cfg.ID, true)
		t.Fatal("start of a missing command must fail")
	}
	entries, _ := os.ReadDir(d.cfg.StateRoot)
	if len(entries) != 0 {
		t.Fatalf("failed start left state behind: %v", entries)
	}
}

func TestStopGraceful(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", "trap 'echo term; exit 0' TERM; echo ready; while :; do sleep 0.05; done")
	start(t, d, tt)
	tt.stdout.waitFor(t, "ready")
	if err := d.Stop(tt.cfg.ID, 10*time.Second, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	if res := wait(t, d, tt.cfg.ID); res.ExitCode != 0 || res.Signal != 0 {
		t.Fatalf("graceful stop: %+v", res)
	}
	tt.stdout.waitFor(t, "term")
}

func TestStopEscalatesToKill(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", "trap '' TERM INT; echo ready; while :; do sleep 0.05; done")
	start(t, d, tt)
	tt.stdout.waitFor(t, "ready")
	began := time.Now()
	if err := d.Stop(tt.cfg.ID, 300*time.Millisecond, "SIGINT"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(began); el < 300*time.Millisecond || el > 10*time.Second {
		t.Fatalf("stop took %v", el)
	}
	if res := wait(t, d, tt.cfg.ID); res.Signal != 9 {
		t.Fatalf("want SIGKILL, got %+v", res)
	}
}

func TestSignal(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", "trap 'echo usr1; exit 5' USR1; echo ready; while :; do sleep 0.05; done")
	start(t, d, tt)
	tt.stdout.waitFor(t, "ready")
	if err := d.Signal(tt.cfg.ID, "USR1"); err != nil {
		t.Fatal(err)
	}
	if res := wait(t, d, tt.cfg.ID); res.ExitCode != 5 {
		t.Fatalf("want exit 5, got %+v", res)
	}
	if err := d.Signal(tt.cfg.ID, "BOGUS"); err == nil {
		t.Fatal("unknown signal must fail")
	}
}

func TestOOMKilled(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	// tail buffers its one endless "line" until the memory limit stops it.
	tt := newTask(t, "/usr/bin/tail", "/dev/zero")
	tt.cfg.Resources.Memory.MemoryMB = 32
	start(t, d, tt)
	res := wait(t, d, tt.cfg.ID)
	if !res.OOMKilled || res.Signal != 9 {
		t.Fatalf("want OOM kill, got %+v", res)
	}
}

func TestStatsAndShimFootprint(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", "echo ready; while :; do sleep 0.05; done")
	h := start(t, d, tt)
	tt.stdout.waitFor(t, "ready")
	u, err := d.Stats(context.Background(), tt.cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.MemoryRSS == 0 || len(u.Pids) < 2 || u.Timestamp == 0 {
		t.Fatalf("stats: %+v", u)
	}
	var st handleState
	if err := json.Unmarshal(h.DriverState, &st); err != nil {
		t.Fatal(err)
	}
	rss := vmRSSKiB(t, st.Container.Pid)
	t.Logf("shim RSS %d KiB", rss)
	if rss > 5*1024 {
		t.Fatalf("shim uses %d KiB, want at most 5 MiB", rss)
	}
}

func vmRSSKiB(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func TestDestroyLeavesNothing(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", "echo ready; exec sleep 100")
	h := start(t, d, tt)
	tt.stdout.waitFor(t, "ready")
	var st handleState
	if err := json.Unmarshal(h.DriverState, &st); err != nil {
		t.Fatal(err)
	}
	cgroupDirs := taskCgroupDirs(t, st.Container.ContainerID)
	if len(cgroupDirs) == 0 {
		t.Fatal("no cgroup directories found for a running task")
	}
	if err := d.Destroy(tt.cfg.ID, false); err == nil {
		t.Fatal("destroy without force must refuse a running task")
	}
	if err := d.Destroy(tt.cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, dir := range cgroupDirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left behind", dir)
		}
	}
	if _, err := os.Stat(filepath.Join(d.cfg.StateRoot, st.Container.ContainerID)); !os.IsNotExist(err) {
		t.Errorf("state dir left behind: %v", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), tt.cfg.TaskDir) {
		t.Errorf("mounts under the task dir left behind")
	}
	entries, _ := os.ReadDir(tt.cfg.TaskDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "local,secrets,tmp" {
		t.Errorf("task dir should hold only its own dirs, has %v", names)
	}
	if _, err := d.Inspect(tt.cfg.ID); !errorsIs(err, drivers.ErrTaskNotFound) {
		t.Errorf("destroyed task still known: %v", err)
	}
}

// taskCgroupDirs finds the task's cgroup directories in every hierarchy.
func taskCgroupDirs(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/orch/" + id, "/sys/fs/cgroup/orch/" + id} {
		m, _ := filepath.Glob(pattern)
		out = append(out, m...)
	}
	return out
}

func TestStartRejectsBadConfig(t *testing.T) {
	d := newDriver(t)
	tt := newTask(t, "/bin/true")
	tt.cfg.Config["pid_mode"] = "shared"
	if _, err := d.Start(context.Background(), tt.cfg); err == nil {
		t.Fatal("bad pid_mode accepted")
	}
}

func TestHostPIDMode(t *testing.T) {
	requireIsolation(t)
	d := newDriver(t)
	tt := newTask(t, "/bin/sh", "-c", "[ -e /proc/$HOST_PID ] && echo host-visible || echo host-hidden")
	tt.cfg.Config["pid_mode"] = "host"
	tt.cfg.Env["HOST_PID"] = strconv.Itoa(os.Getpid())
	start(t, d, tt)
	if res := wait(t, d, tt.cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v", res)
	}
	tt.stdout.waitFor(t, "host-visible")
}

func BenchmarkStartWait(b *testing.B) {
	requireIsolation(b)
	d := newDriver(b)
	lat := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		tt := newTask(b, "/bin/true")
		began := time.Now()
		if _, err := d.Start(context.Background(), tt.cfg); err != nil {
			b.Fatal(err)
		}
		if res := wait(b, d, tt.cfg.ID); !res.Successful() {
			b.Fatalf("exit %+v", res)
		}
		lat = append(lat, time.Since(began))
		b.StopTimer()
		if err := d.Destroy(tt.cfg.ID, true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}
