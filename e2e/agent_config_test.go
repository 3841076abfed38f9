package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

// A Nomad agent configuration directory with settings orch does not act on
// starts a dev agent that says so in one warning line, and advertise
// { http } is the address its node reports.
func TestAgentStartsFromNomadConfig(t *testing.T) {
	ip := newIP()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "agent.hcl"), []byte(`disable_update_check = true
telemetry {
  collection_interval = "1s"
}
advertise {
  http = "`+ip+`:4646"
}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "plugins.conf.json"), []byte(`{"plugin": {"docker": {"config": {"allow_privileged": false}}}}`), 0o644)
	a := startAgent(t, ip, t.TempDir(), "-dev", "-config", dir)
	waitReady(t, a, 1)
	logs := a.logs.String()
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "ignoring Nomad agent settings orch does not act on") {
			if line != "" {
				t.Fatalf("more than one warning line:\n%s", logs)
			}
			line = l
		}
	}
	if !strings.Contains(line, "disable_update_check (") || !strings.Contains(line, "telemetry (") {
		t.Fatalf("warning line %q", line)
	}
	var nodes []*structs.NodeListStub
	if err := getJSON(a.addr()+"/v1/nodes", &nodes); err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %v %+v", err, nodes)
	}
	var node structs.Node
	if err := getJSON(a.addr()+"/v1/node/"+nodes[0].ID, &node); err != nil || node.HTTPAddr != ip+":4646" {
		t.Fatalf("node HTTP address %q: %v", node.HTTPAddr, err)
	}
}
