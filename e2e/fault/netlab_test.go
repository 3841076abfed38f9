package fault

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/orch-project/orch/internal/testenv"
)

// A lab is a private network: one bridge in the root namespace
// (harness-<id>, 10.214.<id>.1/24) and a namespace per agent
// (harness-<id>-<n>) with a veth onto it. The test process stays in the
// root namespace and reaches every agent over the bridge. Faults are
// iptables rules inside a member's namespace, so they drop packets
// silently and vanish with the namespace. The bridge's alias records the
// pid that made it, so a later run sweeps what a killed run left behind.
type lab struct {
	t      testing.TB
	id     int
	bridge string
	gw     string

	mu      sync.Mutex
	members []*member
	forward bool
}

// member is one namespace of a lab.
type member struct {
	lab  *lab
	name string // agent name, for logs
	ns   string
	ip   string

	mu    sync.Mutex
	rules int // fault rules in place
}

const labPrefix = "harness-"

func needNetAdmin(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Need(t, "root (network namespaces)", fmt.Errorf("euid %d", os.Geteuid()))
	}
	for _, tool := range []string{"ip", "iptables", "unshare"} {
		_, err := exec.LookPath(tool)
		testenv.Need(t, tool, err)
	}
}

// newLab claims a free id (creating the bridge is the claim: it fails if
// another run holds the name) and sets the bridge up.
func newLab(t testing.TB) *lab {
	t.Helper()
	needNetAdmin(t)
	sweepLabs()
	l := &lab{t: t}
	start := os.Getpid() % 200
	for try := 0; ; try++ {
		if try == 200 {
			t.Fatal("no free harness lab id (200 bridges named harness-*?)")
		}
		id := 20 + (start+try*7)%200
		name := fmt.Sprintf("%s%d", labPrefix, id)
		if err := exec.Command("ip", "link", "add", name, "type", "bridge").Run(); err != nil {
			continue
		}
		if subnetInUse(id, name) {
			_ = exec.Command("ip", "link", "del", name).Run()
			continue
		}
		l.id, l.bridge = id, name
		break
	}
	l.gw = fmt.Sprintf("10.214.%d.1", l.id)
	t.Cleanup(l.destroy)
	l.run("ip", "link", "set", l.bridge, "alias", "pid="+strconv.Itoa(os.Getpid()))
	l.run("ip", "addr", "add", l.gw+"/24", "dev", l.bridge)
	l.run("ip", "link", "set", l.bridge, "up")
	// With br_netfilter loaded, bridged frames traverse the root
	// namespace's FORWARD chain, whose policy Docker sets to DROP.
	l.run("iptables", "-w", "-I", "FORWARD", "-i", l.bridge, "-o", l.bridge, "-j", "ACCEPT")
	l.forward = true
	return l
}

// subnetInUse reports whether some other interface already has an address
// in the lab's /24 (a lab of another suite, or anything else).
func subnetInUse(id int, except string) bool {
	out, _ := exec.Command("ip", "-o", "addr", "show", "to", fmt.Sprintf("10.214.%d.0/24", id)).Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] != except {
			return true
		}
	}
	return false
}

func (l *lab) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// add creates a namespace with an address on the lab's bridge.
func (l *lab) add(name string) *member {
	l.t.Helper()
	l.mu.Lock()
	i := len(l.members) + 1
	m := &member{lab: l, name: name, ns: fmt.Sprintf("%s%d-%d", labPrefix, l.id, i), ip: fmt.Sprintf("10.214.%d.%d", l.id, 10+i)}
	l.members = append(l.members, m)
	l.mu.Unlock()
	host, peer := fmt.Sprintf("%s%dh%d", labPrefix, l.id, i), fmt.Sprintf("%s%dn%d", labPrefix, l.id, i)
	l.run("ip", "netns", "add", m.ns)
	// A veth of an earlier lab with this id can outlive it for a moment
	// (a namespace is freed asynchronously): the id is ours now.
	_ = exec.Command("ip", "link", "del", host).Run()
	l.run("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	l.run("ip", "link", "set", host, "master", l.bridge)
	l.run("ip", "link", "set", host, "up")
	l.run("ip", "link", "set", peer, "netns", m.ns)
	m.exec("ip", "link", "set", "lo", "up")
	m.exec("ip", "addr", "add", m.ip+"/24", "dev", peer)
	m.exec("ip", "link", "set", peer, "up")
	return m
}

// destroy deletes the namespaces (their veths and rules go with them), the
// FORWARD rule and the bridge. Agents are stopped before: t.Cleanup runs
// in reverse order and agents start after their lab.
func (l *lab) destroy() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, m := range l.members {
		killNamespace(m.ns)
		_ = exec.Command("ip", "netns", "del", m.ns).Run()
		// Deleting one end deletes the pair, even while something still
		// holds the namespace.
		_ = exec.Command("ip", "link", "del", fmt.Sprintf("%s%dh%d", labPrefix, l.id, i+1)).Run()
	}
	if l.forward {
		_ = exec.Command("iptables", "-w", "-D", "FORWARD", "-i", l.bridge, "-o", l.bridge, "-j", "ACCEPT").Run()
	}
	_ = exec.Command("ip", "link", "del", l.bridge).Run()
}

// sweepLabs removes labs whose creating process is gone (a run killed
// before its cleanup): bridges named harness-<id> with a dead pid in
// their alias, with their namespaces and FORWARD rule.
func sweepLabs() {
	out, err := exec.Command("ip", "-o", "link", "show", "type", "bridge").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		if !strings.HasPrefix(name, labPrefix) {
			continue
		}
		alias := ""
		if i := strings.Index(line, "alias pid="); i >= 0 {
			alias = strings.Fields(line[i+len("alias pid="):])[0]
		}
		pid, err := strconv.Atoi(alias)
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil {
			continue // alive (or not ours to judge)
		}
		id := strings.TrimPrefix(name, labPrefix)
		nss, _ := exec.Command("ip", "netns", "list").Output()
		for _, nl := range strings.Split(string(nss), "\n") {
			if ns := strings.Fields(nl); len(ns) > 0 && strings.HasPrefix(ns[0], labPrefix+id+"-") {
				killNamespace(ns[0])
				_ = exec.Command("ip", "netns", "del", ns[0]).Run()
			}
		}
		_ = exec.Command("iptables", "-w", "-D", "FORWARD", "-i", name, "-o", name, "-j", "ACCEPT").Run()
		_ = exec.Command("ip", "link", "del", name).Run()
	}
}

func (m *member) exec(args ...string) {
	m.lab.t.Helper()
	m.lab.run(append([]string{"ip", "netns", "exec", m.ns}, args...)...)
}

// iptables runs iptables inside the member's namespace; errors are
// returned, not fatal, because nemeses run off the test goroutine.
func (m *member) iptables(args ...string) error {
	full := append([]string{"netns", "exec", m.ns, "iptables", "-w"}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables %s in %s: %v: %s", strings.Join(args, " "), m.ns, err, out)
	}
	return nil
}

// isolate drops every packet to and from the member except on loopback:
// a blackholed machine, unreachable from the test too.
func (m *member) isolate() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules++
	if err := m.iptables("-I", "INPUT", "!", "-i", "lo", "-j", "DROP"); err != nil {
		return err
	}
	return m.iptables("-I", "OUTPUT", "!", "-o", "lo", "-j", "DROP")
}

// cutFrom drops traffic between the member and others in both
// directions; the test host still reaches it.
func (m *member) cutFrom(others ...*member) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range others {
		m.rules++
		if err := m.iptables("-I", "INPUT", "-s", o.ip, "-j", "DROP"); err != nil {
			return err
		}
		if err := m.iptables("-I", "OUTPUT", "-d", o.ip, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// deafTo drops what the member receives from others, while what it sends
// them still arrives: a one-way partition.
func (m *member) deafTo(others ...*member) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range others {
		m.rules++
		if err := m.iptables("-I", "INPUT", "-s", o.ip, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// heal removes the member's faults.
func (m *member) heal() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rules == 0 {
		return nil
	}
	m.rules = 0
	if err := m.iptables("-F", "INPUT"); err != nil {
		return err
	}
	return m.iptables("-F", "OUTPUT")
}

// killNamespace kills every process left in a lab namespace: tasks that
// killed clients left running, which would keep the namespace, and its
// veth, alive after it is deleted.
func killNamespace(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
