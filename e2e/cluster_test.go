package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestThreeServersSurviveLeaderKill runs three servers and a client as
// separate processes, submits through a follower, kills the leader with
// SIGKILL and checks that a new leader takes over with the state intact.
func TestThreeServersSurviveLeaderKill(t *testing.T) {
	var servers []*agentProc
	first := newIP()
	for i := 0; i < 3; i++ {
		ip := first
		if i > 0 {
			ip = newIP()
		}
		args := []string{"-server", "-bootstrap-expect", "3"}
		if i > 0 {
			args = append(args, "-join", first)
		}
		servers = append(servers, startAgent(t, ip, t.TempDir(), args...))
	}
	clientIP := newIP()
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte("plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	client := startAgent(t, clientIP, t.TempDir(), "-client", "-servers", first, "-config", cfg)

	for _, s := range servers {
		waitReady(t, s, 1)
	}
	leaderIdx := func(among []*agentProc) int {
		var leader string
		for _, s := range among {
			if getJSON(s.addr()+"/v1/status/leader", &leader) == nil && leader != "" {
				break
			}
		}
		for i, s := range among {
			if leader == s.ip+":4647" {
				return i
			}
		}
		return -1
	}
	li := leaderIdx(servers)
	if li < 0 {
		t.Fatal("no leader among the servers")
	}
	follower := servers[(li+1)%3]

	out, code := follower.cli(t, "job", "run", "-detach", example("service.nomad.hcl"))
	if code != 0 {
		t.Fatalf("job run through follower: exit %d\n%s", code, out)
	}
	waitAllocs(t, follower, "ticker", 2, structs.AllocClientStatusRunning, 30*time.Second)

	servers[li].kill()
	killed := time.Now()
	rest := []*agentProc{}
	for i, s := range servers {
		if i != li {
			rest = append(rest, s)
		}
	}
	waitFor(t, 5*time.Second, "a new leader", func() (bool, string) {
		i := leaderIdx(rest)
		return i >= 0, fmt.Sprintf("leader index %d", i)
	})
	t.Logf("new leader elected %s after kill -9", time.Since(killed).Round(time.Millisecond))

	var job structs.Job
	if err := getJSON(rest[0].addr()+"/v1/job/ticker", &job); err != nil || job.ID != "ticker" {
		t.Fatalf("job after failover: %v", err)
	}
	// Through the client-only agent: it relays to a server, which may be a
	// follower relaying on to the leader.
	out, code = client.cli(t, "job", "run", "-detach", example("hello.nomad.hcl"))
	if code != 0 {
		t.Fatalf("job run through the client agent after failover: exit %d\n%s", code, out)
	}
	waitAllocs(t, rest[0], "hello", 1, structs.AllocClientStatusComplete, 30*time.Second)
	rest[0].cli(t, "job", "stop", "-purge", "ticker")
	// The surviving replicas, after a failover and a run of jobs, hold
	// identical state.
	requireStateHashesEqual(t, rest)
}
