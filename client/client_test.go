package client

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/server/servertest"
	"github.com/orch-project/orch/structs"
)

// testServer is a real single-server cluster (Raft on disk, scheduler,
// control channel on its RPC port) for the client to talk to.
type testServer struct {
	*server.Server
	rpc string
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	s := servertest.Server(t)
	return &testServer{Server: s, rpc: s.RaftAddr()}
}

func (s *testServer) node(id string) *structs.Node {
	n, _ := s.State().NodeByID(nil, id)
	return n
}

func (s *testServer) alloc(id string) *structs.Allocation {
	a, _ := s.State().AllocByID(nil, id)
	return a
}

func (s *testServer) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runJob registers a one-task raw_exec service job and returns its
// allocation once placed.
func (s *testServer) runJob(t *testing.T, id string, tg func(*structs.TaskGroup)) *structs.Allocation {
	t.Helper()
	task := &structs.Task{Name: "web", Driver: "raw_exec", KillTimeout: 2 * time.Second,
		Config:    map[string]any{"command": "/bin/sh", "args": []any{"-c", `echo "started ${NOMAD_ALLOC_INDEX}"; exec sleep 1000`}},
		Resources: &structs.Resources{CPU: 100, MemoryMB: 32}}
	g := &structs.TaskGroup{Name: "g", Count: 1, Tasks: []*structs.Task{task},
		EphemeralDisk: &structs.EphemeralDisk{SizeMB: 10},
		RestartPolicy: &structs.RestartPolicy{Attempts: 0, Interval: time.Minute, Mode: "fail"}}
	if tg != nil {
		tg(g)
	}
	job := &structs.Job{ID: id, Name: id, Type: structs.JobTypeService, Namespace: "default", Region: "global",
		Priority: 50, Datacenters: []string{"dc9"}, TaskGroups: []*structs.TaskGroup{g}}
	resp, err := s.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job})
	if err != nil {
		t.Fatal(err)
	}
	var alloc *structs.Allocation
	s.waitFor(t, "placement", func() bool {
		allocs, _ := s.State().AllocsByEval(nil, resp.EvalID)
		if len(allocs) == 1 {
			alloc = allocs[0]
		}
		return alloc != nil
	})
	return alloc
}

func startClient(t *testing.T, dataDir string, servers []string) (*Client, func()) {
	t.Helper()
	c, err := New(Config{DataDir: dataDir, NodeName: "test-node", Datacenter: "dc9", Servers: servers, Logger: testLogger(),
		HTTPAddr: "127.0.0.1:4646", Options: map[string]string{"driver.raw_exec.enable": "1"},
		Meta: map[string]string{"rack": "r1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return c, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	}
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func TestClientEndToEnd(t *testing.T) {
	srv := newTestServer(t)
	dataDir := t.TempDir()
	// The first server is dead: the client must fail over.
	c, stop := startClient(t, dataDir, []string{"127.0.0.1:1", srv.rpc})
	nodeID := c.NodeID()

	srv.waitFor(t, "registration", func() bool { return srv.node(nodeID) != nil })
	n := srv.node(nodeID)
	if n.Status != structs.NodeStatusReady || n.Datacenter != "dc9" || n.Name != "test-node" || n.Meta["rack"] != "r1" ||
		n.Attributes["driver.raw_exec"] != "1" || !n.Drivers["raw_exec"].Healthy ||
		n.Attributes["unique.network.ip-address"] != "127.0.0.1" || n.NodeResources.Cpu.CpuShares <= 0 ||
		n.NodeResources.Memory.MemoryMB <= 0 || n.Attributes["nomad.version"] != structs.Version || n.SecretID == "" {
		t.Fatalf("registered node %+v", n)
	}

	placed := time.Now()
	alloc := srv.runJob(t, "svc", nil)
	srv.waitFor(t, "running", func() bool {
		a := srv.alloc(alloc.ID)
		return a != nil && a.ClientStatus == structs.AllocClientStatusRunning
	})
	t.Logf("submit to running reported: %s", time.Since(placed))
	dir, ok := c.AllocDir(alloc.ID)
	if !ok {
		t.Fatal("AllocDir unknown for a running alloc")
	}
	logFile := filepath.Join(dir, "alloc", "logs", "web.stdout.0")
	srv.waitFor(t, "task output", func() bool {
		b, _ := os.ReadFile(logFile)
		return string(b) == "started 0\n"
	})
	pid := taskPid(t, c, alloc.ID)

	// Agent restart: the task survives and the new client re-attaches,
	// with the same node identity.
	stop()
	if !alive(pid) {
		t.Fatal("task died with the agent")
	}
	c2, stop2 := startClient(t, dataDir, []string{srv.rpc})
	defer stop2()
	if c2.NodeID() != nodeID || c2.secret != c.secret {
		t.Fatalf("node identity changed across restart: %s -> %s", nodeID, c2.NodeID())
	}
	srv.waitFor(t, "re-attached", func() bool {
		a, ok := c2.Allocation(alloc.ID)
		return ok && a.TaskStates["web"].State == structs.TaskStateRunning && taskPidOK(c2, alloc.ID) == pid
	})
	if a, _ := c2.Allocation(alloc.ID); a.TaskStates["web"].Restarts != 0 {
		t.Fatalf("re-attach counted a restart: %+v", a.TaskStates["web"])
	}

	// Stop from the server.
	if _, err := srv.DeregisterJob(context.Background(), "default", "svc", structs.JobDeregisterOptions{Purge: true}); err != nil {
		t.Fatal(err)
	}
	srv.waitFor(t, "complete", func() bool {
		a := srv.alloc(alloc.ID)
		return a != nil && a.ClientStatus == structs.AllocClientStatusComplete
	})
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatal("task still alive after stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := c2.AllocDir(alloc.ID); !ok {
		t.Fatal("stopped alloc dir must be kept until GC")
	}

	// Garbage collected on the server: the client removes it too. The
	// collection runs until the job's last eval has finished.
	srv.waitFor(t, "alloc dir removed", func() bool {
		if srv.alloc(alloc.ID) != nil {
			if err := srv.GarbageCollect(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			return false
		}
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	})
}

func taskPidOK(c *Client, allocID string) int {
	d := c.Drivers()["raw_exec"]
	st, err := d.Inspect(allocID + "/web")
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(st.Attributes["pid"])
	return p
}

func taskPid(t *testing.T, c *Client, allocID string) int {
	t.Helper()
	p := taskPidOK(c, allocID)
	if p == 0 {
		t.Fatal("no pid for task")
	}
	return p
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func TestClientRequiresDataDir(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("client without data dir created")
	}
}

func TestServerSetMergesSources(t *testing.T) {
	var got []string
	s := newServerSet([]string{"10.0.0.1", "10.0.0.2:5000"}, func(a []string) { got = a })
	s.setLearned([]string{"10.0.0.3:4647", "10.0.0.1:4647"})
	s.setGossiped([]string{"10.0.0.4:4647"})
	want := []string{"10.0.0.1:4647", "10.0.0.2:5000", "10.0.0.3:4647", "10.0.0.4:4647"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("servers %v, want %v", got, want)
	}
}
