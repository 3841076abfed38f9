package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileReadsNomadAgentConfig(t *testing.T) {
	p := writeConfig(t, `
data_dir   = "/var/lib/orch"
bind_addr  = "127.0.0.9"
datacenter = "east"
name       = "n9"
ports {
  http = 5646
  serf = 5648
}
server {
  enabled          = true
  bootstrap_expect = 3
  server_join {
    retry_join = ["127.0.0.10"]
  }
}
client {
  enabled = true
  servers = ["127.0.0.10"]
  meta = { rack = "r1" }
  options = { "driver.allowlist" = "raw_exec,docker" }
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
`)
	c := DefaultConfig()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/orch" || c.BindAddr != "127.0.0.9" || c.Datacenter != "east" || c.NodeName != "n9" {
		t.Fatalf("top-level settings: %+v", c)
	}
	if c.HTTPPort != 5646 || c.SerfPort != 5648 || c.RPCPort != DefaultRPCPort {
		t.Fatalf("ports: %d %d %d", c.HTTPPort, c.RPCPort, c.SerfPort)
	}
	if !c.Server || c.BootstrapExpect != 3 || len(c.Join) != 1 || !c.Client || len(c.Servers) != 1 {
		t.Fatalf("server/client: %+v", c)
	}
	if c.Meta["rack"] != "r1" || c.Options["driver.allowlist"] != "raw_exec,docker" {
		t.Fatalf("meta/options: %v %v", c.Meta, c.Options)
	}
	if !c.RawExecEnabled() {
		t.Fatal("raw_exec plugin config did not enable raw_exec")
	}
}

func TestRawExecOffByDefaultOutsideDev(t *testing.T) {
	c := DefaultConfig()
	if c.RawExecEnabled() {
		t.Fatal("raw_exec enabled without configuration")
	}
	c.Dev = true
	if !c.RawExecEnabled() {
		t.Fatal("raw_exec disabled in dev mode")
	}
}

func TestLoadFileErrorsCarryPositions(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown setting": {"data_dir = \"/x\"\nacl_enabled = true\n", "agent.hcl:2,1"},
		"syntax":          {"server {\n  enabled = \n}\n", "agent.hcl:2"},
		"unknown block":   {"data_dir = \"/x\"\nwidget {\n  x = 1\n}\n", "agent.hcl:2"},
		"wrong type":      {"ports {\n  http = \"x\"\n}\n", "agent.hcl:2"},
	} {
		t.Run(name, func(t *testing.T) {
			err := DefaultConfig().LoadFile(writeConfig(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
		})
	}
	if err := DefaultConfig().LoadFile("/nonexistent/agent.hcl"); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestPluginSettingsBecomeDriverOptions: every plugin setting orch has
// reaches the option its driver reads; any other is an error with its
// position.
func TestPluginSettingsBecomeDriverOptions(t *testing.T) {
	c := DefaultConfig()
	err := c.LoadFile(writeConfig(t, `plugin "raw_exec" {
  config {
    enabled          = true
    denied_host_uids = "0-999"
  }
}
plugin "exec" {
  config {
    denied_host_gids = "0,10"
    allow_caps       = ["chown", "net_raw"]
  }
}
plugin "java" {
  config {
    denied_host_uids = "0"
  }
}
plugin "docker" {
  config {
    allow_privileged = true
    denied_host_gids = "0"
    volumes {
      enabled = true
    }
  }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"driver.raw_exec.enable": "true", "raw_exec.denied_host_uids": "0-999", "exec.denied_host_gids": "0,10",
		"exec.caps.allowlist": "chown,net_raw", "java.denied_host_uids": "0", "docker.privileged.enabled": "true",
		"docker.denied_host_gids": "0", "docker.volumes.enabled": "true",
	} {
		if c.Options[k] != want {
			t.Errorf("option %s = %q, want %q", k, c.Options[k], want)
		}
	}
	if !c.RawExecEnabled() {
		t.Fatal("raw_exec not enabled")
	}
	for name, tc := range map[string]struct{ body, want string }{
		"unknown setting":    {"plugin \"exec\" {\n  config {\n    no_such = 1\n  }\n}\n", "agent.hcl:3"},
		"unknown plugin":     {"plugin \"qemu\" {\n  config {}\n}\n", `plugin "qemu": no such plugin`},
		"wrong type":         {"plugin \"docker\" {\n  config {\n    allow_privileged = \"yes\"\n  }\n}\n", "agent.hcl:3"},
		"unknown block":      {"plugin \"docker\" {\n  config {\n    widget {\n      x = false\n    }\n  }\n}\n", "agent.hcl:3"},
		"gc deleting images": {"plugin \"docker\" {\n  config {\n    gc {\n      image = true\n    }\n  }\n}\n", "agent.hcl:4:7: gc.image: orch only does image = false"},
	} {
		t.Run(name, func(t *testing.T) {
			err := DefaultConfig().LoadFile(writeConfig(t, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
		})
	}
}

func TestJobMaxCount(t *testing.T) {
	c := DefaultConfig()
	if err := c.LoadFile(writeConfig(t, "server {\n  job_max_count = 500\n}\n")); err != nil || c.JobMaxCount != 500 {
		t.Fatalf("job_max_count: %d %v", c.JobMaxCount, err)
	}
	if err := DefaultConfig().LoadFile(writeConfig(t, "server {\n  job_max_count = -1\n}\n")); err == nil {
		t.Fatal("negative job_max_count accepted")
	}
}

func TestHTTPAPIAndLimits(t *testing.T) {
	c := DefaultConfig()
	if c.HTTPMaxConnsPerClient != 100 {
		t.Fatalf("default http_max_conns_per_client %d", c.HTTPMaxConnsPerClient)
	}
	err := c.LoadFile(writeConfig(t, `http_api {
  allowed_hosts   = ["nomad.example.com"]
  allowed_origins = ["https://ui.example.com"]
}
limits {
  http_max_conns_per_client = 7
}
advertise {
  http = "nomad.internal:4646"
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPMaxConnsPerClient != 7 || c.HTTPAllowedOrigins[0] != "https://ui.example.com" {
		t.Fatalf("http settings: %+v", c)
	}
	if got := strings.Join(guardHosts(c), ","); got != "nomad.example.com,nomad.internal" {
		t.Fatalf("guard hosts %q", got)
	}
	for _, bad := range []string{"limits {\n  http_max_conns_per_client = -1\n}\n", "limits {\n  rpc_max_conns_per_client = 5\n}\n", "http_api {\n  cors = true\n}\n"} {
		if err := DefaultConfig().LoadFile(writeConfig(t, bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestRaftTimingSettings: raft_multiplier (Nomad's, 0-10) and orch's
// raft_heartbeat_timeout reach the server config; out-of-range values are
// refused. server.TestRaftTimingsTakeEffect shows their runtime effect.
func TestRaftTimingSettings(t *testing.T) {
	c := DefaultConfig()
	if err := c.LoadFile(writeConfig(t, "server {\n  raft_multiplier = 3\n  raft_heartbeat_timeout = \"250ms\"\n}\n")); err != nil ||
		c.RaftMultiplier != 3 || c.RaftHeartbeatTimeout != 250*time.Millisecond {
		t.Fatalf("raft timings: %d %s %v", c.RaftMultiplier, c.RaftHeartbeatTimeout, err)
	}
	for _, bad := range []string{"raft_multiplier = 11", "raft_multiplier = -1", `raft_heartbeat_timeout = "10ms"`, `raft_heartbeat_timeout = "x"`} {
		if err := DefaultConfig().LoadFile(writeConfig(t, "server {\n  "+bad+"\n}\n")); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
