package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostVolumeSettings: host_volume blocks are read with their paths
// resolved (a link is followed once, at start); a relative or missing path
// is an error naming the volume.
func TestHostVolumeSettings(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := c.LoadFile(writeConfig(t, `client {
  host_volume "data" {
    path = "`+link+`"
  }
  host_volume "ro" {
    path      = "`+real+`"
    read_only = true
  }
}
`)); err != nil {
		t.Fatal(err)
	}
	if v := c.HostVolumes["data"]; v == nil || v.Path != real || v.ReadOnly || v.Name != "data" {
		t.Fatalf("data = %+v", v)
	}
	if v := c.HostVolumes["ro"]; v == nil || !v.ReadOnly {
		t.Fatalf("ro = %+v", v)
	}
	block := func(body string) string { return "client {\n  host_volume " + body + "\n}\n" }
	for body, want := range map[string]string{
		block("\"a\" {\n    path = \"rel/path\"\n  }"):                           `host_volume "a": path "rel/path" must be absolute`,
		block("\"b\" {\n    path = \"" + filepath.Join(dir, "nope") + "\"\n  }"): `host_volume "b": path`,
		block("\"c\" {\n  }"): `Missing required argument`,
	} {
		err := DefaultConfig().LoadFile(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// TestArtifactSettings: the client artifact block, with Nomad's sizes and
// durations; unknown paths forms are errors.
func TestArtifactSettings(t *testing.T) {
	c := DefaultConfig()
	if err := c.LoadFile(writeConfig(t, `client {
  artifact {
    http_read_timeout              = "5m"
    http_max_size                  = "1GB"
    git_timeout                    = "2m"
    s3_timeout                     = "1m"
    decompression_size_limit       = "512MiB"
    decompression_file_count_limit = 100
    disable_filesystem_isolation   = true
    filesystem_isolation_extra_paths = ["r:/opt/artifacts"]
    set_environment_variables      = "HTTPS_PROXY, NO_PROXY"
  }
}
`)); err != nil {
		t.Fatal(err)
	}
	a := c.Artifacts
	if a == nil || a.HTTPReadTimeout != 5*time.Minute || a.HTTPMaxBytes != 1e9 || a.GitTimeout != 2*time.Minute ||
		a.DecompressionSizeLimit != 512<<20 || a.DecompressionFileCountLimit != 100 || !a.DisableFilesystemIsolation ||
		len(a.ExtraReadPaths) != 1 || a.ExtraReadPaths[0] != "/opt/artifacts" ||
		strings.Join(a.SetEnvironmentVariables, ",") != "HTTPS_PROXY,NO_PROXY" || a.HgTimeout != 30*time.Minute {
		t.Fatalf("artifact config %+v", a)
	}
	err := DefaultConfig().LoadFile(writeConfig(t, "client {\n  artifact {\n    filesystem_isolation_extra_paths = [\"rw:/srv\"]\n  }\n}\n"))
	if err == nil || !strings.Contains(err.Error(), "r:/absolute/path") {
		t.Fatalf("write access to extra paths: %v", err)
	}
	err = DefaultConfig().LoadFile(writeConfig(t, "client {\n  artifact {\n    http_max_size = \"lots\"\n  }\n}\n"))
	if err == nil || !strings.Contains(err.Error(), "http_max_size") {
		t.Fatalf("bad size: %v", err)
	}
}

// TestNetworkSettings: Nomad's client CNI settings are read (and used by
// the e2e bridge test through an agent config); a bad subnet, name or
// relative path stops the agent with the setting's name.
func TestNetworkSettings(t *testing.T) {
	c := DefaultConfig()
	if err := c.LoadFile(writeConfig(t, `client {
  cni_path              = "/opt/cni/bin:/usr/lib/cni"
  cni_config_dir        = "/etc/cni/net.d"
  bridge_network_name   = "orchtest0"
  bridge_network_subnet = "10.77.0.0/20"
}
`)); err != nil {
		t.Fatal(err)
	}
	n := c.Network
	if n.CNIPath != "/opt/cni/bin:/usr/lib/cni" || n.CNIConfigDir != "/etc/cni/net.d" || n.BridgeName != "orchtest0" || n.BridgeSubnet != "10.77.0.0/20" {
		t.Fatalf("network settings = %+v", n)
	}
	for body, want := range map[string]string{
		`bridge_network_subnet = "10.77.0.0"`:             `bridge_network_subnet "10.77.0.0"`,
		`bridge_network_name = "a-very-long-bridge-name"`: `bridge_network_name`,
		`cni_path = "relative/bin"`:                       `cni_path: "relative/bin" is not an absolute path`,
		`cni_config_dir = "etc"`:                          `cni_config_dir: "etc" is not an absolute path`,
	} {
		err := DefaultConfig().LoadFile(writeConfig(t, "client {\n  "+body+"\n}\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// TestHostNetworkSettings: host_network blocks with Nomad's settings; a bad
// CIDR, port list or a template interface is an error naming the network.
func TestHostNetworkSettings(t *testing.T) {
	c := DefaultConfig()
	if err := c.LoadFile(writeConfig(t, `client {
  host_network "public" {
    cidr           = "192.0.2.0/24"
    interface      = "eth1"
    reserved_ports = "22,8000-8010"
  }
  host_network "lo" {
    interface = "lo"
  }
}
`)); err != nil {
		t.Fatal(err)
	}
	if n := c.HostNetworks["public"]; n == nil || n.CIDR != "192.0.2.0/24" || n.Interface != "eth1" || n.ReservedPorts != "22,8000-8010" {
		t.Fatalf("public = %+v", n)
	}
	if n := c.HostNetworks["lo"]; n == nil || n.Interface != "lo" {
		t.Fatalf("lo = %+v", n)
	}
	block := func(body string) string { return "client {\n  host_network " + body + "\n}\n" }
	for body, want := range map[string]string{
		block(`"a" { cidr = "10.0.0.0/33" }`):                              `host_network "a": cidr`,
		block(`"b" { interface = "{{ GetPrivateInterfaces }}" }`):          `templates are not supported`,
		block("\"c\" {\n interface = \"lo\"\n reserved_ports = \"x\"\n }"): `host_network "c": reserved_ports`,
		block(`"d" { }`):                        `cidr or interface is required`,
		block(`"default" { interface = "lo" }`): `a name other than "default"`,
	} {
		err := DefaultConfig().LoadFile(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
