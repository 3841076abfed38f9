package docker

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/go-connections/nat"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

func TestParseConfigFull(t *testing.T) {
	// Shaped as it arrives over JSON.
	raw := map[string]any{
		"image":        "redis:7",
		"command":      "redis-server",
		"args":         []any{"--port", "6379"},
		"entrypoint":   []any{"/entry"},
		"ports":        []any{"db"},
		"network_mode": "bridge",
		"volumes":      []any{"/srv/data:/data:ro", "cache:/cache", "rel/dir:/rel"},
		"mount": []any{
			map[string]any{"type": "tmpfs", "target": "/scratch"},
			map[string]any{"type": "bind", "source": "/etc/hosts", "target": "/h", "readonly": true},
		},
		"labels":             []any{map[string]any{"team": "db"}},
		"work_dir":           "/srv",
		"hostname":           "redis",
		"extra_hosts":        []any{"db.local:10.0.0.1"},
		"dns_servers":        []any{"1.1.1.1"},
		"cap_add":            []any{"NET_ADMIN"},
		"cap_drop":           []any{"ALL"},
		"force_pull":         true,
		"image_pull_timeout": "90s",
		"pids_limit":         float64(100),
		"auth":               []any{map[string]any{"username": "u", "password": "p", "server_address": "reg.example"}},
	}
	c, err := parseConfig(raw, false)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if c.Image != "redis:7" || c.Command != "redis-server" || len(c.Args) != 2 || c.Entrypoint[0] != "/entry" ||
		c.Ports[0] != "db" || c.Labels["team"] != "db" || !c.ForcePull || c.ImagePullTimeout != 90*time.Second ||
		c.PidsLimit != 100 || c.Auth == nil || c.Auth.ServerAddress != "reg.example" || len(c.Mounts) != 2 ||
		!c.Mounts[1].ReadOnly || !c.Volumes[0].ReadOnly || c.Volumes[1].ReadOnly {
		t.Fatalf("decoded = %+v", c)
	}

	task := &drivers.TaskConfig{
		ID: "a/redis", AllocID: "a", JobID: "j", Name: "redis", AllocDir: "/x/a", TaskDir: "/x/a/redis",
		Env:   map[string]string{"B": "2", "A": "1"},
		Ports: []structs.AllocatedPort{{Label: "db", Value: 23456, HostIP: "10.0.0.5"}},
		Resources: &structs.AllocatedTaskResources{
			Cpu:    structs.AllocatedCpuResources{CpuShares: 1, ReservedCores: []uint16{1, 3}},
			Memory: structs.AllocatedMemoryResources{MemoryMB: 128},
		},
	}
	// The operator allows host paths and NET_ADMIN; the defaults refuse both
	// (see hostaccess_test.go).
	d := &Driver{cfg: Config{NodeID: "n1", VolumesEnabled: true, CapAllowlist: []string{"net_admin"}}}
	spec, err := d.buildContainerSpec(task, c, "sha256:abc")
	if err != nil {
		t.Fatal(err)
	}
	cc, hc := spec.config, spec.host
	if strings.Join(cc.Cmd, " ") != "redis-server --port 6379" || strings.Join(cc.Env, ",") != "A=1,B=2" ||
		cc.Labels[LabelNodeID] != "n1" || cc.Labels["team"] != "db" {
		t.Fatalf("config = %+v", cc)
	}
	wantBinds := "/x/a:/alloc,/x/a/logs:/alloc/logs:ro,/x/a/redis/local:/local,/x/a/redis/secrets:/secrets,/srv/data:/data:ro,cache:/cache,/x/a/redis/rel/dir:/rel"
	if got := strings.Join(hc.Binds, ","); got != wantBinds {
		t.Fatalf("binds = %s", got)
	}
	if hc.Memory != 128<<20 || hc.MemorySwap != hc.Memory || hc.MemoryReservation != 0 || hc.CPUShares != minCPUShares || hc.CpusetCpus != "1,3" {
		t.Fatalf("resources = %+v", hc.Resources)
	}
	for _, p := range []string{"23456/tcp", "23456/udp"} {
		b := hc.PortBindings[nat.Port(p)]
		if len(b) != 1 || b[0].HostIP != "10.0.0.5" || b[0].HostPort != "23456" {
			t.Fatalf("binding %s = %+v", p, b)
		}
	}
	if *hc.PidsLimit != 100 || len(hc.Mounts) != 2 {
		t.Fatalf("host config = %+v", hc)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		raw  map[string]any
		want string
	}{
		{"missing image", map[string]any{"command": "x"}, "image is required"},
		{"image not string", map[string]any{"image": 3.0}, "image: want a string"},
		{"unknown key", map[string]any{"image": "x", "imagee": "y"}, `unknown config key "imagee"`},
		{"args not list", map[string]any{"image": "x", "args": "a b"}, "args: want a list of strings"},
		{"args element", map[string]any{"image": "x", "args": []any{"a", 1.0}}, "args[1]: want a string"},
		{"privileged", map[string]any{"image": "x", "privileged": true}, "privileged containers are not allowed"},
		{"volume format", map[string]any{"image": "x", "volumes": []any{"/only"}}, "is not \"host:container[:ro]\""},
		{"volume mode", map[string]any{"image": "x", "volumes": []any{"/a:/b:rx"}}, "must be ro or rw"},
		{"volume relative target", map[string]any{"image": "x", "volumes": []any{"/a:b"}}, "must be absolute"},
		{"mount type", map[string]any{"image": "x", "mount": []any{map[string]any{"type": "nfs", "target": "/a"}}}, `type "nfs"`},
		{"mount target", map[string]any{"image": "x", "mounts": []any{map[string]any{"type": "bind", "source": "/a"}}}, "target is required"},
		{"tmpfs source", map[string]any{"image": "x", "mount": map[string]any{"type": "tmpfs", "source": "/a", "target": "/b"}}, "takes no source"},
		{"labels type", map[string]any{"image": "x", "labels": map[string]any{"a": 1.0}}, "labels.a: want a string"},
		{"reserved label", map[string]any{"image": "x", "labels": map[string]any{"com.orch.node_id": "n"}}, "reserved prefix"},
		{"extra host", map[string]any{"image": "x", "extra_hosts": []any{"nohost"}}, "extra_hosts"},
		{"dns", map[string]any{"image": "x", "dns_servers": []any{"dns.example"}}, "not an IP address"},
		{"timeout", map[string]any{"image": "x", "image_pull_timeout": "soon"}, "image_pull_timeout"},
		{"timeout type", map[string]any{"image": "x", "image_pull_timeout": 5.0}, "image_pull_timeout: want a string"},
		{"pids fraction", map[string]any{"image": "x", "pids_limit": 1.5}, "pids_limit: want an integer"},
		{"bool type", map[string]any{"image": "x", "force_pull": "yes"}, "force_pull: want a bool"},
		{"work_dir", map[string]any{"image": "x", "work_dir": "rel"}, "absolute"},
		{"duplicate port", map[string]any{"image": "x", "ports": []any{"a", "a"}}, "listed twice"},
		{"two auth", map[string]any{"image": "x", "auth": []any{map[string]any{}, map[string]any{}}}, "at most one"},
	}
	d := &Driver{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := d.ValidateConfig(tc.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ValidateConfig = %v, want error containing %q", err, tc.want)
			}
		})
	}
	// Several problems are reported together.
	err := d.ValidateConfig(map[string]any{"args": 1.0, "bogus": true})
	if err == nil || !strings.Contains(err.Error(), "image is required") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("ValidateConfig = %v", err)
	}
	// The operator can allow privileged containers.
	if err := (&Driver{cfg: Config{AllowPrivileged: true}}).ValidateConfig(map[string]any{"image": "x", "privileged": true}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigSpecDecodesHCL(t *testing.T) {
	src := `
image   = "busybox:1.36"
args    = ["-c", "echo hi"]
ports   = ["http"]
labels  = { team = "web" }
mount {
  type   = "tmpfs"
  target = "/scratch"
}
auth {
  username = "u"
}
`
	f, diags := hclsyntax.ParseConfig([]byte(src), "job.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	d := &Driver{}
	v, diags := hcldec.Decode(f.Body, d.ConfigSpec(), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if v.GetAttr("image").AsString() != "busybox:1.36" || v.GetAttr("mount").LengthInt() != 1 {
		t.Fatalf("decoded %#v", v)
	}

	bad := `
image = "x"
imagee = "y"
`
	f, _ = hclsyntax.ParseConfig([]byte(bad), "job.hcl", hcl.InitialPos)
	_, diags = hcldec.Decode(f.Body, d.ConfigSpec(), nil)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "job.hcl:3") {
		t.Fatalf("unknown attribute not reported with its position: %v", diags)
	}
	f, _ = hclsyntax.ParseConfig([]byte(`command = "x"`), "job.hcl", hcl.InitialPos)
	if _, diags = hcldec.Decode(f.Body, d.ConfigSpec(), nil); !diags.HasErrors() {
		t.Fatal("missing image not reported")
	}
}

func TestMemoryOversubscription(t *testing.T) {
	task := &drivers.TaskConfig{Resources: &structs.AllocatedTaskResources{
		Memory: structs.AllocatedMemoryResources{MemoryMB: 100, MemoryMaxMB: 300},
	}}
	spec, err := (&Driver{}).buildContainerSpec(task, &taskConfig{Image: "x"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	r := spec.host.Resources
	if r.Memory != 300<<20 || r.MemoryReservation != 100<<20 || r.MemorySwap != r.Memory {
		t.Fatalf("resources = %+v", r)
	}
}

func TestContainerName(t *testing.T) {
	got := containerName(&drivers.TaskConfig{Name: "web server/1", AllocID: "abc"})
	if got != "web_server_1-abc" {
		t.Fatalf("name = %q", got)
	}
}

func TestPullErrorClassification(t *testing.T) {
	err := pullError(t.Context(), "r/x:1", time.Minute, errString("Get \"https://r/v2/\": dial tcp: lookup r: no such host"))
	if !strings.Contains(err.Error(), "pulling image r/x:1: registry unreachable:") {
		t.Fatal(err)
	}
	err = pullError(t.Context(), "r/x:1", time.Minute, errString("manifest for r/x:1 not found"))
	if strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "pulling image r/x:1: manifest") {
		t.Fatal(err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestConfigFromOptions(t *testing.T) {
	c, err := ConfigFromOptions(map[string]string{
		OptionEndpoint: "unix:///run/docker.sock", OptionPrivileged: "true", OptionPullTimeout: "2m",
	})
	if err != nil || c.Endpoint != "unix:///run/docker.sock" || !c.AllowPrivileged || c.PullTimeout != 2*time.Minute {
		t.Fatalf("ConfigFromOptions = %+v, %v", c, err)
	}
	if _, err := ConfigFromOptions(map[string]string{OptionPrivileged: "maybe"}); err == nil {
		t.Fatal("bad bool accepted")
	}
	if _, err := ConfigFromOptions(map[string]string{OptionPullTimeout: "-1s"}); err == nil {
		t.Fatal("negative timeout accepted")
	}
}
