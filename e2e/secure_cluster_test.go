package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/gossip"
)

// TestSecureCluster is issue 8's locked-down cluster: three servers and two
// clients with tls { http rpc verify_server_hostname verify_https_client },
// ACLs and gossip encryption. The stock Nomad Go client works through its
// environment variables (NOMAD_ADDR, NOMAD_CACERT, NOMAD_CLIENT_CERT,
// NOMAD_CLIENT_KEY, NOMAD_TOKEN). Agents without a certificate cannot join
// Raft (attack 5), gossip, or register a node (attack 4's channel); an
// unauthenticated AppendEntries (attack 3) is refused.
func TestSecureCluster(t *testing.T) {
	p := newSecurePKI(t)
	key, _ := gossip.GenerateKey()
	acl := "acl {\n  enabled = true\n}\n"
	raw := "plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n"

	var servers []*agentProc
	first := newIP()
	for i := range 3 {
		ip := first
		if i > 0 {
			ip = newIP()
		}
		c, k := p.issue(fmt.Sprintf("s%d", i), "server", ip)
		args := []string{"-server", "-bootstrap-expect", "3", "-encrypt", key, "-config", agentConfig(t, acl, tlsBlock(p, c, k, true))}
		if i > 0 {
			args = append(args, "-join", first)
		}
		servers = append(servers, startAgent(t, ip, t.TempDir(), args...))
	}
	for i := range 2 {
		ip := newIP()
		c, k := p.issue(fmt.Sprintf("c%d", i), "client", ip)
		startAgent(t, ip, t.TempDir(), "-client", "-servers", first, "-encrypt", key,
			"-config", agentConfig(t, acl, raw, tlsBlock(p, c, k, true)))
	}
	cliC, cliK := p.issue("cli", "cli", "127.0.0.1")
	for k, v := range map[string]string{"NOMAD_ADDR": "https://" + first + ":4646", "NOMAD_CACERT": p.CAFile(),
		"NOMAD_CLIENT_CERT": cliC, "NOMAD_CLIENT_KEY": cliK, "NOMAD_TOKEN": ""} {
		t.Setenv(k, v)
	}
	anon, err := nomad.NewClient(nomad.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "a leader over HTTPS", func() (bool, string) {
		l, err := anon.Status().Leader()
		return err == nil && l != "", fmt.Sprint(err)
	})
	var root *nomad.ACLToken
	waitFor(t, 30*time.Second, "ACL bootstrap", func() (bool, string) {
		root, _, err = anon.ACLTokens().Bootstrap(nil)
		return err == nil, fmt.Sprint(err)
	})
	t.Setenv("NOMAD_TOKEN", root.SecretID)
	c, err := nomad.NewClient(nomad.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	readyNodes := func() int {
		nodes, _, err := c.Nodes().List(nil)
		if err != nil {
			return -1
		}
		n := 0
		for _, nd := range nodes {
			if nd.Status == "ready" {
				n++
			}
		}
		return n
	}
	waitFor(t, 90*time.Second, "two ready clients over mTLS", func() (bool, string) {
		n := readyNodes()
		return n == 2, fmt.Sprint(n)
	})
	peers := func() []string {
		ps, err := c.Status().Peers()
		if err != nil {
			return nil
		}
		return ps
	}
	if ps := peers(); len(ps) != 3 {
		t.Fatalf("raft peers: %v", ps)
	}

	// A job runs end to end through the stock client.
	job := nomad.NewBatchJob("secure", "secure", "global", 50)
	job.Datacenters = []string{"*"}
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(nomad.NewTask("t", "raw_exec").SetConfig("command", "/bin/true")))
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatalf("register: %v", err)
	}
	waitFor(t, 60*time.Second, "the job completes", func() (bool, string) {
		allocs, _, err := c.Jobs().Allocations("secure", false, nil)
		if err != nil || len(allocs) == 0 {
			return false, fmt.Sprint(err)
		}
		return allocs[0].ClientStatus == "complete", allocs[0].ClientStatus
	})
	if _, _, err := anon.Jobs().List(nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("no token: %v", err)
	}

	// Rogue agents. A server with the gossip key but no certificate, and
	// one holding a client certificate, may gossip but never vote; an
	// agent without the key never gossips; a client without a
	// certificate never registers.
	rogueIP := newIP()
	startAgent(t, rogueIP, t.TempDir(), "-server", "-bootstrap-expect", "3", "-encrypt", key, "-join", first)
	imp := newIP()
	ic, ik := p.issue("impostor", "client", imp)
	startAgent(t, imp, t.TempDir(), "-server", "-bootstrap-expect", "3", "-encrypt", key, "-join", first,
		"-config", agentConfig(t, tlsBlock(p, ic, ik, true)))
	keyless := newIP()
	startAgent(t, keyless, t.TempDir(), "-server", "-join", first)
	nocert := newIP()
	startAgent(t, nocert, t.TempDir(), "-client", "-servers", first, "-encrypt", key, "-config", agentConfig(t, raw))
	waitFor(t, 60*time.Second, "the rogue servers in gossip", func() (bool, string) {
		m, err := c.Agent().Members()
		if err != nil {
			return false, err.Error()
		}
		seen := 0
		for _, mem := range m.Members {
			if (mem.Addr == rogueIP || mem.Addr == imp) && mem.Status == "alive" {
				seen++
			}
		}
		return seen == 2, fmt.Sprint(seen)
	})
	// The leader reconciles every 10s; give it three rounds.
	time.Sleep(35 * time.Second)
	if ps := peers(); len(ps) != 3 {
		t.Fatalf("a rogue server became a raft peer: %v", ps)
	}
	for _, ps := range peers() {
		if strings.HasPrefix(ps, rogueIP+":") || strings.HasPrefix(ps, imp+":") {
			t.Fatalf("rogue voter %s", ps)
		}
	}
	m, err := c.Agent().Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, mem := range m.Members {
		if mem.Addr == keyless {
			t.Fatalf("an agent without the gossip key joined: %+v", mem)
		}
	}
	if n := readyNodes(); n != 2 {
		t.Fatalf("a client without a certificate registered: %d ready nodes", n)
	}

	// Attack 3 against the TLS-only RPC port: refused before Raft sees it.
	leaderBefore, _ := c.Status().Leader()
	if err := newRaftAttacker(t).injectJob(first+":4647", 1000, 1000, "injected"); err == nil {
		t.Fatal("a plaintext AppendEntries was answered")
	}
	time.Sleep(2 * time.Second)
	if _, _, err := c.Jobs().Info("injected", nil); err == nil {
		t.Fatal("the injected job exists")
	}
	if l, _ := c.Status().Leader(); l != leaderBefore {
		t.Fatalf("leadership moved after the attack: %s -> %s", leaderBefore, l)
	}
}
