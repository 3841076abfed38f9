package agent

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/tlsutil"
)

func TestSecurityBlocks(t *testing.T) {
	p := writeConfig(t, `
server {
  enabled = true
  encrypt = "Gdz5qVd4qAFnZ8lPp0+ckv8jHx4bBzG1xjyV8nHYJm0="
}
acl {
  enabled    = true
  token_ttl  = "5s"
  policy_ttl = "10s"
  role_ttl   = "7s"
}
tls {
  http                   = true
  rpc                    = false
  ca_file                = "/etc/orch/ca.pem"
  cert_file              = "/etc/orch/server.pem"
  key_file               = "/etc/orch/server-key.pem"
  verify_server_hostname = true
  verify_https_client    = true
  tls_min_version        = "tls13"
}
`)
	c := DefaultConfig()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if !c.ACL.Enabled || c.ACL.TokenTTL != 5*time.Second || c.ACL.PolicyTTL != 7*time.Second {
		t.Errorf("acl: %+v", c.ACL)
	}
	want := tlsutil.Config{HTTP: true, CAFile: "/etc/orch/ca.pem", CertFile: "/etc/orch/server.pem", KeyFile: "/etc/orch/server-key.pem",
		VerifyServerHostname: true, VerifyHTTPSClient: true, MinVersion: "tls13"}
	if c.TLS != want {
		t.Errorf("tls: %+v", c.TLS)
	}
	if c.Encrypt == "" {
		t.Error("encrypt not read")
	}
	for _, bad := range []string{
		"acl {\n  enabled = true\n  replication_token = \"x\"\n}\n",
		"acl {\n  token_ttl = \"soon\"\n}\n",
		"tls {\n  rpc_upgrade_mode = true\n}\n",
	} {
		if err := DefaultConfig().LoadFile(writeConfig(t, bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}

// Broken TLS material fails startup with its reason, before any listener
// serves plaintext.
func TestAgentRefusesBadTLS(t *testing.T) {
	pki, err := tlsutil.NewPKI(t.TempDir(), "global")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := pki.Issue("s", "server")
	if err != nil {
		t.Fatal(err)
	}
	other, err := tlsutil.NewPKI(t.TempDir(), "global")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, mut := range map[string]func(c *Config){
		"missing key": func(c *Config) { c.TLS.KeyFile = "" },
		"other CA":    func(c *Config) { c.TLS.CAFile = other.CAFile() },
	} {
		c := DefaultConfig()
		c.Server, c.BootstrapExpect, c.DataDir, c.BindAddr = true, 1, t.TempDir(), "127.0.0.1"
		c.HTTPPort, c.RPCPort, c.SerfPort = 0, 0, 0
		c.TLS = tlsutil.Config{HTTP: true, CAFile: pki.CAFile(), CertFile: cert, KeyFile: key}
		mut(c)
		if a, err := New(c, log); err == nil {
			a.Shutdown()
			t.Errorf("%s: agent started", name)
		} else if !strings.Contains(err.Error(), "tls") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestInsecurityWarning(t *testing.T) {
	a := &Agent{cfg: DefaultConfig()}
	a.cfg.BindAddr = "10.1.2.3"
	if got := a.insecurities(); len(got) != 3 {
		t.Fatalf("open agent: %v", got)
	}
	a.cfg.ACL.Enabled, a.cfg.TLS.HTTP, a.cfg.TLS.RPC = true, true, true
	if got := a.insecurities(); len(got) != 0 {
		t.Fatalf("locked-down agent: %v", got)
	}
	a.cfg.ACL.Enabled = false
	if got := a.insecurities(); len(got) != 1 || !strings.Contains(got[0], "ACLs") {
		t.Fatalf("without ACLs: %v", got)
	}
	for _, quiet := range []func(c *Config){func(c *Config) { c.Dev = true }, func(c *Config) { c.BindAddr = "127.0.0.5" }} {
		b := &Agent{cfg: DefaultConfig()}
		quiet(b.cfg)
		if got := b.insecurities(); len(got) != 0 {
			t.Fatalf("loopback or dev agent warned: %v", got)
		}
	}
}
