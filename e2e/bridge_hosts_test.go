package e2e

import (
	"strings"
	"testing"
)

const bridgeHostsJob = `job "dhosts" {
  group "d" {
    network {
      mode     = "bridge"
      hostname = "dh-${NOMAD_ALLOC_INDEX}"
    }
    task "web" {
      driver = "docker"
      config {
        image       = "orch-test/busybox:latest"
        command     = "sh"
        args        = ["-c", "cat /etc/hosts > /alloc/data/hosts; exec sleep 600"]
        extra_hosts = ["db.internal:10.9.9.9"]
      }
      resources {
        memory = 32
      }
    }
  }
}
`

// TestBridgeDockerEtcHosts: a docker task in a bridge group gets an
// /etc/hosts naming the allocation's hostname (network.hostname,
// interpolated) at the allocation's address in the bridge subnet, plus
// its extra_hosts, as Nomad generates it; the sandbox's own (network none)
// would name only loopback.
func TestBridgeDockerEtcHosts(t *testing.T) {
	needBridge(t)
	needDocker(t)
	env := startBridgeAgent(t, `plugin "docker" {
  config {
    infra_image = "orch-test/pause:latest"
  }
}`, "dhosts")
	env.jt.run("dhosts", bridgeHostsJob)
	id := env.jt.oneAlloc("dhosts")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := env.a.cli(t, "alloc", "status", id)
			t.Log(out)
		}
	})
	hosts := waitAllocFile(t, env.a, id, "hosts", "dh-0")
	var addr string
	for _, line := range strings.Split(hosts, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "dh-0" {
			addr = f[0]
		}
	}
	if !strings.HasPrefix(addr, env.subnetPrefix) {
		t.Fatalf("dh-0 is not at an address of the bridge subnet %s0/24:\n%s", env.subnetPrefix, hosts)
	}
	if !strings.Contains(hosts, "10.9.9.9\tdb.internal\n") || !strings.Contains(hosts, "127.0.0.1\tlocalhost\n") {
		t.Fatalf("extra_hosts or loopback missing:\n%s", hosts)
	}
	stopAndWaitTeardown(t, env.a, "dhosts", id)
	if left := newTraces(env.before, bridgeTraces(t, env.bridge, env.subnetPrefix)); len(left) > 0 {
		t.Fatalf("stopping the job left behind:\n%s", strings.Join(left, "\n"))
	}
}
