package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Nomad agent configuration loads whatever the file is called, as HCL or
// JSON by content; a directory merges its files in order; Nomad settings
// orch does not act on are accepted with a warning naming them when they
// ask for nothing orch lacks, and refused with their position otherwise.
func TestAgentConfigLikeNomad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("10-base.hcl", `
data_dir             = "/var/lib/orch"
disable_update_check = true
leave_on_terminate   = true
vault {
  enabled = false
  address = "https://vault:8200"
}
consul {
  address = "127.0.0.1:8500"
}
telemetry {
  prometheus_metrics = true
}
server {
  enabled       = true
  raft_protocol = 3
}
client {
  meta = { rack = "r1" }
}
plugin "docker" {
  config {
    allow_privileged = true
    allow_caps       = ["chown", "net_raw"]
    allow_runtimes   = ["runc"]
    volumes {
      enabled = true
    }
    gc {
      image = false
    }
  }
}
`)
	write("20-override.json", `{"datacenter": "east", "client": {"enabled": true, "meta": {"zone": "z1"}},
  "plugin": {"raw_exec": {"config": {"enabled": true}}}}`)
	write("README.md", "not a config file")
	c := DefaultConfig()
	if err := c.LoadFile(dir); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/orch" || c.Datacenter != "east" || !c.Server || !c.Client ||
		c.Meta["rack"] != "r1" || c.Meta["zone"] != "z1" || !c.RawExecEnabled() {
		t.Fatalf("merged config %+v", c)
	}
	for opt, want := range map[string]string{
		"docker.privileged.enabled": "true", "docker.caps.allowlist": "chown,net_raw",
		"docker.runtimes.allowlist": "runc", "docker.volumes.enabled": "true", "driver.raw_exec.enable": "true",
	} {
		if c.Options[opt] != want {
			t.Errorf("option %s = %q, want %q", opt, c.Options[opt], want)
		}
	}
	line := c.WarningLine()
	for _, want := range []string{"disable_update_check (", "10-base.hcl:3:1", "leave_on_terminate", "vault (", "consul (",
		"telemetry (", "server.raft_protocol", `plugin "docker" gc (`} {
		if !strings.Contains(line, want) {
			t.Errorf("warning line lacks %q: %s", want, line)
		}
	}

	// A JSON file with a name that says nothing about its format.
	j := DefaultConfig()
	if err := j.LoadFile(write("agent.conf", `{"data_dir": "/d", "ports": {"http": 5000}}`)); err != nil || j.HTTPPort != 5000 {
		t.Fatalf("JSON by content: %v %d", err, j.HTTPPort)
	}

	for body, want := range map[string]string{
		"vault {\n  enabled = true\n}\n":                                              "x.hcl:1:1: vault.enabled: orch does not run a Vault integration",
		"consul {\n  server_auto_join = true\n}\n":                                    "consul.server_auto_join: orch does not discover agents through Consul",
		"server {\n  raft_protocol = 2\n}\n":                                          "server.raft_protocol: orch speaks Raft protocol 3 only, not 2",
		"plugin \"docker\" {\n  config {\n    nope = 1\n  }\n}\n":                     `x.hcl:3,5-9: Unsupported argument; An argument named "nope" is not expected here.`,
		"plugin \"docker\" {\n  config {\n    allow_privileged = \"maybe\"\n  }\n}\n": "allow_privileged",
	} {
		err := DefaultConfig().LoadFile(write("x.hcl", body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", body, want, err)
		}
	}
}

// advertise { http } is what other agents are told; go-sockaddr templates
// resolve as in Nomad; advertise { rpc, serf } must be the bind address.
func TestAdvertise(t *testing.T) {
	c := DefaultConfig()
	p := filepath.Join(t.TempDir(), "a.hcl")
	os.WriteFile(p, []byte(`bind_addr = "{{ GetAllInterfaces | include \"name\" \"lo\" | include \"type\" \"IPv4\" | attr \"address\" }}"
advertise {
  http = "10.1.2.3:8080"
  rpc  = "127.0.0.1"
}
`), 0o644)
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if c.BindAddr != "127.0.0.1" || c.AdvertiseHTTP != "10.1.2.3:8080" {
		t.Fatalf("bind %q advertise %q", c.BindAddr, c.AdvertiseHTTP)
	}
	if err := c.CheckAdvertise(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("advertise {\n  serf = \"10.9.9.9\"\n}\n"), 0o644)
	c = DefaultConfig()
	c.BindAddr = "127.0.0.1"
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckAdvertise(); err == nil || !strings.Contains(err.Error(), `advertise.serf "10.9.9.9" differs from the bind address`) {
		t.Fatalf("serf advertise: %v", err)
	}
}
