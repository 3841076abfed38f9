package client

import (
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/structs"
)

func TestStopAfterFollowsDisconnectPolicy(t *testing.T) {
	ttl := 1500 * time.Millisecond
	five, hour := 5*time.Second, time.Hour
	for _, tc := range []struct {
		name  string
		tg    structs.TaskGroup
		after time.Duration
		stops bool
	}{
		{"default", structs.TaskGroup{}, ttl, true},
		{"stop_on_client_after", structs.TaskGroup{Disconnect: &structs.DisconnectStrategy{StopOnClientAfter: &five}}, five, true},
		{"stop_after_client_disconnect", structs.TaskGroup{StopAfterClientDisconnect: &five}, five, true},
		{"lost_after", structs.TaskGroup{Disconnect: &structs.DisconnectStrategy{LostAfter: hour}}, ttl + hour, true},
		{"max_client_disconnect", structs.TaskGroup{MaxClientDisconnect: &hour}, ttl + hour, true},
		{"prevent_reschedule_on_lost", structs.TaskGroup{PreventRescheduleOnLost: true}, 0, false},
	} {
		after, stops := stopAfter(tc.tg.DisconnectPolicy(), ttl)
		if after != tc.after || stops != tc.stops {
			t.Errorf("%s: stopAfter = %s %v, want %s %v", tc.name, after, stops, tc.after, tc.stops)
		}
	}
}

// TestClientStopsAllocsWhenCutOff: when no server answers for longer than
// the heartbeat TTL, the client stops an allocation that the servers
// would replace, and keeps one whose group tolerates a disconnection
// (lost_after).
func TestClientStopsAllocsWhenCutOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv, err := server.New(server.Config{
		DataDir: t.TempDir(), NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: port, HTTPAddr: "127.0.0.1:0",
		BootstrapExpect: 1, Dev: true, NumWorkers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Heartbeat: server.HeartbeatConfig{MinTTL: 600 * time.Millisecond, Grace: 600 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, rpc: srv.RaftAddr()}
	ts.waitFor(t, "leadership", srv.IsLeader)
	c, stop := startClient(t, t.TempDir(), []string{ts.rpc})
	defer stop()
	ts.waitFor(t, "registration", func() bool { return ts.node(c.NodeID()) != nil })
	plain := ts.runJob(t, "plain", nil)
	tolerant := ts.runJob(t, "tolerant", func(g *structs.TaskGroup) {
		g.Disconnect = &structs.DisconnectStrategy{LostAfter: time.Hour}
	})
	for _, a := range []*structs.Allocation{plain, tolerant} {
		ts.waitFor(t, "running", func() bool {
			al, ok := c.Allocation(a.ID)
			return ok && al.ClientStatus == structs.AllocClientStatusRunning
		})
	}
	plainPid, tolerantPid := taskPid(t, c, plain.ID), taskPid(t, c, tolerant.ID)
	// No server is left to stop the tolerant allocation: kill its task's
	// process group (shim included) so the test leaves nothing running.
	t.Cleanup(func() {
		if pgid, err := syscall.Getpgid(tolerantPid); err == nil {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})

	// The only server goes away.
	if err := srv.Shutdown(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	ts.waitFor(t, "the plain allocation stopped", func() bool { return !alive(plainPid) })
	if d := time.Since(cut); d > 5*time.Second {
		t.Fatalf("stopped %s after the servers went away; TTL is 0.6 s", d)
	}
	time.Sleep(time.Second)
	if !alive(tolerantPid) {
		t.Fatal("the allocation whose group tolerates a disconnection was stopped")
	}
}

// TestQuorumSilent: a probe proves the node cannot be marked down only when
// a majority of the voters (by Raft ID; others do not count) went without a
// leader for a common stretch of control.ContactSilenceMin (each silence
// already less its answer's latency).
func TestQuorumSilent(t *testing.T) {
	voters := []string{"a", "b", "c"}
	long, short := control.ContactSilenceMin+200*time.Millisecond, control.ContactSilenceMin-time.Millisecond
	for _, tc := range []struct {
		name     string
		voters   []string
		silences map[string]time.Duration
		want     bool
	}{
		{"two of three silent", voters, map[string]time.Duration{"a": long, "b": long, "c": 0}, true},
		{"one of three silent", voters, map[string]time.Duration{"a": long, "b": short, "c": 0}, false},
		{"a silent non-voter", voters, map[string]time.Duration{"a": long, "x": long}, false},
		{"latency taken off leaves too little", voters, map[string]time.Duration{"a": long, "b": -time.Second}, false},
		{"voters unknown", nil, map[string]time.Duration{"a": long, "b": long}, false},
		{"five voters need three", []string{"a", "b", "c", "d", "e"}, map[string]time.Duration{"a": long, "b": long, "c": 0, "d": 0}, false},
		{"three of five", []string{"a", "b", "c", "d", "e"}, map[string]time.Duration{"a": long, "b": long, "e": long}, true},
		// Two voters (autopilot removed a third): every leader needs both.
		{"one of two", []string{"a", "b"}, map[string]time.Duration{"b": long}, true},
		{"two of four", []string{"a", "b", "c", "d"}, map[string]time.Duration{"b": long, "d": long}, true},
		{"one of four", []string{"a", "b", "c", "d"}, map[string]time.Duration{"b": long}, false},
	} {
		if got := quorumSilent(tc.voters, tc.silences); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}
