package command

import (
	"context"
	"strings"
	"testing"

	"github.com/orch-project/orch/server/servertest"
	"github.com/orch-project/orch/structs"
)

func TestNodeDrainFlagChecks(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"node", "drain", "x"}, "Either the '-enable' or '-disable' flag must be set"},
		{[]string{"node", "drain", "-enable", "-disable", "x"}, "Only one of the -enable or -disable flags may be set"},
		{[]string{"node", "drain", "-monitor", "-enable", "x"}, "cannot be used with the '-enable' or '-disable' flags"},
		{[]string{"node", "drain", "-monitor", "-detach", "x"}, "The -detach and -monitor flags cannot both be set"},
		{[]string{"node", "drain", "-enable", "-force", "-no-deadline", "x"}, "Only one of the -deadline, -no-deadline or -force flags"},
		{[]string{"node", "drain", "-enable", "-deadline", "0s", "x"}, "A positive drain deadline must be given"},
		{[]string{"node", "eligibility", "x"}, "Either the '-enable' or '-disable' flag must be set"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// node drain -detach, -disable, a monitored forced drain to its end, and
// node eligibility, against a real server.
func TestNodeDrainAndEligibility(t *testing.T) {
	srv, url := servertest.HTTP(t)
	node := &structs.Node{ID: structs.GenerateUUID(), SecretID: structs.GenerateUUID(), Name: "n1", Datacenter: "dc1", Status: structs.NodeStatusReady,
		Attributes: map[string]string{"kernel.name": "linux"}}
	if _, err := srv.RegisterNode(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		return runCLI(t, append(append(append([]string{}, args[:2]...), "-address", url), args[2:]...)...)
	}
	code, out, errOut := run("node", "drain", "-enable", "-detach", "-deadline", "30m", node.ID[:6])
	if code != 0 || out != "Node \""+node.ID+"\" drain strategy set\n" {
		t.Fatalf("drain -detach: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ = run("node", "status", node.ID); code != 0 || !strings.Contains(out, "true; deadline") ||
		!strings.Contains(out, "ineligible") {
		t.Fatalf("node status of a draining node: exit %d\n%s", code, out)
	}
	if code, out, errOut = run("node", "eligibility", "-enable", node.ID); code != 1 || !strings.Contains(errOut, "while node is draining") {
		t.Fatalf("eligibility while draining: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ = run("node", "drain", "-disable", "-keep-ineligible", node.ID); code != 0 || !strings.Contains(out, "drain strategy unset") {
		t.Fatalf("drain -disable: exit %d %q", code, out)
	}
	if n, _ := srv.State().NodeByID(nil, node.ID); n.Drain || n.SchedulingEligibility != structs.NodeSchedulingIneligible {
		t.Fatalf("-keep-ineligible: drain %v eligibility %s", n.Drain, n.SchedulingEligibility)
	}
	code, out, errOut = run("node", "drain", "-enable", "-force", "-yes", node.ID)
	if code != 0 || !strings.Contains(out, "Drain complete for node "+node.ID) ||
		!strings.Contains(out, "All allocations on node \""+node.ID+"\" have stopped") {
		t.Fatalf("monitored drain: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ = run("node", "eligibility", "-enable", node.ID); code != 0 ||
		out != "Node \""+node.ID+"\" scheduling eligibility set: eligible for scheduling\n" {
		t.Fatalf("eligibility -enable: exit %d %q", code, out)
	}
}
