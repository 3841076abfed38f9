package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/orch-project/orch/internal/testenv"
)

// netLab is a private network for agents under real network faults: each
// agent runs in its own network namespace with a veth into one bridge;
// the test reaches them from the root namespace over the bridge. Faults
// are iptables rules inside a member's namespace, so they drop packets
// silently (a blackhole, not a refused connection), and vanish with it.
// Every name starts with "ctlchan" and everything is deleted at cleanup.
type netLab struct {
	t      *testing.T
	id     int
	bridge string
	n      int
	// forward is set once the lab's FORWARD rule is in place.
	forward bool
}

// labNode is one namespace of a lab.
type labNode struct {
	lab *netLab
	ns  string
	ip  string
}

var labSeq atomic.Int32

// newNetLab creates a bridge with 10.213.<id>.1/24 in the root namespace.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Need(t, "root (network namespaces)", fmt.Errorf("euid %d", os.Geteuid()))
	}
	for _, tool := range []string{"ip", "iptables"} {
		_, err := exec.LookPath(tool)
		testenv.Need(t, tool, err)
	}
	var id int
	for try := 0; ; try++ {
		id = 10 + (os.Getpid()+int(labSeq.Add(1))*7)%230
		out, _ := exec.Command("ip", "-o", "addr", "show", "to", fmt.Sprintf("10.213.%d.0/24", id)).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			break
		}
		if try > 50 {
			t.Fatal("no free 10.213.x.0/24 subnet for a test lab")
		}
	}
	l := &netLab{t: t, id: id, bridge: fmt.Sprintf("ctlchan-b%d", id)}
	t.Cleanup(l.destroy)
	l.run("ip", "link", "add", l.bridge, "type", "bridge")
	l.run("ip", "addr", "add", fmt.Sprintf("10.213.%d.1/24", id), "dev", l.bridge)
	l.run("ip", "link", "set", l.bridge, "up")
	// With br_netfilter loaded, bridged frames traverse the root
	// namespace's FORWARD chain, whose policy Docker sets to DROP.
	l.run("iptables", "-I", "FORWARD", "-i", l.bridge, "-o", l.bridge, "-j", "ACCEPT")
	l.forward = true
	return l
}

func (l *netLab) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// add creates a namespace with its address on the lab's bridge.
func (l *netLab) add() *labNode {
	l.t.Helper()
	l.n++
	i := l.n
	n := &labNode{lab: l, ns: fmt.Sprintf("ctlchan-%d-%d", l.id, i), ip: fmt.Sprintf("10.213.%d.%d", l.id, 10+i)}
	host, peer := fmt.Sprintf("cc%dh%d", l.id, i), fmt.Sprintf("cc%dn%d", l.id, i)
	l.run("ip", "netns", "add", n.ns)
	l.run("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	l.run("ip", "link", "set", host, "master", l.bridge)
	l.run("ip", "link", "set", host, "up")
	l.run("ip", "link", "set", peer, "netns", n.ns)
	n.exec("ip", "link", "set", "lo", "up")
	n.exec("ip", "addr", "add", n.ip+"/24", "dev", peer)
	n.exec("ip", "link", "set", peer, "up")
	return n
}

func (n *labNode) exec(args ...string) {
	n.lab.t.Helper()
	n.lab.run(append([]string{"ip", "netns", "exec", n.ns}, args...)...)
}

// isolate drops every packet to and from the node except its own
// loopback: a blackholed machine, as seen by everyone else.
func (n *labNode) isolate() {
	n.exec("iptables", "-I", "INPUT", "!", "-i", "lo", "-j", "DROP")
	n.exec("iptables", "-I", "OUTPUT", "!", "-o", "lo", "-j", "DROP")
}

// cutFrom drops the traffic between the node and others, in both
// directions.
func (n *labNode) cutFrom(others ...*labNode) {
	for _, o := range others {
		n.exec("iptables", "-I", "INPUT", "-s", o.ip, "-j", "DROP")
		n.exec("iptables", "-I", "OUTPUT", "-d", o.ip, "-j", "DROP")
	}
}

// heal removes the node's faults.
func (n *labNode) heal() {
	n.exec("iptables", "-F", "INPUT")
	n.exec("iptables", "-F", "OUTPUT")
}

// destroy deletes the namespaces (their veths and rules go with them) and
// the bridge. Agents must be stopped first: t.Cleanup runs in reverse
// order, and agents are started after the lab.
func (l *netLab) destroy() {
	for i := 1; i <= l.n; i++ {
		_ = exec.Command("ip", "netns", "del", fmt.Sprintf("ctlchan-%d-%d", l.id, i)).Run()
	}
	if l.forward {
		_ = exec.Command("iptables", "-D", "FORWARD", "-i", l.bridge, "-o", l.bridge, "-j", "ACCEPT").Run()
	}
	_ = exec.Command("ip", "link", "del", l.bridge).Run()
}
