package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/netns"
	"github.com/orch-project/orch/internal/testenv"
	"github.com/orch-project/orch/structs"
)

// needCNI skips (fails with CI set) without root, the CNI plugins,
// iptables and busybox.
func needCNI(t *testing.T) {
	t.Helper()
	var err error
	switch {
	case os.Geteuid() != 0:
		err = fmt.Errorf("not root")
	case !(Config{}).findPlugin("bridge"):
		err = fmt.Errorf("CNI plugins not in %s or %s (apt-get install containernetworking-plugins)", DefaultCNIPath, debianCNIPath)
	}
	if err == nil {
		_, err = exec.LookPath("iptables")
	}
	if err == nil {
		_, err = exec.LookPath("busybox")
	}
	testenv.Need(t, "bridge networking", err)
}

// testManager has a bridge and subnet of its own, so concurrent runs and
// agents do not share leases or rules with it.
func testManager(t *testing.T) *Manager {
	t.Helper()
	n := os.Getpid()%200 + 20
	m, err := New(Config{
		BridgeName:   "orcht" + strconv.Itoa(n),
		BridgeSubnet: fmt.Sprintf("10.231.%d.0/24", n),
		CNIConfigDir: t.TempDir(),
		StateDir:     t.TempDir(),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", m.cfg.BridgeName).Run()
		_ = exec.Command("iptables", append([]string{"-w", "-D"}, forwardRule(m.cfg.BridgeName, m.cfg.BridgeSubnet)...)...).Run()
	})
	return m
}

func bridgeAlloc(id string, ports ...structs.AllocatedPort) (*structs.Allocation, *structs.NetworkResource) {
	nw := &structs.NetworkResource{Mode: ModeBridge}
	a := &structs.Allocation{ID: id, TaskGroup: "g",
		Job:                &structs.Job{TaskGroups: []*structs.TaskGroup{{Name: "g", Networks: []*structs.NetworkResource{nw}}}},
		AllocatedResources: &structs.AllocatedResources{Shared: structs.AllocatedSharedResources{Ports: ports}}}
	return a, nw
}

// traces are the host's network objects an allocation's network could
// leave behind: iptables rules and chains (counters stripped) and links.
func traces(t *testing.T, m *Manager) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	counters := regexp.MustCompile(`\[\d+:\d+\]`)
	for _, table := range []string{"nat", "filter"} {
		b, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			t.Fatalf("iptables-save: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "CNI") || strings.Contains(l, m.cfg.BridgeName) || strings.Contains(l, strings.TrimSuffix(m.cfg.BridgeSubnet, "0/24")) {
				out[table+" "+counters.ReplaceAllString(l, "")] = true
			}
		}
	}
	b, err := exec.Command("ip", "-o", "link", "show", "master", m.cfg.BridgeName).Output()
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				out["link "+f[1]] = true
			}
		}
	}
	return out
}

func diff(a, b map[string]bool) []string {
	var d []string
	for k := range b {
		if !a[k] {
			d = append(d, k)
		}
	}
	return d
}

// serveIn runs busybox httpd in the namespace at ns (through drivers.SpawnIn,
// as raw_exec starts tasks) serving body on port.
func serveIn(t *testing.T, ns string, port int, body string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("busybox", "httpd", "-f", "-p", strconv.Itoa(port), "-h", dir)
	if err := drivers.SpawnIn(ns, nil, cmd.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// fetchIn GETs url from inside the namespace at ns: the socket is made on
// a thread that joined the namespace (the thread is thrown away after).
func fetchIn(ns, url string) (string, error) {
	type res struct {
		body string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(ns)
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{err: err}
			return
		}
		body, err := httpGet(url)
		ch <- res{body, err}
	}()
	r := <-ch
	return r.body, r.err
}

func httpGet(url string) (string, error) {
	c := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := c.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	b, err := io.ReadAll(conn)
	return string(b), err
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBridgeNamespacePortMapAndTeardown builds two allocations' namespaces
// on a bridge: A serves on 8080 inside its namespace, published on a host
// port; the host reaches it there, B (another namespace) reaches it through
// the host port on the bridge's gateway, and A's unpublished port 9090 is
// not reachable on the host. Destroying both leaves no veth, no iptables
// rule and no namespace file.
func TestBridgeNamespacePortMapAndTeardown(t *testing.T) {
	needCNI(t)
	m := testManager(t)
	ctx := context.Background()

	// Warm up: the first attachment makes the bridge and the plugins'
	// shared chains, which stay (as in Nomad).
	wa, wnw := bridgeAlloc("warmup-" + t.Name())
	if _, err := m.Create(ctx, wa, wnw); err != nil {
		t.Fatal(err)
	}
	m.Destroy(ctx, wa.ID)
	before := traces(t, m)

	hostPort := freePort(t)
	a, anw := bridgeAlloc("alloc-a-"+strconv.Itoa(os.Getpid()), structs.AllocatedPort{Label: "http", Value: hostPort, To: 8080})
	b, bnw := bridgeAlloc("alloc-b-" + strconv.Itoa(os.Getpid()))
	t.Cleanup(func() { m.Destroy(ctx, a.ID); m.Destroy(ctx, b.ID) })
	attA, err := m.Create(ctx, a, anw)
	if err != nil {
		t.Fatal(err)
	}
	attB, err := m.Create(ctx, b, bnw)
	if err != nil {
		t.Fatal(err)
	}
	if !netns.IsNamespace(attA.NSPath) || attA.Address == "" || attA.Address == attB.Address {
		t.Fatalf("attachments: A %+v, B %+v", attA, attB)
	}
	if !m.IPNet().Contains(net.ParseIP(attA.Address)) {
		t.Fatalf("A's address %s is not in the bridge subnet %s", attA.Address, m.IPNet())
	}
	during := traces(t, m)
	if len(diff(before, during)) == 0 {
		t.Fatalf("two attachments added no veth or iptables rule: the teardown check below could not fail")
	}

	serveIn(t, attA.NSPath, 8080, "hello from A")
	serveIn(t, attA.NSPath, 9090, "unpublished")
	gw := gateway(t, m)
	waitOK(t, "host -> A through its mapped port", func() (string, error) {
		return httpGet(fmt.Sprintf("http://127.0.0.1:%d", hostPort))
	}, "hello from A")
	waitOK(t, "B -> A through the mapped port on the gateway", func() (string, error) {
		return fetchIn(attB.NSPath, fmt.Sprintf("http://%s:%d", gw, hostPort))
	}, "hello from A")
	// From another host: a namespace off the bridge, routed through a veth,
	// dials the node's address on that veth. The DNATed connection is
	// forwarded onto the bridge, which a FORWARD policy of DROP (Docker's)
	// allows only through the ORCH-ADMIN rule.
	outside, hostSide := outsideHost(t)
	waitOK(t, "another host -> A through the mapped port", func() (string, error) {
		return fetchIn(outside, fmt.Sprintf("http://%s:%d", hostSide, hostPort))
	}, "hello from A")
	if body, err := fetchIn(attB.NSPath, fmt.Sprintf("http://%s:9090", gw)); err == nil {
		t.Fatalf("A's unpublished port 9090 answered on the host: %q", body)
	}
	// That host, routing the bridge subnet through the node, does not
	// reach A's address directly: neither its unpublished port nor the
	// published one other than through the mapping.
	for _, port := range []int{9090, 8080} {
		if body, err := fetchIn(outside, fmt.Sprintf("http://%s:%d", attA.Address, port)); err == nil {
			t.Fatalf("another host reached A's %s:%d directly: %q", attA.Address, port, body)
		}
	}
	if _, err := httpGet("http://127.0.0.1:8080"); err == nil {
		t.Logf("note: something on the host listens on 8080 (not A: A is in its own namespace)")
	}

	m.Destroy(ctx, a.ID)
	m.Destroy(ctx, b.ID)
	after := traces(t, m)
	if left := diff(before, after); len(left) > 0 {
		t.Fatalf("teardown left behind:\n%s", strings.Join(left, "\n"))
	}
	for _, p := range []string{attA.NSPath, attB.NSPath} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("namespace file %s still there (%v)", p, err)
		}
	}
}

// TestCleanupRemovesForgottenAllocations: a namespace whose allocation the
// client no longer has (it was down when the allocation went) is torn down
// from the CNI cache at start; a live one is kept.
func TestCleanupRemovesForgottenAllocations(t *testing.T) {
	needCNI(t)
	m := testManager(t)
	ctx := context.Background()
	wa, wnw := bridgeAlloc("warmup-" + t.Name())
	if _, err := m.Create(ctx, wa, wnw); err != nil {
		t.Fatal(err)
	}
	m.Destroy(ctx, wa.ID)
	before := traces(t, m)

	live, lnw := bridgeAlloc("live-" + strconv.Itoa(os.Getpid()))
	gone, gnw := bridgeAlloc("gone-"+strconv.Itoa(os.Getpid()), structs.AllocatedPort{Label: "x", Value: freePort(t), To: 80})
	t.Cleanup(func() { m.Destroy(ctx, live.ID); m.Destroy(ctx, gone.ID) })
	attLive, err := m.Create(ctx, live, lnw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, gone, gnw); err != nil {
		t.Fatal(err)
	}
	// A new manager on the same state dir: what a restarted client has.
	m2, err := New(m.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m2.Cleanup(ctx, map[string]bool{live.ID: true})
	if !netns.IsNamespace(attLive.NSPath) {
		t.Fatalf("the live allocation's namespace was removed")
	}
	if _, err := os.Stat(m.NSPath(gone.ID)); !os.IsNotExist(err) {
		t.Fatalf("the forgotten allocation's namespace is still there")
	}
	m2.Destroy(ctx, live.ID)
	if left := diff(before, traces(t, m)); len(left) > 0 {
		t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
	}
}

// TestDNSWrittenToResolvConf: the group's dns block becomes the
// allocation's resolv.conf.
func TestDNSWrittenToResolvConf(t *testing.T) {
	needCNI(t)
	m := testManager(t)
	ctx := context.Background()
	a, nw := bridgeAlloc("dns-" + strconv.Itoa(os.Getpid()))
	nw.DNS = &structs.DNSConfig{Servers: []string{"192.0.2.53"}, Searches: []string{"svc.example"}, Options: []string{"ndots:2"}}
	att, err := m.Create(ctx, a, nw)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(ctx, a.ID)
	b, err := os.ReadFile(att.ResolvConf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nameserver 192.0.2.53\n", "search svc.example\n", "options ndots:2\n"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("resolv.conf lacks %q:\n%s", want, b)
		}
	}
	if _, err := ResolvConf([]string{"1.1.1.1\nnameserver 6.6.6.6"}, nil, nil); err == nil {
		t.Fatal("a server with a newline was accepted")
	}
}

// outsideHost is a namespace joined to the host by a veth pair (host side
// 10.237.N.1/30, the namespace 10.237.N.2 with its default route through
// it): a stand-in for another machine. It returns the namespace's path and
// the host side's address.
func outsideHost(t *testing.T) (string, string) {
	t.Helper()
	n := os.Getpid()%200 + 20
	ns := filepath.Join(t.TempDir(), "outside")
	if err := netns.Create(ns); err != nil {
		t.Fatal(err)
	}
	hostIf, nsIf := fmt.Sprintf("orcho%d", n), fmt.Sprintf("orchp%d", n)
	hostIP, nsIP := fmt.Sprintf("10.237.%d.1", n), fmt.Sprintf("10.237.%d.2", n)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", hostIf).Run()
		_ = netns.Remove(ns)
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	run("ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	run("ip", "addr", "add", hostIP+"/30", "dev", hostIf)
	run("ip", "link", "set", hostIf, "up")
	run("ip", "link", "set", nsIf, "netns", ns)
	in := func(args ...string) { run(append([]string{"nsenter", "--net=" + ns}, args...)...) }
	in("ip", "addr", "add", nsIP+"/30", "dev", nsIf)
	in("ip", "link", "set", nsIf, "up")
	in("ip", "link", "set", "lo", "up")
	in("ip", "route", "add", "default", "via", hostIP)
	return ns, hostIP
}

func gateway(t *testing.T, m *Manager) string {
	t.Helper()
	ip := m.IPNet().IP.To4()
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+1).String()
}

func waitOK(t *testing.T, what string, f func() (string, error), want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := f()
		if err == nil && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q, %v", what, body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestNoneAndCNIModes: mode none is a namespace with only loopback (up);
// mode cni/<name> attaches with the operator's configuration from
// cni_config_dir, and network { cni { args } } reaches its plugins
// (host-local takes the address asked for in CNI_ARGS IP=).
func TestNoneAndCNIModes(t *testing.T) {
	needCNI(t)
	m := testManager(t)
	ctx := context.Background()
	n := os.Getpid()%200 + 20
	br := "orchc" + strconv.Itoa(n)
	subnet := fmt.Sprintf("10.232.%d.0/24", n)
	want := fmt.Sprintf("10.232.%d.77", n)
	conf := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "operator-net", "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "dataDir": %q}}]}`, br, subnet, t.TempDir())
	if err := os.WriteFile(filepath.Join(m.cfg.CNIConfigDir, "10-operator.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br).Run() })

	none, nnw := bridgeAlloc("none-" + strconv.Itoa(os.Getpid()))
	nnw.Mode = ModeNone
	cni, cnw := bridgeAlloc("cni-" + strconv.Itoa(os.Getpid()))
	cnw.Mode = "cni/operator-net"
	cnw.CNI = &structs.CNIConfig{Args: map[string]string{"IP": want, "IgnoreUnknown": "1"}}
	t.Cleanup(func() { m.Destroy(ctx, none.ID); m.Destroy(ctx, cni.ID) })

	att, err := m.Create(ctx, none, nnw)
	if err != nil {
		t.Fatal(err)
	}
	links := linksIn(t, att.NSPath)
	if len(links) != 1 || !strings.Contains(links[0], "lo") || !strings.Contains(links[0], "UP") {
		t.Fatalf("mode none: want only lo, up; got %q", links)
	}
	catt, err := m.Create(ctx, cni, cnw)
	if err != nil {
		t.Fatal(err)
	}
	if catt.Address != want {
		t.Fatalf("cni/operator-net with args IP=%s: address %q", want, catt.Address)
	}
	if _, err := m.Create(ctx, cni, &structs.NetworkResource{Mode: "cni/missing"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("an unknown CNI network: %v", err)
	}
	m.Destroy(ctx, cni.ID)
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", br).Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("the operator network's veth outlived the allocation: %s", out)
	}
}

// linksIn lists the links of the namespace at ns ("1: lo: <...UP...>").
func linksIn(t *testing.T, ns string) []string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+ns, "ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link in %s: %v", ns, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestFingerprint: bridge is offered when its plugins are in cni_path,
// and every configuration in cni_config_dir is offered as cni/<name>.
func TestFingerprint(t *testing.T) {
	needCNI(t)
	m := testManager(t)
	conf := `{"cniVersion": "0.4.0", "name": "opnet", "plugins": [{"type": "loopback"}]}`
	if err := os.WriteFile(filepath.Join(m.cfg.CNIConfigDir, "50-op.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, n := range m.Fingerprint() {
		modes = append(modes, n.Mode)
		if n.Mode == ModeBridge && (n.Device != m.cfg.BridgeName || n.CIDR != m.cfg.BridgeSubnet) {
			t.Fatalf("bridge network %+v", n)
		}
	}
	if strings.Join(modes, ",") != "bridge,cni/opnet" {
		t.Fatalf("fingerprinted %v", modes)
	}
	empty, err := New(Config{CNIPath: t.TempDir(), CNIConfigDir: t.TempDir(), StateDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := empty.Fingerprint(); len(got) != 0 {
		t.Fatalf("without plugins or configs: %+v", got)
	}
}

// BenchmarkBridgeCreateDestroy times one allocation's bridge network: a
// namespace, CNI ADD (veth, lease, firewall and masquerade rules, one
// published port) and its teardown (CNI DEL, unmount).
//
//	go test -run XXX -bench BridgeCreateDestroy -benchtime 20x ./client/network
func BenchmarkBridgeCreateDestroy(b *testing.B) {
	if os.Geteuid() != 0 || !(Config{}).findPlugin("bridge") {
		b.Skip("needs root and the CNI plugins")
	}
	n := os.Getpid()%200 + 20
	m, err := New(Config{BridgeName: "orchb" + strconv.Itoa(n), BridgeSubnet: fmt.Sprintf("10.238.%d.0/24", n),
		CNIConfigDir: b.TempDir(), StateDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", m.cfg.BridgeName).Run()
		_ = exec.Command("iptables", append([]string{"-w", "-D"}, forwardRule(m.cfg.BridgeName, m.cfg.BridgeSubnet)...)...).Run()
	})
	ctx := context.Background()
	port := 47000 + n
	var create, destroy time.Duration
	for i := 0; i < b.N; i++ {
		a, nw := bridgeAlloc(fmt.Sprintf("bench-%d-%d", n, i), structs.AllocatedPort{Label: "http", Value: port, To: 8080})
		t0 := time.Now()
		if _, err := m.Create(ctx, a, nw); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		m.Destroy(ctx, a.ID)
		create += t1.Sub(t0)
		destroy += time.Since(t1)
	}
	b.ReportMetric(float64(create.Milliseconds())/float64(b.N), "create-ms/op")
	b.ReportMetric(float64(destroy.Milliseconds())/float64(b.N), "destroy-ms/op")
}

// TestTaskHookRefusesLostNamespace: a task of an allocation whose saved
// namespace is gone (host rebooted) fails at once with the reason, instead
// of retrying a join that cannot succeed.
func TestTaskHookRefusesLostNamespace(t *testing.T) {
	m, err := New(Config{CNIConfigDir: t.TempDir(), StateDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := bridgeAlloc("lost-ns")
	h := m.TaskHook(&hooks.TaskHookConfig{Alloc: a})
	if h == nil {
		t.Fatal("no task hook for a bridge allocation")
	}
	err = h.(hooks.TaskPrestartHook).Prestart(context.Background(), &hooks.TaskPrestartRequest{Alloc: a}, &hooks.TaskPrestartResponse{})
	if err == nil || !strings.Contains(err.Error(), "is gone") || !drivers.IsNonRecoverable(err) {
		t.Fatalf("prestart without the namespace: %v", err)
	}
}

// A port with ignore_collision is refused before anything is built: its
// DNAT rule would take the host port from whoever holds it.
func TestCreateRefusesIgnoreCollisionPort(t *testing.T) {
	m := testManager(t)
	a, nw := bridgeAlloc("shared-"+strconv.Itoa(os.Getpid()), structs.AllocatedPort{Label: "http", Value: 8080, To: 80, IgnoreCollision: true})
	_, err := m.Create(context.Background(), a, nw)
	if err == nil || !strings.Contains(err.Error(), "ignore_collision") {
		t.Fatalf("Create with an ignore_collision port: %v", err)
	}
	if _, err := os.Stat(m.allocDir(a.ID)); !os.IsNotExist(err) {
		t.Fatalf("the refused allocation left its network dir: %v", err)
	}
}
