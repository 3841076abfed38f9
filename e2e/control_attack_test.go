package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/structs"
)

// rawExecConfig writes a client config enabling raw_exec.
func rawExecConfig(t *testing.T) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte("plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// attacker speaks the control channel with whatever identity it claims.
func attacker(srvIP string, id, secret string) *control.Client {
	return control.NewClient(control.ClientConfig{
		Servers:     []string{srvIP + ":4647"},
		Credentials: func() control.Credentials { return control.Credentials{NodeID: id, Secret: secret} },
	})
}

// TestControlChannelRefusesForgedNodes is issue 8's attack 4 against the
// control channel that replaced /v1/internal/*: anyone who can reach a
// server tries to take over a real node's identity (read its workloads and
// their secrets, report its allocation failed, re-register it down) and
// fails every time, while the real node and its task carry on.
func TestControlChannelRefusesForgedNodes(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1")
	startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-config", rawExecConfig(t))
	waitReady(t, srv, 1)
	if out, code := srv.cli(t, "job", "run", "-detach", example("service.nomad.hcl")); code != 0 {
		t.Fatalf("job run: exit %d\n%s", code, out)
	}
	defer srv.cli(t, "job", "stop", "-purge", "ticker")
	allocs := waitAllocs(t, srv, "ticker", 2, structs.AllocClientStatusRunning, 20*time.Second)
	victim := allocs[0]
	var node structs.Node
	if err := getJSON(srv.addr()+"/v1/node/"+victim.NodeID, &node); err != nil {
		t.Fatal(err)
	}
	if node.SecretID != "" {
		t.Fatal("the public API hands out the node's secret")
	}
	pids := processesWithEnv("NOMAD_ALLOC_ID", victim.ID)
	if len(pids) == 0 {
		t.Fatal("no task process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The old unauthenticated routes are gone from the public API.
	for _, path := range []string{"/v1/internal/node/register", "/v1/internal/allocs/update", "/v1/internal/allocs/get"} {
		req, _ := http.NewRequest(http.MethodPut, srv.addr()+path, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("PUT %s: %d, want 404", path, resp.StatusCode)
		}
	}

	forged := attacker(srvIP, node.ID, structs.GenerateUUID())
	defer forged.Close()
	expect := func(what string, code int, err error) {
		t.Helper()
		if !control.IsCode(err, code) {
			t.Fatalf("%s: got %v, want a %d refusal", what, err, code)
		}
	}
	// 1. A forged registration of the real node (to receive its
	// workloads), or of the real node as down (to get its allocations
	// declared lost): refused without the node's secret.
	fake := node
	fake.HTTPAddr, fake.Status, fake.Attributes = "10.6.6.6:4646", structs.NodeStatusDown, map[string]string{"x": "y"}
	_, err := forged.Call(ctx, control.MethodNodeRegister, &control.RegisterRequest{Node: &fake}, nil)
	expect("forged registration", http.StatusUnauthorized, err)
	_, err = forged.Call(ctx, control.MethodNodeWatchAllocs, &control.WatchAllocsRequest{}, nil)
	expect("forged watch", http.StatusUnauthorized, err)
	_, err = forged.Call(ctx, control.MethodAllocsGet, &control.AllocsGetRequest{AllocIDs: []string{victim.ID}}, nil)
	expect("forged fetch", http.StatusUnauthorized, err)
	// 2. A forged status report that would kill the task.
	kill := []*structs.Allocation{{ID: victim.ID, ClientStatus: structs.AllocClientStatusFailed}}
	_, err = forged.Call(ctx, control.MethodAllocsUpdate, &control.AllocsUpdateRequest{Allocs: kill}, nil)
	expect("forged alloc update", http.StatusUnauthorized, err)

	// A node of the attacker's own is a node like any other (mTLS client
	// certificates are what keeps unknown machines out), but it may touch
	// only its own records.
	ownID, ownSecret := structs.GenerateUUID(), structs.GenerateUUID()
	own := attacker(srvIP, ownID, ownSecret)
	defer own.Close()
	mine := &structs.Node{ID: ownID, Name: "rogue", Datacenter: "dc9", Attributes: map[string]string{}}
	if _, err := own.Call(ctx, control.MethodNodeRegister, &control.RegisterRequest{Node: mine}, nil); err != nil {
		t.Fatalf("registering a fresh node: %v", err)
	}
	_, err = own.Call(ctx, control.MethodAllocsGet, &control.AllocsGetRequest{AllocIDs: []string{victim.ID}}, nil)
	expect("fetching another node's allocation", http.StatusForbidden, err)
	_, err = own.Call(ctx, control.MethodAllocsUpdate, &control.AllocsUpdateRequest{Allocs: kill}, nil)
	expect("updating another node's allocation", http.StatusForbidden, err)
	node2 := node
	node2.SecretID = ""
	_, err = own.Call(ctx, control.MethodNodeRegister, &control.RegisterRequest{Node: &node2}, nil)
	expect("registering another node's ID", http.StatusForbidden, err)
	var w control.WatchAllocsResponse
	if _, err := own.Call(ctx, control.MethodNodeWatchAllocs, &control.WatchAllocsRequest{}, &w); err != nil || len(w.Allocs) != 0 {
		t.Fatalf("own watch: %v %v", w.Allocs, err)
	}

	// The real node and its task are untouched.
	time.Sleep(3 * time.Second) // longer than a heartbeat TTL plus grace
	var after structs.Node
	if err := getJSON(srv.addr()+"/v1/node/"+node.ID, &after); err != nil {
		t.Fatal(err)
	}
	if after.Status != structs.NodeStatusReady || after.HTTPAddr != node.HTTPAddr || after.Attributes["x"] != "" {
		t.Fatalf("real node changed: status %s addr %s", after.Status, after.HTTPAddr)
	}
	a, err := getAlloc(srv, victim.ID)
	if err != nil || a.ClientStatus != structs.AllocClientStatusRunning {
		t.Fatalf("victim alloc: %v %v", a, err)
	}
	// The task's own process (its children come and go).
	if p := slices.Min(pids); !processAlive(p) {
		t.Fatalf("task process %d died", p)
	}
	if n := len(jobAllocs(t, srv, "ticker")); n != 2 {
		t.Fatalf("%d allocations, want the original 2", n)
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return err == nil
}

// TestDuplicateNodeNameIsAClearError starts a second client under a name a
// live node holds: its registration is refused with an error naming the
// conflict, and the first node is unaffected.
func TestDuplicateNodeNameIsAClearError(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1")
	cfg := rawExecConfig(t)
	first := startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-config", cfg, "-node", "twin")
	waitReady(t, srv, 1)
	second := startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-config", cfg, "-node", "twin")
	waitFor(t, 20*time.Second, "the refusal in the second agent's log", func() (bool, string) {
		out := second.logs.String()
		return strings.Contains(out, "level=ERROR") && strings.Contains(out, `node name \"twin\" is already used by node`), ""
	})
	var nodes []*structs.NodeListStub
	if err := getJSON(srv.addr()+"/v1/nodes", &nodes); err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Name != "twin" || nodes[0].Status != structs.NodeStatusReady {
		t.Fatalf("nodes after a duplicate registration: %+v", nodes)
	}
	_ = first
}
