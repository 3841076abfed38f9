package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

var (
	binPath  string
	repoRoot string
	// nextIP hands each agent its own loopback address, so agents use the
	// default ports without colliding. Addresses are claimed machine-wide
	// (see newIP), so concurrent runs of this package never share one.
	nextIP atomic.Int32
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	dir, err := os.MkdirTemp("", "orch-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Task shims run as the task's user (raw_exec with user = "nobody").
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binPath = filepath.Join(dir, "orch")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building orch:", err)
		return 1
	}
	nextIP.Store(int32(os.Getpid() % ipSpace))
	code := m.Run()
	sweepTasks()
	return code
}

// sweepTasks kills what tests left running when they killed an agent
// before its jobs stopped: every task runs under a shim that is this
// build's binary, so any process still running it, with its process group
// (raw_exec) or PID namespace (exec, where the shim is PID 1), goes.
func sweepTasks() {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != binPath {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ipSpace is how many loopback addresses newIP chooses among:
// 127.0.10.1 to 127.0.249.250.
const ipSpace = 240 * 250

// newIP returns a fresh loopback address 127.0.<a>.<b> that no other test
// process on this machine holds: each address is claimed with an flock on
// a file named after it, held until this process exits (the kernel drops
// it even on kill -9), and skipped while anything still listens on its
// agent ports (an agent a killed run left behind).
func newIP() string {
	for tries := 0; tries < ipSpace; tries++ {
		n := int(nextIP.Add(1)) % ipSpace
		ip := fmt.Sprintf("127.0.%d.%d", 10+n/250, 1+n%250)
		if claimIP(ip) {
			return ip
		}
	}
	panic("no free loopback address for an e2e agent")
}

var claimedIPs sync.Map // ip -> *os.File holding its lock

func claimIP(ip string) bool {
	dir := filepath.Join(os.TempDir(), "orch-e2e-ips")
	_ = os.MkdirAll(dir, 0o700)
	f, err := os.OpenFile(filepath.Join(dir, ip), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	for _, port := range []string{"4646", "4647", "4648"} {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			f.Close()
			return false
		}
		l.Close()
	}
	claimedIPs.Store(ip, f)
	return true
}

// agentProc is one running agent process.
type agentProc struct {
	t       testing.TB
	ip      string
	dataDir string
	args    []string
	// netns, when set, is the network namespace the agent runs in.
	netns string
	// env is added to the agent's environment (startAgentEnv).
	env  []string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent runs `orch agent <args> -bind ip -data-dir dir -node name`.
func startAgent(t testing.TB, ip, dataDir string, args ...string) *agentProc {
	t.Helper()
	return startAgentIn(t, "", ip, dataDir, args...)
}

// startAgentIn is startAgent inside a network namespace ("" for none).
func startAgentIn(t testing.TB, netns, ip, dataDir string, args ...string) *agentProc {
	t.Helper()
	return launchAgent(t, &agentProc{t: t, ip: ip, dataDir: dataDir, args: args, netns: netns})
}

// startAgentEnv is startAgent with env added to the agent's environment.
func startAgentEnv(t testing.TB, env []string, ip, dataDir string, args ...string) *agentProc {
	t.Helper()
	return launchAgent(t, &agentProc{t: t, ip: ip, dataDir: dataDir, args: args, env: env})
}

func launchAgent(t testing.TB, a *agentProc) *agentProc {
	t.Helper()
	ip := a.ip
	a.start()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("agent %s output:\n%s", ip, tail(a.logs.String(), 60))
		}
	})
	return a
}

func (a *agentProc) start() {
	a.t.Helper()
	full := append([]string{"agent"}, a.args...)
	full = append(full, "-bind", a.ip, "-data-dir", a.dataDir)
	if !slices.Contains(a.args, "-node") {
		full = append(full, "-node", "agent-"+a.ip)
	}
	if a.netns != "" {
		// ip netns exec enters the namespace and execs the agent: the
		// process is the agent's own.
		a.cmd = exec.Command("ip", append([]string{"netns", "exec", a.netns, binPath}, full...)...)
	} else {
		a.cmd = exec.Command(binPath, full...)
	}
	if a.env != nil {
		a.cmd.Env = append(os.Environ(), a.env...)
	}
	a.logs = &syncBuffer{}
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: false}
	if err := a.cmd.Start(); err != nil {
		a.t.Fatalf("starting agent: %v", err)
	}
	a.done = make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(a.done) }()
}

// kill -9s the agent; tasks it started keep running.
func (a *agentProc) kill() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Kill()
	<-a.done
}

// stop sends SIGTERM and waits.
func (a *agentProc) stop() {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		a.kill()
	}
}

func (a *agentProc) addr() string { return "http://" + a.ip + ":4646" }

func (a *agentProc) api(t testing.TB) *api.Client {
	c, err := api.NewClient(api.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cli runs the orch CLI against the agent and returns stdout+stderr and the exit code.
func (a *agentProc) cli(t testing.TB, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "ORCH_ADDR="+a.addr())
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running orch %v: %v", args, err)
	}
	return string(out), code
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, info := cond()
		if ok {
			return
		}
		last = info
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
}

func getJSON(url string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// waitReady waits until the agent has a leader and, if wantNodes > 0, that
// many ready nodes.
func waitReady(t testing.TB, a *agentProc, wantNodes int) {
	t.Helper()
	waitFor(t, 20*time.Second, "leader and ready nodes", func() (bool, string) {
		var leader string
		if err := getJSON(a.addr()+"/v1/status/leader", &leader); err != nil || leader == "" {
			return false, fmt.Sprintf("leader=%q err=%v", leader, err)
		}
		if wantNodes == 0 {
			return true, ""
		}
		var nodes []*structs.NodeListStub
		if err := getJSON(a.addr()+"/v1/nodes", &nodes); err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range nodes {
			if n.Status == structs.NodeStatusReady {
				ready++
			}
		}
		return ready >= wantNodes, fmt.Sprintf("%d ready nodes", ready)
	})
}

// jobAllocs lists a job's allocations.
func jobAllocs(t testing.TB, a *agentProc, jobID string) []*structs.AllocListStub {
	var allocs []*structs.AllocListStub
	if err := getJSON(a.addr()+"/v1/job/"+jobID+"/allocations", &allocs); err != nil {
		return nil
	}
	return allocs
}

// waitAllocs waits until the job has n allocations in the wanted client status.
func waitAllocs(t testing.TB, a *agentProc, jobID string, n int, status string, timeout time.Duration) []*structs.AllocListStub {
	t.Helper()
	var got []*structs.AllocListStub
	waitFor(t, timeout, fmt.Sprintf("%d %s allocs of %s", n, status, jobID), func() (bool, string) {
		got = jobAllocs(t, a, jobID)
		c := 0
		var states []string
		for _, al := range got {
			states = append(states, al.ClientStatus)
			if al.ClientStatus == status {
				c++
			}
		}
		return c >= n, strings.Join(states, ",")
	})
	return got
}

func example(name string) string { return filepath.Join(repoRoot, "examples", name) }

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
