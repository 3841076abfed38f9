package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// agent is one orch agent process inside a lab member's namespace.
type agent struct {
	t       testing.TB
	m       *member
	server  bool
	dataDir string
	args    []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	paused  bool
	running bool
	// clock is the offset, in seconds, of the agent's CLOCK_MONOTONIC and
	// CLOCK_BOOTTIME (a time namespace): restarting it with another
	// offset makes its monotonic clock jump, forwards or backwards.
	clock int64
}

// cluster is a lab with servers and clients.
type cluster struct {
	t       testing.TB
	lab     *lab
	servers []*agent
	clients []*agent
}

type clusterSpec struct {
	servers, clients int
	// serverHCL and clientHCL are extra agent configuration.
	serverHCL, clientHCL string
}

const rawExecHCL = "plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n"

// newCluster starts spec.servers servers that bootstrap together and
// spec.clients clients that know every server, and waits for a leader and
// every client's node to be ready.
func newCluster(t testing.TB, spec clusterSpec) *cluster {
	t.Helper()
	c := &cluster{t: t, lab: newLab(t)}
	dir := t.TempDir()
	cfg := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	serverCfg := cfg("server.hcl", spec.serverHCL+"\n")
	clientCfg := cfg("client.hcl", rawExecHCL+spec.clientHCL+"\n")
	var members []*member
	for i := 0; i < spec.servers; i++ {
		members = append(members, c.lab.add(fmt.Sprintf("s%d", i+1)))
	}
	for i := 0; i < spec.servers; i++ {
		args := []string{"-server", "-bootstrap-expect", fmt.Sprint(spec.servers), "-config", serverCfg}
		for _, o := range members {
			if o != members[i] {
				args = append(args, "-join", o.ip)
			}
		}
		c.servers = append(c.servers, c.start(members[i], true, args))
	}
	for i := 0; i < spec.clients; i++ {
		m := c.lab.add(fmt.Sprintf("c%d", i+1))
		args := []string{"-client", "-config", clientCfg}
		for _, s := range members {
			args = append(args, "-servers", s.ip)
		}
		c.clients = append(c.clients, c.start(m, false, args))
	}
	c.waitStable(60 * time.Second)
	return c
}

func (c *cluster) start(m *member, server bool, args []string) *agent {
	a := &agent{t: c.t, m: m, server: server, dataDir: filepath.Join(c.t.TempDir(), m.name), args: args}
	a.logPath = filepath.Join(c.t.TempDir(), m.name+".log")
	if err := a.start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		a.kill()
		if c.t.Failed() {
			b, _ := os.ReadFile(a.logPath)
			c.t.Logf("agent %s (%s) output, last lines:\n%s", m.name, m.ip, tail(string(b), 40))
		}
	})
	return a
}

func (a *agent) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return nil
	}
	full := []string{"netns", "exec", a.m.ns}
	if a.clock != 0 {
		// unshare moves the program it execs into a new time namespace.
		off := fmt.Sprint(a.clock)
		full = append(full, "unshare", "--time", "--monotonic", off, "--boottime", off)
	}
	full = append(append(full, binPath, "agent"), a.args...)
	full = append(full, "-bind", a.m.ip, "-data-dir", a.dataDir, "-node", a.m.name)
	// ip netns exec and unshare exec what follows: the process is the
	// agent's own.
	cmd := exec.Command("ip", full...)
	f, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "==== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", a.m.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	a.cmd, a.done, a.running, a.paused = cmd, done, true, false
	return nil
}

// kill -9s the agent (a paused one too); its tasks keep running.
func (a *agent) kill() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return
	}
	_ = a.cmd.Process.Kill()
	<-a.done
	a.running, a.paused = false, false
}

func (a *agent) signal(sig syscall.Signal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return
	}
	_ = a.cmd.Process.Signal(sig)
	switch sig {
	case syscall.SIGSTOP:
		a.paused = true
	case syscall.SIGCONT:
		a.paused = false
	}
}

func (a *agent) url() string  { return "http://" + a.m.ip + ":4646" }
func (a *agent) rpc() string  { return a.m.ip + ":4647" }
func (a *agent) name() string { return a.m.name }

// waitStable waits until every server agrees on a leader that is one of
// them and every client's node is ready.
func (c *cluster) waitStable(timeout time.Duration) {
	c.t.Helper()
	waitFor(c.t, timeout, "a leader and every client ready", func() (bool, string) {
		l := c.leader()
		if l == nil {
			return false, "no agreed leader"
		}
		var nodes []*structs.NodeListStub
		if err := getJSON(l.url()+"/v1/nodes", &nodes); err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range nodes {
			if n.Status == structs.NodeStatusReady {
				ready++
			}
		}
		return ready >= len(c.clients), fmt.Sprintf("%d of %d nodes ready", ready, len(c.clients))
	})
}

// leader returns the server every running server names as leader, or nil.
func (c *cluster) leader() *agent {
	var leader string
	for _, s := range c.servers {
		if !s.isRunning() {
			continue
		}
		var l string
		if err := getJSON(s.url()+"/v1/status/leader", &l); err != nil || l == "" {
			return nil
		}
		if leader != "" && l != leader {
			return nil
		}
		leader = l
	}
	for _, s := range c.servers {
		if s.rpc() == leader {
			return s
		}
	}
	return nil
}

func (a *agent) isRunning() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running && !a.paused
}

// others returns the cluster's members other than a's.
func (c *cluster) others(a *agent) []*member {
	var out []*member
	for _, o := range append(append([]*agent{}, c.servers...), c.clients...) {
		if o != a {
			out = append(out, o.m)
		}
	}
	return out
}

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

var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableKeepAlives: false}}

func getJSON(url string, out any) error {
	code, _, body := request("GET", url, nil, 5*time.Second)
	if code != 200 {
		return fmt.Errorf("GET %s: %d %s", url, code, body)
	}
	return json.Unmarshal(body, out)
}

// request sends method url with body (JSON-encoded) and returns status,
// headers and body; status 0 on a transport error or timeout. The timeout
// travels with the request (X-Orch-Timeout-Ms) as the api package sends
// it, so servers drop the request once the caller gave up.
func request(method, url string, body any, timeout time.Duration) (int, http.Header, []byte) {
	var rd io.Reader
	if body != nil {
		enc, _ := json.Marshal(body)
		rd = bytes.NewReader(enc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, rd)
	req.Header.Set("X-Orch-Timeout-Ms", fmt.Sprint(timeout.Milliseconds()))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	return resp.StatusCode, resp.Header, out
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
