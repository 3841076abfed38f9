package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// writeJob writes an HCL job file and runs it through agent a.
func runJobFile(t *testing.T, a *agentProc, hcl string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "job.hcl")
	if err := os.WriteFile(f, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := a.cli(t, "job", "run", "-detach", f); code != 0 {
		t.Fatalf("job run: exit %d\n%s", code, out)
	}
}

// beatJob is a service of one allocation whose task appends
// "<alloc id> <unix ns>" to beats every 100 ms. With stubborn it ignores
// SIGTERM, so only the kill_timeout's SIGKILL stops it.
func beatJob(id, beats string, stubborn bool, extra string) string {
	trap := ""
	if stubborn {
		trap = `trap '' TERM; `
	}
	return fmt.Sprintf(`job %q {
  datacenters = ["*"]
  group "g" {
    count = 1
%s
    task "beat" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "%swhile true; do echo \"$NOMAD_ALLOC_ID $(date +%%s%%N)\" >> %s; sleep 0.1; done"]
      }
      kill_timeout = "3s"
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`, id, extra, trap, beats)
}

// beatSpans reads a beats file: each allocation's first and last beat.
func beatSpans(t *testing.T, path string) map[string][2]time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][2]time.Time{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, ts, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		ns, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			continue
		}
		at := time.Unix(0, ns)
		s, seen := out[id]
		if !seen || at.Before(s[0]) {
			s[0] = at
		}
		if at.After(s[1]) {
			s[1] = at
		}
		out[id] = s
	}
	return out
}

// TestPartitionedClientStopsBeforeItsReplacement cuts a client off the
// network (every packet dropped) and measures, from what the tasks
// themselves write, how long an allocation and its replacement ran at
// once. The bound (docs/architecture.md): kill_timeout + 0.25 s −
// heartbeat_grace; none for a task that exits on SIGTERM, at most 2.25 s for
// one that ignores it with a 3 s kill_timeout. After the partition heals
// the client comes back and nothing flaps: the lost allocations stay
// stopped and their replacements keep running. ORCH_E2E_LONG=1 repeats it.
func TestPartitionedClientStopsBeforeItsReplacement(t *testing.T) {
	trials := 1
	if os.Getenv("ORCH_E2E_LONG") != "" {
		trials = 20
	}
	for i := 0; i < trials; i++ {
		t.Run(fmt.Sprintf("trial%d", i), partitionTrial)
	}
}

func partitionTrial(t *testing.T) {
	lab := newNetLab(t)
	sn, an, bn := lab.add(), lab.add(), lab.add()
	srv := startAgentIn(t, sn.ns, sn.ip, t.TempDir(), "-server", "-bootstrap-expect", "1")
	cfg := rawExecConfig(t)
	a := startAgentIn(t, an.ns, an.ip, t.TempDir(), "-client", "-servers", sn.ip, "-config", cfg)
	waitReady(t, srv, 1)
	dir := t.TempDir()
	polite, stubborn := filepath.Join(dir, "polite"), filepath.Join(dir, "stubborn")
	runJobFile(t, srv, beatJob("polite", polite, false, ""))
	runJobFile(t, srv, beatJob("stubborn", stubborn, true, ""))
	orig := map[string]string{}
	for _, j := range []string{"polite", "stubborn"} {
		orig[j] = waitAllocs(t, srv, j, 1, structs.AllocClientStatusRunning, 20*time.Second)[0].ID
	}
	// A second client for the replacements, then the first goes dark.
	startAgentIn(t, bn.ns, bn.ip, t.TempDir(), "-client", "-servers", sn.ip, "-config", cfg)
	waitReady(t, srv, 2)
	time.Sleep(time.Second) // a few beats of the originals
	an.isolate()
	cut := time.Now()

	repl := map[string]string{}
	for _, j := range []string{"polite", "stubborn"} {
		waitFor(t, 30*time.Second, j+" replaced on the other client", func() (bool, string) {
			for _, al := range jobAllocs(t, srv, j) {
				if al.ID != orig[j] && al.ClientStatus == structs.AllocClientStatusRunning {
					repl[j] = al.ID
					return true, ""
				}
			}
			return false, ""
		})
	}
	time.Sleep(4 * time.Second) // past the stubborn task's kill
	bounds := map[string]time.Duration{"polite": 200 * time.Millisecond, "stubborn": 2250*time.Millisecond + 300*time.Millisecond}
	for j, path := range map[string]string{"polite": polite, "stubborn": stubborn} {
		spans := beatSpans(t, path)
		o, r := spans[orig[j]], spans[repl[j]]
		if o[1].IsZero() || r[0].IsZero() {
			t.Fatalf("%s: no beats of the original %v or the replacement %v", j, o, r)
		}
		overlap := o[1].Sub(r[0])
		t.Logf("%s: original's last beat %s after the cut, replacement's first %s after: overlap %s",
			j, o[1].Sub(cut).Round(time.Millisecond), r[0].Sub(cut).Round(time.Millisecond), overlap.Round(time.Millisecond))
		if overlap > bounds[j] {
			t.Errorf("%s: two copies ran together for %s, bound %s", j, overlap, bounds[j])
		}
	}

	// Heal: the client comes back; nothing flaps.
	an.heal()
	waitFor(t, 60*time.Second, "the cut-off node ready again", func() (bool, string) {
		var nodes []*structs.NodeListStub
		if err := getJSON(srv.addr()+"/v1/nodes", &nodes); err != nil {
			return false, err.Error()
		}
		for _, n := range nodes {
			if n.Name == "agent-"+an.ip {
				return n.Status == structs.NodeStatusReady, n.Status
			}
		}
		return false, "node missing"
	})
	time.Sleep(3 * time.Second)
	for _, j := range []string{"polite", "stubborn"} {
		var running []string
		for _, al := range jobAllocs(t, srv, j) {
			if al.ClientStatus == structs.AllocClientStatusRunning {
				running = append(running, al.ID)
			}
			if al.ID == orig[j] && (al.DesiredStatus != structs.AllocDesiredStatusStop || al.ClientStatus != structs.AllocClientStatusLost) {
				t.Errorf("%s: original after heal is %s/%s, want stop/lost", j, al.DesiredStatus, al.ClientStatus)
			}
		}
		if !slices.Equal(running, []string{repl[j]}) {
			t.Errorf("%s: running after heal %v, want only the replacement %s", j, running, repl[j])
		}
	}
	_ = a
}

// TestClientCutOffForAMinuteComesBack cuts a client off for 60 s. Its
// allocation's group tolerates it (disconnect { lost_after = "5m", replace
// = false }): the node is disconnected and the allocation unknown while
// the task keeps running; when the network heals the node is ready again,
// the same allocation and process run on, nothing was replaced, and the
// client is back in the gossip pool by its rejoin loop.
func TestClientCutOffForAMinuteComesBack(t *testing.T) {
	lab := newNetLab(t)
	sn, cn := lab.add(), lab.add()
	srv := startAgentIn(t, sn.ns, sn.ip, t.TempDir(), "-server", "-bootstrap-expect", "1")
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte(`client {
  server_join {
    retry_interval = "10s"
  }
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgentIn(t, cn.ns, cn.ip, t.TempDir(), "-client", "-servers", sn.ip, "-config", cfg)
	waitReady(t, srv, 1)
	beats := filepath.Join(t.TempDir(), "beats")
	runJobFile(t, srv, beatJob("keep", beats, false, `    disconnect {
      lost_after = "5m"
      replace    = false
    }`))
	alloc := waitAllocs(t, srv, "keep", 1, structs.AllocClientStatusRunning, 20*time.Second)[0]
	pids := processesWithEnv("NOMAD_ALLOC_ID", alloc.ID)
	if len(pids) == 0 {
		t.Fatal("no task process")
	}
	task := slices.Min(pids)
	memberAlive := func() (bool, string) {
		var m structs.ServerMembers
		if err := getJSON(srv.addr()+"/v1/agent/members", &m); err != nil {
			return false, err.Error()
		}
		for _, mem := range m.Members {
			if mem.Name == "agent-"+cn.ip {
				return mem.Status == "alive", mem.Status
			}
		}
		return false, "absent"
	}
	waitFor(t, 20*time.Second, "the client alive in the gossip pool", memberAlive)

	cn.isolate()
	waitFor(t, 15*time.Second, "the node disconnected and its allocation unknown", func() (bool, string) {
		al, err := getAlloc(srv, alloc.ID)
		if err != nil {
			return false, err.Error()
		}
		return al.ClientStatus == structs.AllocClientStatusUnknown, al.ClientStatus
	})
	waitFor(t, 30*time.Second, "gossip to declare the client failed", func() (bool, string) {
		ok, st := memberAlive()
		return !ok, st
	})
	time.Sleep(60*time.Second - 10*time.Second)
	if !processAlive(task) {
		t.Fatal("the task stopped although lost_after had not run out")
	}
	if al, err := getAlloc(srv, alloc.ID); err != nil || al.ClientStatus != structs.AllocClientStatusUnknown {
		t.Fatalf("allocation before the heal: %v %v", al.ClientStatus, err)
	}
	cn.heal()
	healed := time.Now()
	waitFor(t, 30*time.Second, "the allocation running again", func() (bool, string) {
		al, err := getAlloc(srv, alloc.ID)
		if err != nil {
			return false, err.Error()
		}
		return al.ClientStatus == structs.AllocClientStatusRunning, al.ClientStatus
	})
	t.Logf("allocation running again %s after the heal", time.Since(healed).Round(100*time.Millisecond))
	waitFor(t, 45*time.Second, "the client back in the gossip pool", memberAlive)
	t.Logf("client alive in the gossip pool %s after the heal", time.Since(healed).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second)
	allocs := jobAllocs(t, srv, "keep")
	if len(allocs) != 1 || allocs[0].ID != alloc.ID || allocs[0].ClientStatus != structs.AllocClientStatusRunning {
		t.Fatalf("allocations after the heal: %+v", allocs)
	}
	if !processAlive(task) || !slices.Contains(processesWithEnv("NOMAD_ALLOC_ID", alloc.ID), task) {
		t.Fatal("the task process changed across the partition")
	}
	al, _ := getAlloc(srv, alloc.ID)
	unknowns := 0
	for _, s := range al.AllocStates {
		if s.Value == structs.AllocClientStatusUnknown {
			unknowns++
		}
	}
	if unknowns != 1 {
		t.Fatalf("the allocation went unknown %d times, want once: %+v", unknowns, al.AllocStates)
	}
	var node structs.Node
	if err := getJSON(srv.addr()+"/v1/node/"+al.NodeID, &node); err != nil || node.Status != structs.NodeStatusReady {
		t.Fatalf("node after the heal: %v %s", err, node.Status)
	}
}

// serversLab starts three servers and one client in a lab; the client is
// given only the second server (it learns the others from it).
func serversLab(t *testing.T) (srvs []*agentProc, nodes []*labNode, client *agentProc, cn *labNode) {
	lab := newNetLab(t)
	for i := 0; i < 3; i++ {
		n := lab.add()
		args := []string{"-server", "-bootstrap-expect", "3"}
		if i > 0 {
			args = append(args, "-join", nodes[0].ip)
		}
		nodes = append(nodes, n)
		srvs = append(srvs, startAgentIn(t, n.ns, n.ip, t.TempDir(), args...))
	}
	cn = lab.add()
	client = startAgentIn(t, cn.ns, cn.ip, t.TempDir(), "-client", "-servers", nodes[1].ip, "-config", rawExecConfig(t))
	for _, s := range srvs {
		waitReady(t, s, 1)
	}
	return srvs, nodes, client, cn
}

// pinnedJob runs on the named node only.
func pinnedJob(id, node string) string {
	return fmt.Sprintf(`job %q {
  datacenters = ["*"]
  constraint {
    attribute = "${node.unique.name}"
    value     = %q
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`, id, node)
}

// labLeader returns the index of the servers' leader, -1 when unknown.
func labLeader(srvs []*agentProc, from ...*agentProc) int {
	if len(from) == 0 {
		from = srvs
	}
	for _, s := range from {
		var leader string
		if getJSON(s.addr()+"/v1/status/leader", &leader) != nil || leader == "" {
			continue
		}
		for i, x := range srvs {
			if leader == x.ip+":4647" {
				return i
			}
		}
	}
	return -1
}

// TestClientLeavesAServerCutOffFromTheOthers: the only server a client was
// given loses the other servers (not the client). Its replica goes stale,
// so it stops serving the client's watch, and the client moves to a server
// that hears from the leader: a job pinned to the client and submitted
// through the majority runs within seconds (it never did while the client
// kept watching the cut-off server's replica).
func TestClientLeavesAServerCutOffFromTheOthers(t *testing.T) {
	srvs, nodes, client, _ := serversLab(t)
	nodes[1].cutFrom(nodes[0], nodes[2])
	cut := time.Now()
	majority := []*agentProc{srvs[0], srvs[2]}
	waitFor(t, 20*time.Second, "a leader among the majority", func() (bool, string) {
		i := labLeader(srvs, majority...)
		return i == 0 || i == 2, fmt.Sprint(i)
	})
	runJobFile(t, srvs[0], pinnedJob("pinned", "agent-"+client.ip))
	waitAllocs(t, srvs[0], "pinned", 1, structs.AllocClientStatusRunning, 30*time.Second)
	t.Logf("pinned job running %s after the server was cut off", time.Since(cut).Round(100*time.Millisecond))
}

// TestClientLeavesABlackholedServer: the only server a client was given
// drops every packet (no RST, no FIN). The client's calls on that
// connection fail within its HTTP/2 PING timeout, it moves on, and a job
// pinned to it runs within seconds (it took 4.5 minutes when the watch sat
// on the dead connection).
func TestClientLeavesABlackholedServer(t *testing.T) {
	srvs, nodes, client, _ := serversLab(t)
	time.Sleep(2 * time.Second) // the client has learned the other servers
	nodes[1].isolate()
	cut := time.Now()
	majority := []*agentProc{srvs[0], srvs[2]}
	waitFor(t, 20*time.Second, "a leader among the others", func() (bool, string) {
		i := labLeader(srvs, majority...)
		return i == 0 || i == 2, fmt.Sprint(i)
	})
	runJobFile(t, srvs[0], pinnedJob("pinned", "agent-"+client.ip))
	waitAllocs(t, srvs[0], "pinned", 1, structs.AllocClientStatusRunning, 30*time.Second)
	t.Logf("pinned job running %s after the server was blackholed", time.Since(cut).Round(100*time.Millisecond))
	var node structs.Node
	if err := getJSON(srvs[0].addr()+"/v1/node/"+jobAllocs(t, srvs[0], "pinned")[0].NodeID, &node); err != nil || node.Status != structs.NodeStatusReady {
		t.Fatalf("client node: %v %s", err, node.Status)
	}
}

// TestClientCutOffForTenMinutesComesBack (ORCH_E2E_LONG=1; it takes 11
// minutes; ORCH_E2E_CUT sets another cut): a client with default settings
// cut off from its only server for 10 minutes comes back by itself: its
// node is ready again, it is alive in the gossip pool (its rejoin loop
// never gives up), and its job runs again — on it, the only client — with
// one allocation running.
func TestClientCutOffForTenMinutesComesBack(t *testing.T) {
	cut := 10 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("ORCH_E2E_CUT")); err == nil && d > 0 {
		cut = d
	} else if os.Getenv("ORCH_E2E_LONG") == "" {
		t.Skip("a 10-minute partition: set ORCH_E2E_LONG=1 (or ORCH_E2E_CUT=<duration>)")
	}
	lab := newNetLab(t)
	sn, cn := lab.add(), lab.add()
	srv := startAgentIn(t, sn.ns, sn.ip, t.TempDir(), "-server", "-bootstrap-expect", "1")
	startAgentIn(t, cn.ns, cn.ip, t.TempDir(), "-client", "-servers", sn.ip, "-config", rawExecConfig(t))
	waitReady(t, srv, 1)
	beats := filepath.Join(t.TempDir(), "beats")
	runJobFile(t, srv, beatJob("tenmin", beats, false, ""))
	orig := waitAllocs(t, srv, "tenmin", 1, structs.AllocClientStatusRunning, 20*time.Second)[0]
	member := func() (bool, string) {
		var m structs.ServerMembers
		if err := getJSON(srv.addr()+"/v1/agent/members", &m); err != nil {
			return false, err.Error()
		}
		for _, mem := range m.Members {
			if mem.Name == "agent-"+cn.ip {
				return mem.Status == "alive", mem.Status
			}
		}
		return false, "absent"
	}
	waitFor(t, 30*time.Second, "the client alive in the gossip pool", member)
	nodeStatus := func() string {
		var n structs.Node
		if err := getJSON(srv.addr()+"/v1/node/"+orig.NodeID, &n); err != nil {
			return err.Error()
		}
		return n.Status
	}

	cn.isolate()
	waitFor(t, 30*time.Second, "the node down", func() (bool, string) {
		st := nodeStatus()
		return st == structs.NodeStatusDown, st
	})
	time.Sleep(cut)
	cn.heal()
	healed := time.Now()
	waitFor(t, 90*time.Second, "the node ready again", func() (bool, string) {
		st := nodeStatus()
		return st == structs.NodeStatusReady, st
	})
	t.Logf("node ready %s after a %s cut healed", time.Since(healed).Round(100*time.Millisecond), cut)
	waitFor(t, 90*time.Second, "the client back in the gossip pool", member)
	t.Logf("client alive in the gossip pool %s after the heal", time.Since(healed).Round(100*time.Millisecond))
	waitFor(t, 60*time.Second, "the job running again with one allocation", func() (bool, string) {
		var running []string
		for _, al := range jobAllocs(t, srv, "tenmin") {
			if al.ClientStatus == structs.AllocClientStatusRunning {
				running = append(running, al.ID)
			}
		}
		return len(running) == 1 && running[0] != orig.ID, fmt.Sprint(running)
	})
	t.Logf("job running again %s after the heal", time.Since(healed).Round(100*time.Millisecond))
}
