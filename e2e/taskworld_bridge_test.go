package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/internal/netns"
	"github.com/orch-project/orch/internal/testenv"
	"github.com/orch-project/orch/structs"
)

// needBridge skips (fails with CI set) without root, the exec driver, the
// CNI reference plugins, iptables and busybox.
func needBridge(t *testing.T) {
	t.Helper()
	needDriver(t, "exec")
	var err error
	if _, e1 := os.Stat("/usr/lib/cni/bridge"); e1 != nil {
		if _, e2 := os.Stat("/opt/cni/bin/bridge"); e2 != nil {
			err = errors.New("CNI plugins in neither /usr/lib/cni nor /opt/cni/bin (apt-get install containernetworking-plugins)")
		}
	}
	for _, bin := range []string{"iptables-save", "busybox", "ip"} {
		if _, e := exec.LookPath(bin); e != nil && err == nil {
			err = e
		}
	}
	testenv.Need(t, "bridge networking", err)
}

// bridgeTraces are the host objects an allocation's network could leave
// behind: iptables rules and chains that mention CNI, the bridge or its
// subnet (counters stripped), and the veths on the bridge.
func bridgeTraces(t *testing.T, bridge, subnetPrefix string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	counters := regexp.MustCompile(`\[\d+:\d+\]`)
	for _, table := range []string{"nat", "filter"} {
		b, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			t.Fatalf("iptables-save: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "CNI") || strings.Contains(l, bridge) || strings.Contains(l, subnetPrefix) {
				out[table+" "+counters.ReplaceAllString(l, "")] = true
			}
		}
	}
	if b, err := exec.Command("ip", "-o", "link", "show", "master", bridge).Output(); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				out["link "+f[1]] = true
			}
		}
	}
	return out
}

func newTraces(before, now map[string]bool) []string {
	var d []string
	for k := range now {
		if !before[k] {
			d = append(d, k)
		}
	}
	return d
}

func readAllocFile(a *agentProc, allocID, name string) string {
	b, _ := os.ReadFile(filepath.Join(a.dataDir, "alloc", allocID, "alloc", "data", name))
	return string(b)
}

// waitAllocFile waits until the allocation's shared dir has name with want.
func waitAllocFile(t *testing.T, a *agentProc, allocID, name, want string) string {
	t.Helper()
	var s string
	waitFor(t, 60*time.Second, "alloc/data/"+name+" containing "+want, func() (bool, string) {
		s = readAllocFile(a, allocID, name)
		return strings.Contains(s, want), s
	})
	return s
}

// stopAndWaitTeardown stops a job and waits until the client removed its
// allocation's network state (CNI DEL done, namespace unbound).
func stopAndWaitTeardown(t *testing.T, a *agentProc, jobID, allocID string) {
	t.Helper()
	if out, code := a.cli(t, "job", "stop", "-detach", jobID); code != 0 {
		t.Fatalf("job stop %s: %d %s", jobID, code, out)
	}
	dir := filepath.Join(a.dataDir, "network", allocID)
	waitFor(t, 60*time.Second, "network of "+jobID+" torn down", func() (bool, string) {
		_, err := os.Stat(dir)
		return os.IsNotExist(err), fmt.Sprint(err)
	})
}

const bridgeWebJob = `job "web" {
  group "a" {
    network {
      mode = "bridge"
      port "http" {
        static = %[1]d
        to     = 8080
      }
      dns {
        servers  = ["192.0.2.53"]
        searches = ["orch.test"]
        options  = ["ndots:2"]
      }
    }
    service {
      name         = "bridge-web"
      port         = "http"
      address_mode = "alloc"
      check {
        type         = "http"
        path         = "/"
        interval     = "1s"
        timeout      = "1s"
        address_mode = "alloc"
      }
    }
    service {
      name = "bridge-web-host"
      port = "http"
    }
    task "server" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args = ["-c", <<EOT
readlink /proc/self/ns/net > $NOMAD_ALLOC_DIR/data/ns-server
cat /etc/resolv.conf > $NOMAD_ALLOC_DIR/data/resolv
mkdir -p /tmp/www /tmp/hidden
echo web-port-$NOMAD_PORT_http-host-$NOMAD_HOST_PORT_http > /tmp/www/index.html
echo hidden > /tmp/hidden/index.html
busybox httpd -f -p 9090 -h /tmp/hidden &
exec busybox httpd -f -p $NOMAD_PORT_http -h /tmp/www
EOT
        ]
      }
      resources {
        memory = 32
      }
    }
    task "sidecar" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args = ["-c", <<EOT
readlink /proc/self/ns/net > $NOMAD_ALLOC_DIR/data/ns-sidecar
while true; do
  printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc 127.0.0.1 8080 > /tmp/local 2>&1 && cp /tmp/local $NOMAD_ALLOC_DIR/data/sidecar-local
  sleep 1
done
EOT
        ]
      }
      resources {
        memory = 16
      }
    }
  }
}
`

const bridgeProbeJob = `job "probe" {
  group "b" {
    network {
      mode = "bridge"
    }
    task "probe" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args = ["-c", <<EOT
readlink /proc/self/ns/net > $NOMAD_ALLOC_DIR/data/ns
while true; do
  printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 2 %[1]s %[2]d > $NOMAD_ALLOC_DIR/data/mapped.tmp 2>&1
  mv $NOMAD_ALLOC_DIR/data/mapped.tmp $NOMAD_ALLOC_DIR/data/mapped
  if printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 2 %[1]s 9090 > $NOMAD_ALLOC_DIR/data/unmapped.tmp 2>&1; then echo reached >> $NOMAD_ALLOC_DIR/data/unmapped.tmp; else echo refused >> $NOMAD_ALLOC_DIR/data/unmapped.tmp; fi
  mv $NOMAD_ALLOC_DIR/data/unmapped.tmp $NOMAD_ALLOC_DIR/data/unmapped
  sleep 1
done
EOT
        ]
      }
      resources {
        memory = 16
      }
    }
  }
}
`

const bridgeWarmJob = `job "warm" {
  group "w" {
    network {
      mode = "bridge"
      port "p" {
        to = 80
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      resources {
        memory = 16
      }
    }
  }
}
`

// TestBridgeNetworkE2E: with network mode bridge (on a bridge and subnet
// set in the client config), the two exec tasks of group "a" share one
// namespace that is not the host's (the sidecar reaches the server on
// 127.0.0.1:8080), get the group's dns as /etc/resolv.conf, and the
// server's `to` port is published on the node's address at its static
// port: the host reaches it there, and so does group "b" (a raw_exec task
// running in its own namespace) through the mapped port, while the server's
// unpublished port 9090 is reachable from neither. Stopping the jobs tears
// everything down: no veth, no iptables rule, no namespace is left.
func TestBridgeNetworkE2E(t *testing.T) {
	needBridge(t)
	env := startBridgeAgent(t, "", "web", "probe")
	a, jt, ip, bridge, subnetPrefix := env.a, env.jt, env.ip, env.bridge, env.subnetPrefix
	before := env.before

	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t, ip)
	jt.run("web", fmt.Sprintf(bridgeWebJob, port))
	web := jt.oneAlloc("web")
	jt.run("probe", fmt.Sprintf(bridgeProbeJob, ip, port))
	probe := jt.oneAlloc("probe")

	// Group a: one namespace for both tasks, the allocation's, not the host's.
	nsServer := strings.TrimSpace(waitAllocFile(t, a, web, "ns-server", "net:"))
	nsSidecar := strings.TrimSpace(waitAllocFile(t, a, web, "ns-sidecar", "net:"))
	webNS, err := netns.ID(filepath.Join(a.dataDir, "network", web, "netns"))
	if err != nil {
		t.Fatal(err)
	}
	if nsServer != webNS || nsSidecar != webNS || webNS == hostNS {
		t.Fatalf("group a namespaces: server %s, sidecar %s, allocation %s, host %s", nsServer, nsSidecar, webNS, hostNS)
	}
	want := fmt.Sprintf("web-port-8080-host-%d", port)
	waitAllocFile(t, a, web, "sidecar-local", want)
	resolv := waitAllocFile(t, a, web, "resolv", "nameserver")
	for _, w := range []string{"nameserver 192.0.2.53", "search orch.test", "options ndots:2"} {
		if !strings.Contains(resolv, w) {
			t.Fatalf("the task's /etc/resolv.conf lacks %q:\n%s", w, resolv)
		}
	}

	// The host reaches the server through the mapped port only.
	waitFor(t, 30*time.Second, "web on the node's mapped port", func() (bool, string) {
		body, err := httpGet(fmt.Sprintf("http://%s:%d/", ip, port))
		return err == nil && strings.Contains(body, want), fmt.Sprint(body, err)
	})
	if body, err := httpGet(fmt.Sprintf("http://%s:9090/", ip)); err == nil {
		t.Fatalf("the unpublished port 9090 answered on the node: %q", body)
	}

	// Services: address_mode "alloc" advertises the allocation's address
	// and the port inside it, and its check passes against them; the
	// default (auto) advertises the node's address and the host port.
	allocIP := allocAddress(t, a, web)
	waitFor(t, 30*time.Second, "bridge-web registered at the allocation's address", func() (bool, string) {
		regs := serviceInstances(t, a, "bridge-web")
		return len(regs) == 1 && regs[0].Address == allocIP && regs[0].Port == 8080, fmt.Sprintf("%+v (alloc %s)", regs, allocIP)
	})
	waitFor(t, 30*time.Second, "bridge-web-host registered at the node's address", func() (bool, string) {
		regs := serviceInstances(t, a, "bridge-web-host")
		return len(regs) == 1 && regs[0].Address == ip && regs[0].Port == port, fmt.Sprintf("%+v", regs)
	})
	waitFor(t, 30*time.Second, "the alloc-mode check passing", func() (bool, string) {
		var res map[string]*structs.CheckQueryResult
		if err := getJSON(a.addr()+"/v1/client/allocation/"+web+"/checks", &res); err != nil {
			return false, err.Error()
		}
		for _, r := range res {
			return r.Status == structs.CheckSuccess, fmt.Sprintf("%+v", r)
		}
		return false, "no results"
	})

	// Group b: a raw_exec task in a namespace of its own, which reaches
	// group a through the mapped port and not through the unpublished one.
	nsProbe := strings.TrimSpace(waitAllocFile(t, a, probe, "ns", "net:"))
	probeNS, err := netns.ID(filepath.Join(a.dataDir, "network", probe, "netns"))
	if err != nil {
		t.Fatal(err)
	}
	if nsProbe != probeNS || nsProbe == hostNS || nsProbe == webNS {
		t.Fatalf("raw_exec namespace %s; its allocation's %s, host %s, group a %s", nsProbe, probeNS, hostNS, webNS)
	}
	waitAllocFile(t, a, probe, "mapped", want)
	if un := waitAllocFile(t, a, probe, "unmapped", "e"); !strings.Contains(un, "refused") || strings.Contains(un, "hidden") {
		t.Fatalf("group b and the unpublished port: %q", un)
	}

	during := bridgeTraces(t, bridge, subnetPrefix)
	if len(newTraces(before, during)) == 0 {
		t.Fatal("two bridge allocations added no veth or iptables rule: the teardown check could not fail")
	}
	stopAndWaitTeardown(t, a, "probe", probe)
	stopAndWaitTeardown(t, a, "web", web)
	if left := newTraces(before, bridgeTraces(t, bridge, subnetPrefix)); len(left) > 0 {
		t.Fatalf("stopping the jobs left behind:\n%s", strings.Join(left, "\n"))
	}
	if _, err := httpGet(fmt.Sprintf("http://%s:%d/", ip, port)); err == nil {
		t.Fatal("the mapped port still answers after the job stopped")
	}
}

type bridgeEnv struct {
	a                        *agentProc
	jt                       *jobTracker
	ip, bridge, subnetPrefix string
	cfg                      string // the agent's config file
	// before are the host's traces once a first allocation made the
	// bridge and the plugins' shared chains (which stay, as in Nomad).
	before map[string]bool
}

// startBridgeAgent starts a -dev agent whose client puts bridge networks on
// a bridge and subnet of this test run, with extra agent config, and runs
// a warm-up bridge job. The node's address is outside 127/8 (a host
// address, here on lo): a 127.x address would be each namespace's own
// loopback, so one group could not dial another's mapped port on it.
func startBridgeAgent(t *testing.T, extra string, jobs ...string) *bridgeEnv {
	t.Helper()
	n := os.Getpid()%200 + 20
	e := &bridgeEnv{bridge: fmt.Sprintf("orche%d", n), subnetPrefix: fmt.Sprintf("10.236.%d.", n),
		ip: fmt.Sprintf("10.235.%d.1", n)}
	if out, err := exec.Command("ip", "addr", "add", e.ip+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add %s: %v %s", e.ip, err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "addr", "del", e.ip+"/32", "dev", "lo").Run()
		_ = exec.Command("ip", "link", "del", e.bridge).Run()
		_ = exec.Command("iptables", "-w", "-D", "ORCH-ADMIN", "-o", e.bridge, "-d", e.subnetPrefix+"0/24", "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT").Run()
	})
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`client {
  cni_path              = "/opt/cni/bin:/usr/lib/cni"
  bridge_network_name   = %q
  bridge_network_subnet = "%s0/24"
}
%s
`, e.bridge, e.subnetPrefix, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	e.a = startAgent(t, e.ip, t.TempDir(), "-dev", "-config", cfg)
	e.jt = trackJobs(t, e.a)
	a := e.a
	// Runs before the agent is killed (cleanups run last-first): on a
	// failure, stop the jobs and give the client time to tear their
	// networks down, so a failed run leaks nothing.
	t.Cleanup(func() {
		a := e.a // the current agent, after a restart
		for _, j := range append([]string{"warm"}, jobs...) {
			a.cli(t, "job", "stop", "-detach", j)
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ents, _ := os.ReadDir(filepath.Join(a.dataDir, "network"))
			if len(ents) <= 1 { // only libcni's cache dir
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	waitReady(t, a, 1)
	// The node offers the bridge network (the scheduler places bridge
	// groups only there).
	var nodes []*structs.NodeListStub
	if err := getJSON(a.addr()+"/v1/nodes", &nodes); err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	var node structs.Node
	if err := getJSON(a.addr()+"/v1/node/"+nodes[0].ID, &node); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, nw := range node.NodeResources.Networks {
		found = found || nw.Mode == "bridge" && nw.Device == e.bridge && nw.CIDR == e.subnetPrefix+"0/24"
	}
	if !found {
		t.Fatalf("the node does not offer the bridge network: %+v", node.NodeResources.Networks)
	}
	e.jt.run("warm", bridgeWarmJob)
	warm := e.jt.oneAlloc("warm")
	waitAllocs(t, a, "warm", 1, "running", 60*time.Second)
	stopAndWaitTeardown(t, a, "warm", warm)
	e.before = bridgeTraces(t, e.bridge, e.subnetPrefix)
	return e
}

// allocAddress is the allocation's address on the bridge, as the
// namespace's eth0 has it.
func allocAddress(t *testing.T, a *agentProc, allocID string) string {
	t.Helper()
	ns := filepath.Join(a.dataDir, "network", allocID, "netns")
	out, err := exec.Command("nsenter", "--net="+ns, "ip", "-4", "-o", "addr", "show", "dev", "eth0").Output()
	if err != nil {
		t.Fatalf("eth0 in %s: %v", ns, err)
	}
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "inet" && i+1 < len(f) {
			return strings.Split(f[i+1], "/")[0]
		}
	}
	t.Fatalf("no address on eth0: %s", out)
	return ""
}

// restart kill -9s the agent and starts it again on the same data dir.
func (e *bridgeEnv) restart(t *testing.T) {
	t.Helper()
	e.a.kill()
	e.a = startAgent(t, e.ip, e.a.dataDir, "-dev", "-config", e.cfg)
	e.jt.setAgent(e.a)
	waitReady(t, e.a, 1)
}

func freeTCPPort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const bridgeDockerJob = `job "dweb" {
  group "d" {
    network {
      mode     = "bridge"
      hostname = "dweb-${NOMAD_ALLOC_INDEX}"
      port "http" {
        static = %[1]d
        to     = 8080
      }
      dns {
        servers = ["192.0.2.54"]
      }
    }
    task "web" {
      driver = "docker"
      config {
        image   = "orch-test/busybox:latest"
        command = "sh"
        args    = ["-c", "ls -l /proc/self/ns/net > /alloc/data/ns-docker; cat /proc/sys/kernel/hostname > /alloc/data/hostname; cat /etc/resolv.conf > /alloc/data/resolv-docker; mkdir -p /tmp/www; echo docker-web-$NOMAD_PORT_http > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www"]
      }
      resources {
        memory = 32
      }
    }
    task "side" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args = ["-c", <<EOT
readlink /proc/self/ns/net > $NOMAD_ALLOC_DIR/data/ns-exec
while true; do
  printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc 127.0.0.1 8080 > /tmp/local 2>&1 && cp /tmp/local $NOMAD_ALLOC_DIR/data/side-local
  sleep 1
done
EOT
        ]
      }
      resources {
        memory = 16
      }
    }
  }
}
`

// TestBridgeNetworkDockerE2E: a docker task in a bridge group joins the
// allocation's namespace, held by the docker driver's sandbox container
// (infra_image), which an exec task of the same group shares (it reaches
// the container on 127.0.0.1:8080); the container gets the group's dns and
// its `to` port is published on the node. Stopping the job removes the
// sandbox and leaves no veth or iptables rule.
func TestBridgeNetworkDockerE2E(t *testing.T) {
	needBridge(t)
	needDocker(t)
	env := startBridgeAgent(t, `plugin "docker" {
  config {
    infra_image = "orch-test/pause:latest"
  }
}`, "dweb")
	a := env.a
	port := freeTCPPort(t, env.ip)
	env.jt.run("dweb", fmt.Sprintf(bridgeDockerJob, port))
	id := env.jt.oneAlloc("dweb")

	waitAllocFile(t, a, id, "ns-docker", "net:")
	allocNS, err := netns.ID(filepath.Join(a.dataDir, "network", id, "netns"))
	if err != nil {
		t.Fatal(err)
	}
	if d := waitAllocFile(t, a, id, "ns-docker", "net:"); !strings.Contains(d, allocNS) {
		t.Fatalf("the container's namespace (%s) is not the allocation's %s", strings.TrimSpace(d), allocNS)
	}
	if e := strings.TrimSpace(waitAllocFile(t, a, id, "ns-exec", "net:")); e != allocNS {
		t.Fatalf("the exec task's namespace %s is not the allocation's %s", e, allocNS)
	}
	waitAllocFile(t, a, id, "side-local", "docker-web-8080")
	if h := strings.TrimSpace(waitAllocFile(t, a, id, "hostname", "d")); h != "dweb-0" {
		t.Fatalf("the container's hostname is %q, want network.hostname interpolated: dweb-0", h)
	}
	if r := waitAllocFile(t, a, id, "resolv-docker", "nameserver"); !strings.Contains(r, "nameserver 192.0.2.54") {
		t.Fatalf("the container's resolv.conf:\n%s", r)
	}
	waitFor(t, 30*time.Second, "the container on the node's mapped port", func() (bool, string) {
		body, err := httpGet(fmt.Sprintf("http://%s:%d/", env.ip, port))
		return err == nil && strings.Contains(body, "docker-web-8080"), fmt.Sprint(body, err)
	})
	if out, err := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", "orch_init_"+id).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "true" {
		t.Fatalf("sandbox container orch_init_%s: %s %v", id, out, err)
	}

	stopAndWaitTeardown(t, a, "dweb", id)
	if left := newTraces(env.before, bridgeTraces(t, env.bridge, env.subnetPrefix)); len(left) > 0 {
		t.Fatalf("stopping the job left behind:\n%s", strings.Join(left, "\n"))
	}
	if out, err := exec.Command("docker", "inspect", "orch_init_"+id).CombinedOutput(); err == nil {
		t.Fatalf("the sandbox container outlived the allocation: %s", out)
	}
}

const bridgeKeptJob = `job "kept" {
  group "k" {
    network {
      mode = "bridge"
      port "http" {
        static = %[1]d
        to     = 8080
      }
    }
    task "web" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "readlink /proc/self/ns/net > $NOMAD_ALLOC_DIR/data/ns; echo kept-$NOMAD_ALLOC_ID > $NOMAD_TASK_DIR/index.html; exec busybox httpd -f -p $NOMAD_PORT_http -h $NOMAD_TASK_DIR"]
      }
      resources {
        memory = 16
      }
    }
  }
}
`

// TestBridgeNetworkAcrossAgentRestart: the namespace and its port mapping
// are kernel state, so a bridge allocation keeps serving on its mapped
// port while the agent is down (kill -9); the restarted agent gives the
// task the same namespace (no second CNI ADD) and, when the job stops,
// tears it down from libcni's cached result alone: nothing is left.
func TestBridgeNetworkAcrossAgentRestart(t *testing.T) {
	needBridge(t)
	env := startBridgeAgent(t, "", "kept")
	port := freeTCPPort(t, env.ip)
	env.jt.run("kept", fmt.Sprintf(bridgeKeptJob, port))
	id := env.jt.oneAlloc("kept")
	url := fmt.Sprintf("http://%s:%d/", env.ip, port)
	serving := func(what string) {
		t.Helper()
		waitFor(t, 30*time.Second, what, func() (bool, string) {
			body, err := httpGet(url)
			return err == nil && strings.Contains(body, "kept-"+id), fmt.Sprint(body, err)
		})
	}
	serving("the task on its mapped port")
	nsFile := filepath.Join(env.a.dataDir, "network", id, "netns")
	nsBefore, err := netns.ID(nsFile)
	if err != nil {
		t.Fatal(err)
	}
	if task := strings.TrimSpace(waitAllocFile(t, env.a, id, "ns", "net:")); task != nsBefore {
		t.Fatalf("task namespace %s, allocation's %s", task, nsBefore)
	}

	env.a.kill()
	serving("the mapped port with the agent down")
	env.restart(t)
	waitAllocs(t, env.a, "kept", 1, "running", 60*time.Second)
	serving("the mapped port after the agent restarted")
	if nsAfter, err := netns.ID(nsFile); err != nil || nsAfter != nsBefore {
		t.Fatalf("the allocation's namespace changed across the restart: %s -> %s (%v)", nsBefore, nsAfter, err)
	}

	stopAndWaitTeardown(t, env.a, "kept", id)
	if left := newTraces(env.before, bridgeTraces(t, env.bridge, env.subnetPrefix)); len(left) > 0 {
		t.Fatalf("stopping the job after the restart left behind:\n%s", strings.Join(left, "\n"))
	}
	if _, err := httpGet(url); err == nil {
		t.Fatal("the mapped port still answers after the job stopped")
	}
}
