package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// fakeServer implements the three client endpoints of the server HTTP API
// over an in-memory allocation list, with real blocking queries.
type fakeServer struct {
	mu       sync.Mutex
	index    uint64
	changed  chan struct{}
	nodes    map[string]*structs.Node
	allocs   map[string]*structs.Allocation
	updates  []*structs.Allocation
	registry int
	srv      *httptest.Server
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{index: 1, changed: make(chan struct{}), nodes: map[string]*structs.Node{}, allocs: map[string]*structs.Allocation{}}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/internal/node/register", func(w http.ResponseWriter, r *http.Request) {
		var req structs.NodeRegisterRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Node == nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.nodes[req.Node.ID] = req.Node
		f.registry++
		f.bump()
		idx := f.index
		f.mu.Unlock()
		json.NewEncoder(w).Encode(structs.NodeUpdateResponse{Index: idx})
	})
	mux.HandleFunc("PUT /v1/internal/allocs/update", func(w http.ResponseWriter, r *http.Request) {
		var req structs.AllocUpdateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		for _, u := range req.Alloc {
			f.updates = append(f.updates, u)
			if a := f.allocs[u.ID]; a != nil {
				c := a.Copy()
				c.ClientStatus, c.ClientDescription, c.TaskStates = u.ClientStatus, u.ClientDescription, u.TaskStates
				c.ModifyIndex = f.index + 1
				f.allocs[u.ID] = c
			}
		}
		f.bump()
		idx := f.index
		f.mu.Unlock()
		json.NewEncoder(w).Encode(structs.GenericResponse{Index: idx})
	})
	mux.HandleFunc("POST /v1/internal/allocs/get", func(w http.ResponseWriter, r *http.Request) {
		var req structs.AllocsGetRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		out := []*structs.Allocation{}
		for _, id := range req.AllocIDs {
			if a := f.allocs[id]; a != nil {
				out = append(out, a)
			}
		}
		f.mu.Unlock()
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /v1/internal/node/{id}/allocs", func(w http.ResponseWriter, r *http.Request) {
		min, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
		f.mu.Lock()
		if _, ok := f.nodes[r.PathValue("id")]; !ok {
			f.mu.Unlock()
			http.Error(w, "node not found", http.StatusNotFound)
			return
		}
		for f.index <= min {
			ch := f.changed
			f.mu.Unlock()
			select {
			case <-ch:
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
			f.mu.Lock()
			if f.index <= min {
				break
			}
		}
		out := map[string]uint64{}
		for _, a := range f.allocs {
			if a.NodeID == r.PathValue("id") {
				out[a.ID] = a.AllocModifyIndex
			}
		}
		idx := f.index
		f.mu.Unlock()
		w.Header().Set("X-Nomad-Index", strconv.FormatUint(idx, 10))
		json.NewEncoder(w).Encode(out)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// bump advances the index; callers hold mu.
func (f *fakeServer) bump() {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeServer) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeServer) putAlloc(a *structs.Allocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bump()
	a.ModifyIndex, a.AllocModifyIndex = f.index, f.index
	f.allocs[a.ID] = a
}

func (f *fakeServer) deleteAlloc(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.allocs, id)
	f.bump()
}

func (f *fakeServer) node(id string) *structs.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[id]
}

// lastUpdate is the newest status the client reported for an allocation.
func (f *fakeServer) lastUpdate(id string) *structs.Allocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.updates) - 1; i >= 0; i-- {
		if f.updates[i].ID == id {
			return f.updates[i]
		}
	}
	return nil
}

func (f *fakeServer) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func serviceAlloc(nodeID string) *structs.Allocation {
	task := &structs.Task{Name: "web", Driver: "raw_exec", KillTimeout: 2 * time.Second,
		Config: map[string]any{"command": "/bin/sh", "args": []any{"-c", `echo "started ${NOMAD_ALLOC_INDEX}"; exec sleep 1000`}}}
	job := &structs.Job{ID: "svc", Name: "svc", Type: structs.JobTypeService, Namespace: "default", Region: "global",
		TaskGroups: []*structs.TaskGroup{{Name: "g", Count: 1, Tasks: []*structs.Task{task}}}}
	return &structs.Allocation{ID: structs.GenerateUUID(), Name: "svc.g[0]", Namespace: "default", NodeID: nodeID,
		JobID: "svc", Job: job, TaskGroup: "g", DesiredStatus: structs.AllocDesiredStatusRun,
		ClientStatus: structs.AllocClientStatusPending}
}

func startClient(t *testing.T, dataDir string, servers []string) (*Client, func()) {
	t.Helper()
	c, err := New(Config{DataDir: dataDir, NodeName: "test-node", Datacenter: "dc9", Servers: servers,
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

func TestClientEndToEnd(t *testing.T) {
	srv := newFakeServer(t)
	dataDir := t.TempDir()
	// The first server is dead: the client must fail over.
	c, stop := startClient(t, dataDir, []string{"127.0.0.1:1", srv.addr()})
	nodeID := c.NodeID()

	srv.waitFor(t, "registration", func() bool { return srv.node(nodeID) != nil })
	n := srv.node(nodeID)
	if n.Status != structs.NodeStatusReady || n.Datacenter != "dc9" || n.Name != "test-node" || n.Meta["rack"] != "r1" ||
		n.Attributes["driver.raw_exec"] != "1" || !n.Drivers["raw_exec"].Healthy ||
		n.Attributes["unique.network.ip-address"] != "127.0.0.1" || n.NodeResources.Cpu.CpuShares <= 0 ||
		n.NodeResources.Memory.MemoryMB <= 0 || n.Attributes["nomad.version"] != structs.Version {
		t.Fatalf("registered node %+v", n)
	}

	alloc := serviceAlloc(nodeID)
	placed := time.Now()
	srv.putAlloc(alloc)
	srv.waitFor(t, "running", func() bool {
		u := srv.lastUpdate(alloc.ID)
		return u != nil && u.ClientStatus == structs.AllocClientStatusRunning
	})
	t.Logf("placement to running reported: %s", time.Since(placed))
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

	// Agent restart: the task survives and the new client re-attaches.
	stop()
	if !alive(pid) {
		t.Fatal("task died with the agent")
	}
	c2, stop2 := startClient(t, dataDir, []string{srv.addr()})
	defer stop2()
	if c2.NodeID() != nodeID {
		t.Fatalf("node ID changed across restart: %s -> %s", nodeID, c2.NodeID())
	}
	srv.waitFor(t, "re-attached", func() bool {
		a, ok := c2.Allocation(alloc.ID)
		return ok && a.TaskStates["web"].State == structs.TaskStateRunning && taskPidOK(c2, alloc.ID) == pid
	})
	if a, _ := c2.Allocation(alloc.ID); a.TaskStates["web"].Restarts != 0 {
		t.Fatalf("re-attach counted a restart: %+v", a.TaskStates["web"])
	}

	// Stop from the server.
	stopped := alloc.Copy()
	stopped.DesiredStatus = structs.AllocDesiredStatusStop
	srv.putAlloc(stopped)
	srv.waitFor(t, "complete", func() bool {
		u := srv.lastUpdate(alloc.ID)
		return u != nil && u.ClientStatus == structs.AllocClientStatusComplete
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

	// Garbage collected on the server: the client removes it too.
	srv.deleteAlloc(alloc.ID)
	srv.waitFor(t, "alloc dir removed", func() bool {
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

func TestServerListFailover(t *testing.T) {
	s := newServerList([]string{"a:1", "b:2"})
	s.set([]string{"b:2", "c:3"})
	if got := s.list(); len(got) != 2 || got[0] != "b:2" {
		t.Fatalf("list %v", got)
	}
	if err := newServerList(nil).do(context.Background(), nil); err != errNoServers {
		t.Fatalf("empty list: %v", err)
	}
}
