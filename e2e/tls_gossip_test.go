package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/tlsutil"
)

// securePKI is a CA with certificates for agents on given IPs.
type securePKI struct {
	*tlsutil.PKI
	t *testing.T
}

func newSecurePKI(t *testing.T) *securePKI {
	t.Helper()
	p, err := tlsutil.NewPKI(t.TempDir(), "global")
	if err != nil {
		t.Fatal(err)
	}
	return &securePKI{PKI: p, t: t}
}

// issue writes a certificate for role valid for ip and returns its files.
func (p *securePKI) issue(name, role, ip string) (string, string) {
	p.t.Helper()
	c, k, err := p.Issue(name, role, net.ParseIP(ip))
	if err != nil {
		p.t.Fatal(err)
	}
	return c, k
}

// agentConfig writes an agent config with the given blocks and returns its path.
func agentConfig(t *testing.T, blocks ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(f, []byte(strings.Join(blocks, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func tlsBlock(p *securePKI, cert, key string, rpc bool) string {
	return fmt.Sprintf(`tls {
  http = true
  rpc = %v
  ca_file = %q
  cert_file = %q
  key_file = %q
  verify_server_hostname = true
  verify_https_client = true
}`, rpc, p.CAFile(), cert, key)
}

// cliEnv runs the orch CLI with extra environment.
func cliEnv(t testing.TB, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running orch %v: %v", args, err)
	}
	return string(out), 0
}

// An agent pair with HTTPS (client certificates required) and encrypted
// gossip: the stock Nomad Go client works with NOMAD_CACERT /
// NOMAD_CLIENT_CERT / NOMAD_CLIENT_KEY; callers without a certificate and
// gossip peers without the key are shut out; the key is rotated with the
// CLI and the rotated-out key stops working.
func TestHTTPSAndGossipEncryption(t *testing.T) {
	p := newSecurePKI(t)
	key1, _ := gossip.GenerateKey()
	srvIP, clIP := newIP(), newIP()
	sc, sk := p.issue("s1", "server", srvIP)
	cc, ck := p.issue("c1", "client", clIP)
	cliC, cliK := p.issue("cli", "cli", "127.0.0.1")
	startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1", "-encrypt", key1,
		"-config", agentConfig(t, tlsBlock(p, sc, sk, false)))
	cl := startAgent(t, clIP, t.TempDir(), "-client", "-servers", srvIP, "-encrypt", key1,
		"-config", agentConfig(t, tlsBlock(p, cc, ck, false), "plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}"))
	addr := "https://" + srvIP + ":4646"
	env := []string{"NOMAD_ADDR=" + addr, "NOMAD_CACERT=" + p.CAFile(), "NOMAD_CLIENT_CERT=" + cliC, "NOMAD_CLIENT_KEY=" + cliK}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	nc, err := nomad.NewClient(nomad.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "both agents in the encrypted pool, seen over HTTPS", func() (bool, string) {
		m, err := nc.Agent().Members()
		if err != nil {
			return false, err.Error()
		}
		alive := 0
		for _, mem := range m.Members {
			if mem.Status == "alive" && (mem.Addr == srvIP || mem.Addr == cl.ip) {
				alive++
			}
		}
		return alive == 2, fmt.Sprint(len(m.Members))
	})
	// The orch CLI reads the same variables.
	if out, code := cliEnv(t, env, "server", "members"); code != 0 || !strings.Contains(out, srvIP) {
		t.Fatalf("orch server members over HTTPS: %s", out)
	}
	// No client certificate: refused at the handshake. Plain HTTP: refused.
	noCert := nomad.DefaultConfig()
	noCert.TLSConfig.ClientCert, noCert.TLSConfig.ClientKey = "", ""
	bare, _ := nomad.NewClient(noCert)
	if _, _, err := bare.Jobs().List(nil); err == nil {
		t.Fatal("HTTPS without a client certificate was served")
	}
	if out, code := cliEnv(t, nil, "job", "status", "-address", "http://"+srvIP+":4646"); code == 0 {
		t.Fatalf("plain HTTP served: %s", out)
	}

	// A gossip peer without the key never joins.
	rogueIP := newIP()
	rogue := startAgent(t, rogueIP, t.TempDir(), "-client", "-servers", srvIP)
	time.Sleep(3 * time.Second)
	members, err := nc.Agent().Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members.Members {
		if m.Addr == rogueIP {
			t.Fatalf("an agent without the gossip key joined: %+v", m)
		}
	}
	rogue.kill()

	// Rotate the key with the CLI.
	key2, code := cliEnv(t, env, "operator", "gossip", "keyring", "generate")
	key2 = strings.TrimSpace(key2)
	if code != 0 {
		t.Fatal(key2)
	}
	for _, args := range [][]string{{"-install", key2}, {"-use", key2}, {"-remove", key1}} {
		if out, code := cliEnv(t, env, append([]string{"operator", "gossip", "keyring"}, args...)...); code != 0 {
			t.Fatalf("keyring %v: %s", args, out)
		}
	}
	out, code := cliEnv(t, env, "operator", "gossip", "keyring", "-list")
	if code != 0 || !strings.Contains(out, key2+"  2/2") || strings.Contains(out, key1) {
		t.Fatalf("keyring after rotation:\n%s", out)
	}
	old := startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-encrypt", key1)
	time.Sleep(3 * time.Second)
	members, _ = nc.Agent().Members()
	for _, m := range members.Members {
		if m.Addr == old.ip {
			t.Fatal("an agent with the rotated-out key joined")
		}
	}
	if len(members.Members) != 2 {
		t.Fatalf("members after rotation: %+v", members.Members)
	}
}
